"""Run records (jsonl store), the long and wide tables, and provenance."""
