"""The on-disk cache of features and targets: named arrays per entry, memory-mapped when read,
written atomically, and evicted least recently used first once the cache outgrows its cap.

Layout: ``<root>/entries/<key>/meta.json`` beside one ``<name>.npy`` per array. An entry is written
in a hidden ``.tmp-*`` sibling and renamed into place whole (after an fsync), so a reader finds a
complete entry or none: an interrupted write leaves only a temporary folder, which no lookup ever
reads and eviction or `clear` removes. The mtime of meta.json is the entry's last use.

meta.json, written last, holds a blake2b checksum of each array file; a read checks them all, so
bytes changed on disk (a bad sector, a stray write) are a warning and a miss, never quiet numbers.
blake2b runs ~1 GB/s per core on any CPU (no hardware extension needed), and 64 MiB blocks are
hashed on parallel threads, so checking is small beside the forward that made the entry.
"""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from farl_bench.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_MAX_GB = 50.0
#: Bumped whenever what an entry holds changes meaning, so old entries are never read as new ones.
FORMAT = 1
ENTRIES = "entries"
TMP_PREFIX = ".tmp-"
#: A temporary folder untouched for this long belongs to a write that died: eviction removes it.
STALE_TMP_S = 24 * 3600
#: Bytes per block of an array file's checksum (blocks are hashed in parallel).
CHECKSUM_BLOCK = 64 << 20


def default_root() -> Path:
    """$FARL_BENCH_CACHE, else ~/.cache/farl_bench (read at call time, so tests can point it elsewhere)."""
    return Path(os.environ.get("FARL_BENCH_CACHE", "~/.cache/farl_bench")).expanduser()


def entry_key(parts: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of everything the entry's contents depend on."""
    blob = json.dumps({"format": FORMAT, **parts}, sort_keys=True, default=_jsonable)
    return hashlib.sha256(blob.encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


@dataclass(frozen=True)
class Entry:
    key: str
    path: Path
    size: int          # bytes on disk
    last_used: float   # unix seconds
    meta: dict[str, Any]


class EntryWriter:
    """Fills the arrays of one entry row block by row block (`put`), into memory-mapped files."""

    def __init__(self, folder: Path, rows: int):
        self.folder, self.rows = folder, rows
        self.arrays: dict[str, np.memmap] = {}

    def put(self, name: str, start: int, values: np.ndarray, dtype: np.dtype | type | None = None) -> None:
        """Write `values` (n x ...) at rows start..start+n of array `name`, created on first use with
        `rows` rows and `dtype` (default: the values' own)."""
        if name not in self.arrays:
            path = self.folder / f"{name}.npy"
            self.arrays[name] = np.lib.format.open_memmap(path, mode="w+", dtype=dtype or values.dtype,
                                                          shape=(self.rows, *values.shape[1:]))
            _reserve(path)
        self.arrays[name][start:start + len(values)] = values

    def widen(self, name: str, dtype: np.dtype | type) -> None:
        """Re-create array `name` in a wider dtype, keeping the rows written so far."""
        kept = np.array(self.arrays.pop(name))  # into memory: the file is about to be re-created
        self.put(name, 0, kept, dtype)

    def close(self) -> tuple[dict[str, list], dict[str, str]]:
        """Flush every array to disk; returns ({name: [shape, dtype]}, {name: checksum of its file})."""
        shapes, checksums = {}, {}
        for name, array in self.arrays.items():
            array.flush()
            shapes[name] = [list(array.shape), str(array.dtype)]
            with open(array.filename, "rb") as f:
                os.fsync(f.fileno())
            checksums[name] = checksum(Path(array.filename))
        self.arrays.clear()
        return shapes, checksums


class FeatureStore:
    """Entries under `root`, at most `max_bytes` in all (the entry just written always stays)."""

    def __init__(self, root: Path | None = None, max_bytes: int = int(DEFAULT_MAX_GB * 2**30)):
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.max_bytes = max_bytes

    @property
    def _entries(self) -> Path:
        return self.root / ENTRIES

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The entry's arrays, memory-mapped copy-on-write (writes never reach the file), each file
        checked against its checksum; None on a miss. Marks the entry used."""
        folder = self._entries / key
        try:
            meta = json.loads((folder / "meta.json").read_text())
        except FileNotFoundError:  # never written, or evicted by another process just now
            return None
        except (OSError, ValueError) as err:
            return _unreadable(folder, err)
        try:
            checksums = meta.get("checksums")
            if checksums is None:
                return _unreadable(folder, "no checksums: written by an older farl-bench")
            arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="c") for name in meta["arrays"]}
            for name, (shape, _) in meta["arrays"].items():
                if list(arrays[name].shape) != shape:
                    return _unreadable(folder, f"{name}.npy has shape {arrays[name].shape}, meta says {shape}")
                if checksum(folder / f"{name}.npy") != checksums[name]:
                    return _unreadable(folder, f"{name}.npy does not match its checksum: changed on disk")
        except (OSError, ValueError, KeyError) as err:
            return _unreadable(folder, err)
        try:
            os.utime(folder / "meta.json")
        except OSError:  # a read-only cache is still read; it just keeps its LRU order
            pass
        return arrays

    def entry_id(self, key: str) -> str | None:
        """What tells this entry from any other ever written under its key (None: no entry; "" for
        one without an id or unreadable), so `write(replace=...)` replaces exactly the entry seen."""
        folder = self._entries / key
        try:
            return json.loads((folder / "meta.json").read_text()).get("id", "")
        except FileNotFoundError:
            return "" if folder.is_dir() else None
        except (OSError, ValueError, AttributeError):
            return ""

    @contextmanager
    def write(self, key: str, rows: int, meta: Mapping[str, Any], replace: str | None = None
              ) -> Iterator[EntryWriter]:
        """Fill a new entry of `rows` rows; it appears (atomically) when the block exits without error.
        If the key holds an entry, it is kept (another process published the same features
        meanwhile) unless its `entry_id` is `replace`: an entry made before and now made again."""
        try:
            self._entries.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"feature cache {self.root} cannot be created ({err.strerror}); pass "
                            "--cache-dir DIR on a writable disk") from None
        tmp = self._entries / f"{TMP_PREFIX}{key[:16]}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            writer = EntryWriter(tmp, rows)
            yield writer
            shapes, checksums = writer.close()
            full = {**meta, "key": key, "rows": rows, "arrays": shapes, "checksums": checksums,
                    "id": uuid.uuid4().hex, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
            with open(tmp / "meta.json", "w") as f:
                json.dump(full, f, indent=1, default=_jsonable)
                f.flush()
                os.fsync(f.fileno())
            self._publish(tmp, key, replace)
        except BaseException as err:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
                raise UserError(f"feature cache {self.root}: cannot write ({err.strerror}); free space there, or "
                                "pass --cache-dir DIR on another disk or a smaller --cache-size-gb") from None
            raise
        self.evict(keep=key)

    def _publish(self, tmp: Path, key: str, replace: str | None) -> None:
        final = self._entries / key
        try:
            tmp.rename(final)
            return
        except OSError:  # the key exists
            pass
        if replace is not None and self.entry_id(key) == replace:
            _remove(final)
            try:
                tmp.rename(final)
                return
            except OSError:  # another process published between the two renames
                pass
        shutil.rmtree(tmp, ignore_errors=True)  # a parallel run wrote the same features first: theirs stays

    def entries(self) -> list[Entry]:
        """Complete entries, least recently used first."""
        found = []
        if not self._entries.is_dir():
            return found
        for folder in self._entries.iterdir():
            if folder.name.startswith(TMP_PREFIX):
                continue
            try:
                meta_path = folder / "meta.json"
                meta = json.loads(meta_path.read_text())
                found.append(Entry(folder.name, folder, _size(folder), meta_path.stat().st_mtime, meta))
            except (OSError, ValueError):
                continue  # removed meanwhile by another process
        return sorted(found, key=lambda e: e.last_used)

    def evict(self, keep: str | None = None) -> list[Entry]:
        """Remove least recently used entries (never `keep`) until the cache fits its cap, and
        temporary folders of writes that died; returns the entries removed."""
        self._remove_stale_tmp()
        entries = self.entries()
        total = sum(e.size for e in entries)
        removed = []
        for entry in entries:
            if total <= self.max_bytes:
                break
            if entry.key == keep:
                continue
            _remove(entry.path)
            total -= entry.size
            removed.append(entry)
        if removed:
            log.info("feature cache: evicted %d least recently used entr%s (%.1f GB) to stay under %.1f GB",
                     len(removed), "y" if len(removed) == 1 else "ies", sum(e.size for e in removed) / 1e9,
                     self.max_bytes / 1e9)
        return removed

    def clear(self) -> tuple[int, int]:
        """Remove every entry and temporary folder; returns (entries removed, bytes freed)."""
        entries = self.entries()
        if self._entries.is_dir():
            for folder in self._entries.iterdir():
                if folder.name.startswith(TMP_PREFIX):
                    _remove(folder)
        for entry in entries:
            _remove(entry.path)
        return len(entries), sum(e.size for e in entries)

    def _remove_stale_tmp(self) -> None:
        if not self._entries.is_dir():
            return
        now = time.time()
        for folder in self._entries.iterdir():
            if folder.name.startswith(TMP_PREFIX) and now - _newest_mtime(folder) > STALE_TMP_S:
                _remove(folder)


def _unreadable(folder: Path, why: object) -> None:
    """A corrupt entry (torn write, disk error, changed bytes): removed, so the caller computes it again."""
    log.warning("feature cache entry %s cannot be used (%s): removed, computing it again", folder, why)
    _remove(folder)
    return None


def checksum(path: Path) -> str:
    """blake2b over the blake2b digests of the file's CHECKSUM_BLOCK-byte blocks, hashed on parallel
    threads (hashlib and file reads release the GIL): a dense entry of many GB is checked at the
    speed of every core, not of one."""
    starts = range(0, max(os.path.getsize(path), 1), CHECKSUM_BLOCK)
    if len(starts) == 1:
        digests = [_block_digest(path, 0)]
    else:
        with ThreadPoolExecutor(min(len(starts), os.cpu_count() or 1)) as pool:
            digests = list(pool.map(lambda start: _block_digest(path, start), starts))
    return hashlib.blake2b(b"".join(digests), digest_size=16).hexdigest()


def _block_digest(path: Path, start: int) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    buffer = memoryview(bytearray(1 << 20))
    with open(path, "rb") as f:
        f.seek(start)
        left = CHECKSUM_BLOCK
        while left and (n := f.readinto(buffer[:min(left, len(buffer))])):
            digest.update(buffer[:n])
            left -= n
    return digest.digest()


def _reserve(path: Path) -> None:
    """Allocate the file's blocks now: a memory-mapped write to a full disk kills the process (SIGBUS)
    with no message, where this fails with one."""
    if not hasattr(os, "posix_fallocate"):  # macOS, Windows: sparse files, as numpy leaves them
        return
    try:
        with open(path, "r+b") as f:
            os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            return  # a filesystem that cannot preallocate (EOPNOTSUPP): written sparse, as before
        raise UserError(f"feature cache: no room for {os.path.getsize(path) / 1e9:.2f} GB at {path} "
                        f"({err.strerror}); free space there, or pass --cache-dir DIR on a larger disk") from None


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir())


def _newest_mtime(folder: Path) -> float:
    try:
        return max([folder.stat().st_mtime, *(p.stat().st_mtime for p in folder.iterdir())])
    except OSError:
        return time.time()


def _remove(folder: Path) -> None:
    """Rename away first, so no reader ever sees a half-deleted entry, then delete."""
    trash = folder.with_name(f"{TMP_PREFIX}rm-{uuid.uuid4().hex[:8]}")
    try:
        folder.rename(trash)
    except OSError:
        return  # already gone
    shutil.rmtree(trash, ignore_errors=True)
