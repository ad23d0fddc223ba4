"""`runs.jsonl`: one JSON record per finished cell, appended under a file lock, one write per line;
and the atomic write every other file under results/ goes through.

Many processes (shards, torchrun's main process, separate runs) may share one results folder: the
lock serialises appends and table writes, and a record is the last thing a cell writes, so a cell
killed at any point is simply not recorded and runs again on resume.
"""
from __future__ import annotations

import errno
import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from filelock import FileLock

from farl_bench.errors import UserError

log = logging.getLogger(__name__)

RUNS_FILE = "runs.jsonl"


def runs_path(results: Path) -> Path:
    return results / RUNS_FILE


def _cannot_write(results: Path, err: OSError) -> UserError:
    return UserError(f"cannot write results to {results}: {err.strerror}; free space or fix permissions there, "
                     "or choose another --results")


@contextmanager
def locked(results: Path) -> Iterator[None]:
    """Hold the results folder's lock (appends wait): what is read and written meanwhile is consistent.
    The kernel drops the lock of a killed process, so a crash never leaves the folder locked."""
    if results.exists() and not results.is_dir():
        raise UserError(f"--results {results} is a file, not a folder: choose another --results")
    try:
        results.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(runs_path(results)) + ".lock")
        lock.acquire()
    except OSError as err:
        raise _cannot_write(results, err) from None
    try:
        yield
    finally:
        lock.release()


def check_writable(results: Path) -> None:
    """Fail before any work when records could not be written (read-only or missing permission)."""
    with locked(results):
        pass


def append_record(results: Path, record: dict[str, Any]) -> None:
    """Append one record atomically: the whole line in one write, fsynced, under the lock. A write
    that fails or falls short (disk full) is cut off again, so no partial line stays behind."""
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    with locked(results):
        try:
            fd = os.open(runs_path(results), os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as err:
            raise _cannot_write(results, err) from None
        try:
            _drop_torn_tail(fd, runs_path(results))
            start = os.fstat(fd).st_size
            try:
                if os.write(fd, line) != len(line):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                os.fsync(fd)
            except OSError as err:
                os.ftruncate(fd, start)
                raise _cannot_write(results, err) from None
        finally:
            os.close(fd)


def _drop_torn_tail(fd: int, path: Path, chunk: int = 1 << 16) -> None:
    """Cut a torn last line (a crash mid-write on a filesystem that tears writes) before appending,
    so the new record starts on a line of its own instead of gluing onto the fragment."""
    end = size = os.fstat(fd).st_size
    if not size or os.pread(fd, 1, size - 1) == b"\n":
        return
    while end > 0:
        start = max(0, end - chunk)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            end = start + newline + 1
            break
        end = start
    log.warning("%s: dropping a torn last line (%d bytes) left by an interrupted write", path, size - end)
    os.ftruncate(fd, end)


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
        raise UserError(f"cannot write {path}: {err.strerror}; free space or fix permissions there") from None
