"""`runs.jsonl`: one JSON record per finished cell, appended under a file lock, one write per line;
and the atomic write every other file under results/ goes through."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Iterator

from filelock import FileLock

from farl_bench.errors import UserError

log = logging.getLogger(__name__)

RUNS_FILE = "runs.jsonl"


def runs_path(results: Path) -> Path:
    return results / RUNS_FILE


def append_record(results: Path, record: dict[str, Any]) -> None:
    """Append one record atomically: the whole line in one write, flushed and fsynced, under a lock."""
    try:
        results.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        with FileLock(str(runs_path(results)) + ".lock"):
            fd = os.open(runs_path(results), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
    except OSError as err:
        raise UserError(f"cannot write results to {results}: {err.strerror}; choose another --results") from None


def iter_records(results: Path) -> Iterator[dict[str, Any]]:
    """Records in file order. A torn last line (a crash mid-write) is skipped with a warning."""
    path = runs_path(results)
    if not path.exists():
        return
    lines = path.read_bytes().splitlines()
    for no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            if no == len(lines):
                log.warning("%s: last line is torn (interrupted write); ignoring it", path)
            else:
                raise UserError(f"{path}:{no} is not a JSON record; the file was edited or corrupted") from None


def recorded_keys(results: Path) -> set[str]:
    return {r["key"] for r in iter_records(results)}


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write beside the target and rename over it, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {err.strerror}") from None
