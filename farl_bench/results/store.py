"""The results folder: the one owner of its layout and of every write into it.

    runs.jsonl                          one RunRecord per line, appended under a lock
    splits/<task>/<budget>-<seed>.txt   the training ids of a draw (sha256: the split fingerprint)
    bootstrap/<key>.npz                 a run's bootstrap replicates
    examples/<key>.npz                  a dense run's example predictions
    predictions/<key>.jsonl.gz          a run's test predictions in `farl-bench score`'s format (--save-predictions)
    draws.csv, results.csv, leaderboard.csv, leaderboard.md    tables, rewritten from runs.jsonl

Many processes (shards, torchrun's main process, separate runs) may share one folder. Writers hold an
exclusive `flock` on runs.jsonl itself: no lock file is ever made (so none is left behind), the
kernel drops the lock of a killed process (so a crash never leaves the folder locked), and on NFS,
where Linux turns flock into a whole-file POSIX lock, it still works because the file is open for
writing. (filelock's locks are not used: its soft fallback writes into the locked file, and 3.x
truncates it.) A waiter checks after locking that the path still names the file it locked, so the
file may be replaced (merge) or removed (a failed first write) under the lock.

A record is written together with its side files under the lock, and only if its cell key is not
there yet: a cell killed at any point, or one that fails, leaves nothing; two identical cells at once
leave one record. A failed write is undone: the runs file cut back, side files and folders it
created removed.
"""
from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import secrets
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from pydantic import ValidationError

from farl_bench.errors import UserError
from farl_bench.results.record import RunRecord

log = logging.getLogger(__name__)

RUNS_FILE = "runs.jsonl"
SPLITS_DIR = "splits"
BOOTSTRAP_DIR = "bootstrap"
EXAMPLES_DIR = "examples"
PREDICTIONS_DIR = "predictions"
DRAWS_CSV = "draws.csv"
LONG_CSV = "results.csv"
WIDE_CSV = "leaderboard.csv"
MARKDOWN = "leaderboard.md"

#: Side file contents: bytes, or a file to copy them from (merge).
SideFiles = dict[str, "bytes | Path"]


def runs_path(results: Path) -> Path:
    return results / RUNS_FILE


def manifest_file(task: str, budget: str, seed: int) -> str:
    """A draw's manifest, relative to the results folder (as records hold it)."""
    return f"{SPLITS_DIR}/{task}/{budget}-{seed}.txt"


def bootstrap_file(key: str) -> str:
    return f"{BOOTSTRAP_DIR}/{key}.npz"


def examples_file(key: str) -> str:
    return f"{EXAMPLES_DIR}/{key}.npz"


def predictions_file(key: str) -> str:
    return f"{PREDICTIONS_DIR}/{key}.jsonl.gz"


def table_path(results: Path, name: str) -> Path:
    """One of the tables (DRAWS_CSV, LONG_CSV, WIDE_CSV, MARKDOWN) of a results folder."""
    return results / name


def _cannot_write(results: Path, err: OSError) -> UserError:
    return UserError(f"cannot write results to {results}: {err.strerror}; free space or fix permissions there, "
                     "or choose another --results")


def _refuse_a_file(results: Path) -> None:
    if results.exists() and not results.is_dir():
        raise UserError(f"--results {results} is a file, not a folder: choose another --results")


def check_writable(results: Path) -> None:
    """Fail before any work when records could not be written (read-only, missing permission),
    creating nothing: the folder is made by the first record."""
    _refuse_a_file(results)
    try:
        if runs_path(results).exists():
            os.close(os.open(runs_path(results), os.O_WRONLY | os.O_APPEND))
            return
        existing = next(p for p in (results, *results.parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise OSError(errno.EACCES, os.strerror(errno.EACCES))
    except OSError as err:
        raise _cannot_write(results, err) from None


def _make_dirs(folder: Path) -> list[Path]:
    """mkdir -p; the folders it made, outermost first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


@dataclass
class _Undo:
    """What a write made, so that a failed write can take it back."""

    folders: list[Path] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    replaced: dict[Path, bytes] = field(default_factory=dict)

    def __call__(self) -> None:
        for path in self.files:
            path.unlink(missing_ok=True)
        for path, old in self.replaced.items():
            write_atomic(path, old)
        for folder in reversed(self.folders):
            try:
                folder.rmdir()
            except OSError:
                pass  # another writer put something there meanwhile: it stays


def _open_locked(results: Path, create: bool, undo: _Undo) -> int | None:
    """runs.jsonl opened for appending under the exclusive lock (None: it does not exist and not
    `create`). If we create it, it goes into `undo`."""
    path = runs_path(results)
    while True:
        made = False
        try:
            if create:
                undo.folders += _make_dirs(results)
                try:
                    fd, made = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644), True
                except FileExistsError:
                    fd = os.open(path, os.O_RDWR | os.O_APPEND)
            else:
                fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            if not create:
                return None
            continue  # removed between our two opens: try again
        except OSError as err:
            raise _cannot_write(results, err) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                if made:
                    undo.files.append(path)
                return fd
        except FileNotFoundError:
            pass  # removed while we waited
        except OSError as err:  # no locks on this filesystem
            os.close(fd)
            raise _cannot_write(results, err) from None
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # replaced while we waited: lock the new file


@contextmanager
def _locked(results: Path, create: bool = True) -> Iterator[tuple[int | None, _Undo]]:
    """(fd of runs.jsonl under the lock, the undo of what is made meanwhile); closing drops the lock."""
    _refuse_a_file(results)
    undo = _Undo()
    fd = _open_locked(results, create, undo)
    try:
        yield fd, undo
    finally:
        if fd is not None:
            os.close(fd)


def _read(fd: int) -> bytes:
    """The whole file through the locked descriptor (never a second one: on NFS closing any other
    descriptor of the file would drop the lock)."""
    size = os.fstat(fd).st_size
    data = os.pread(fd, size, 0) if size else b""
    while len(data) < size:
        data += os.pread(fd, size - len(data), len(data))
    return data


def _parse(data: bytes, path: Path) -> Iterator[RunRecord]:
    """Records in file order. A last line that does not parse (a crash mid-write) is skipped with a
    warning; any other bad line is an error naming it."""
    lines = data.splitlines()
    for no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
        except json.JSONDecodeError:
            if no == len(lines):
                log.warning("%s: last line is torn (interrupted write); ignoring it", path)
                continue
            raise UserError(f"{path}:{no} is not a JSON record; the file was edited or corrupted") from None
        try:
            yield RunRecord.model_validate(fields)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(map(str, first["loc"]))
            raise UserError(f"{path}:{no} is not a run record ({where}: {first['msg']}); the file was edited "
                            "or corrupted") from None


def _keys(data: bytes) -> set[str]:
    """The cell keys in the runs file (a torn last line has none)."""
    keys = set()
    for line in data.splitlines():
        try:
            keys.add(json.loads(line)["key"])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a torn line, or one that reading the records will name
    return keys


def iter_records(results: Path) -> Iterator[RunRecord]:
    """The records of a results folder in file order (none when it has no runs file)."""
    path = runs_path(results)
    if path.is_file():
        yield from _parse(path.read_bytes(), path)


def recorded_keys(results: Path) -> set[str]:
    return {r.key for r in iter_records(results)}


@contextmanager
def locked_records(results: Path) -> Iterator[list[RunRecord]]:
    """The records, read under the lock, held until the block ends: what is written meanwhile (the
    tables) is never older than a record another process appended."""
    with _locked(results, create=False) as (fd, _):
        yield [] if fd is None else list(_parse(_read(fd), runs_path(results)))


def _repair_tail(fd: int, data: bytes, path: Path) -> None:
    """Make the file end with a newline before appending: a complete last record that lost its
    newline gets it back; a last line that does not parse (a torn write) is cut off, with a warning."""
    if not data or data.endswith(b"\n"):
        return
    start = data.rfind(b"\n") + 1
    try:
        json.loads(data[start:])
    except json.JSONDecodeError:
        log.warning("%s: dropping a torn last line (%d bytes) left by an interrupted write", path,
                    len(data) - start)
        os.ftruncate(fd, start)
        return
    _write_all(fd, b"\n")


def _write_all(fd: int, data: bytes) -> None:
    if os.write(fd, data) != len(data):  # a short write: the disk filled up
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _write_side_file(path: Path, content: bytes | Path, undo: _Undo) -> None:
    try:
        data = content.read_bytes() if isinstance(content, Path) else content
    except OSError as err:
        raise UserError(f"cannot read {content}: {err.strerror}; fix its permissions or leave that folder out") from None
    if path.exists():
        old = path.read_bytes()
        if old == data:
            return
        undo.replaced[path] = old
    else:
        undo.files.append(path)
        undo.folders += _make_dirs(path.parent)
    write_atomic(path, data)


def append_records(results: Path, entries: Iterable[tuple[RunRecord, SideFiles]], once: bool = True
                   ) -> list[RunRecord]:
    """Write each record with its side files ({path relative to `results`: content}), all or none:
    side files first, then every record line in one fsynced write, all under the lock. With `once`,
    a record whose cell key is there already is not written (nor are its side files), and neither
    is a second record of one key. Returns the records written."""
    with _locked(results) as (fd, undo):
        try:
            data = _read(fd)
            have = _keys(data) if once else set()
            written = []
            for record, side_files in entries:
                if record.key in have:
                    continue
                for relative, content in side_files.items():
                    _write_side_file(results / relative, content, undo)
                written.append(record)
                have.add(record.key)
            if written:
                _repair_tail(fd, data, runs_path(results))
                start = os.fstat(fd).st_size
                try:
                    _write_all(fd, "".join(r.to_json() + "\n" for r in written).encode())
                    os.fsync(fd)
                except BaseException:
                    os.ftruncate(fd, start)
                    raise
            elif not data:
                undo()  # nothing to write: a runs file or folder made just now goes again
            return written
        except OSError as err:
            undo()
            raise _cannot_write(results, err) from None
        except BaseException:
            undo()
            raise


def append_record(results: Path, record: RunRecord, side_files: SideFiles | None = None, once: bool = True) -> bool:
    """`append_records` of one record; False when its cell key was there already (`once`)."""
    return bool(append_records(results, [(record, side_files or {})], once))


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write beside the target, fsync, and rename over it, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {err.strerror}; free space or fix permissions there") from None
