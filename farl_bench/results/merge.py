"""Merging results folders (shards run without a shared filesystem, several machines) by cell key."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from farl_bench.errors import UserError
from farl_bench.results.store import (append_record, check_writable, iter_records, recorded_keys, runs_path,
                                      write_atomic)


def side_files(record: dict[str, Any]) -> list[str]:
    """The files beside runs.jsonl a record points at, relative to its results folder."""
    bootstrap = (record.get("bootstrap") or {}).get("file")
    return [p for p in (bootstrap, record.get("examples"), record.get("split_manifest")) if p]


def merge(sources: list[Path], target: Path) -> tuple[int, int]:
    """Copy into `target` every record of `sources` whose cell key it lacks, with its side files
    (copied before the record is appended, so a record never points at a missing file).
    Returns (records added, records already there)."""
    check_writable(target)
    have = recorded_keys(target)
    added = skipped = 0
    for source in sources:
        if not runs_path(source).is_file() or source.resolve() == target.resolve():
            raise UserError(f"merge source {source} holds no {runs_path(source).name}, or is --into {target} "
                            "itself: give results folders to merge from")
        for record in iter_records(source):
            if record["key"] in have:
                skipped += 1
                continue
            for relative in side_files(record):
                if (source / relative).is_file() and not (target / relative).exists():
                    write_atomic(target / relative, (source / relative).read_bytes())
            append_record(target, record)
            have.add(record["key"])
            added += 1
    return added, skipped
