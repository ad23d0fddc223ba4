"""Run records (jsonl store) and their side files, statistics over draws, the long and wide tables,
the regression gate (compare), the HTML report, and provenance."""
