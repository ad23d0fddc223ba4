"""Merging results folders (shards run without a shared filesystem, several machines) by cell key."""
from __future__ import annotations

from pathlib import Path

from farl_bench.errors import UserError
from farl_bench.results.record import RunRecord
from farl_bench.results.store import SideFiles, append_records, iter_records, runs_path


def merge(sources: list[Path], target: Path) -> tuple[int, int]:
    """Copy into `target` every record of `sources` whose cell key it lacks, with its side files.
    All or nothing: every source is read and checked before anything is written, and the write
    itself is undone if it fails. Returns (records added, records already there)."""
    entries: list[tuple[RunRecord, SideFiles]] = []
    for source in sources:
        if not runs_path(source).is_file() or source.resolve() == target.resolve():
            raise UserError(f"merge source {source} holds no {runs_path(source).name}, or is --into {target} "
                            "itself: give results folders to merge from")
        entries += [(record, {p: source / p for p in record.side_files() if (source / p).is_file()})
                    for record in iter_records(source)]
    added = append_records(target, entries)
    return len(added), len(entries) - len(added)
