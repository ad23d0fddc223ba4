"""Frozen features of whole splits, computed once per backbone, crop and data and kept in the disk
cache (engine.cache) across protocols, fractions, seeds and runs; train targets beside them."""
from __future__ import annotations

import dataclasses
import hashlib
import os
from contextlib import ExitStack
from dataclasses import asdict
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.data.samples import FaceSamples
from farl_bench.engine.cache import EntryWriter, FeatureStore, entry_key
from farl_bench.engine.precision import FrozenForward
from farl_bench.errors import UserError
from farl_bench.families import Family
from farl_bench.tasks import CropSpec

#: Features are stored in fp16 (half the bytes, cosine > 0.9999 to fp32); an array with values
#: beyond fp16's range is stored in fp32 instead (some ViTs' un-normalised levels reach 1e4+).
FP16_MAX = float(np.finfo(np.float16).max)


def default_workers(device: str) -> int:
    """Data-loading processes when none are asked for: none on a CPU, whose cores the forward
    already uses (decoding costs < 10% of a forward there: benchmarks P3); on a GPU, every core but
    one, at most 8, so decoding keeps up with the device."""
    return max(1, min(8, (os.cpu_count() or 2) - 1)) if device.startswith("cuda") else 0


def records_digest(records: Sequence[FaceRecord]) -> str:
    """sha256 over the records in order: every field (ids, boxes and landmarks that decide crops,
    labels), and the size and mtime of each image and mask file, so a changed file is a new digest."""
    digest = hashlib.sha256()
    for record in records:
        for f in dataclasses.fields(record):
            value = getattr(record, f.name)
            if isinstance(value, np.ndarray):
                digest.update(f"{value.dtype}{value.shape}".encode() + np.ascontiguousarray(value).tobytes())
            elif isinstance(value, os.PathLike):
                digest.update(f"{value}|{_stat(value)}".encode())
            elif isinstance(value, frozenset):
                digest.update(repr(sorted(value)).encode())
            else:
                digest.update(repr(value).encode())
            digest.update(b"\0")
    return digest.hexdigest()


def _stat(path: os.PathLike) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "missing"  # reading the image reports it, naming the file
    return f"{st.st_size}:{st.st_mtime_ns}"


class FeatureCache:
    """Per split of one (backbone, task): the features of every record, and the train targets when
    asked, read from the store or computed in one pass over the split and stored. Subsets are row
    lookups; the full split comes back memory-mapped, without a copy.

    `arrays` names what is stored: "pooled" (N x D) and/or "level<i>" (Features.levels[i], N x C x h x w,
    i < 0 counting from the last). Default: the last level for dense families, else pooled.
    `targets_id` says what decides the targets besides the records and crop (the family and its
    options). Features come back as fp16 (or fp32) tensors, targets in their own dtype.
    `refresh` (`run --force`): every entry this cache asks for is computed again and replaces the
    stored one, once; later asks read the new one.
    """

    def __init__(self, store: FeatureStore, forward: FrozenForward, data: DatasetSplits, crop: CropSpec,
                 family: Family, targets_id: Mapping[str, Any], batch_size: int = 64, workers: int = 0,
                 progress: Callable[[str, int], Callable[[int], None]] = lambda d, n: (lambda k: None),
                 label: str = "", arrays: Sequence[str] | None = None, refresh: bool = False):
        self.store, self.forward, self.data, self.crop, self.family = store, forward, data, crop, family
        self.targets_id, self.batch_size, self.workers, self.progress, self.label = (targets_id, batch_size,
                                                                                     workers, progress, label)
        self.arrays = tuple(arrays or (("level-1",) if family.dense else ("pooled",)))
        self._keys: dict[tuple[str, str], str] = {}  # (kind, split) -> entry key; the splits never change
        self._rows: dict[str, dict[str, int]] = {}
        self._loaded: dict[str, dict[str, np.ndarray]] = {}
        self.refresh = refresh
        self._stale: dict[str, str | None] = {}  # key -> id of the entry a refresh replaces

    def get(self, split: str, records: Sequence[FaceRecord], targets: bool = False
            ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(the first stored array of `records`, N x ..., their train targets or None)."""
        arrays, y = self.get_all(split, records, targets)
        return arrays[self.arrays[0]], y

    def get_all(self, split: str, records: Sequence[FaceRecord], targets: bool = False
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """({array name: rows of `records`}, their train targets or None)."""
        fkey, tkey = self.feature_key(split), self.target_key(split)
        missing = [k for k in (fkey, *([tkey] if targets else [])) if self._load(k) is None]
        if missing:
            self._compute(split, fkey in missing, tkey in missing)
        rows = self._row_index(split, records)
        arrays = {name: _take(self._loaded[fkey][name], rows) for name in self.arrays}
        return arrays, (_take(self._loaded[tkey]["targets"], rows) if targets else None)

    def feature_key(self, split: str) -> str:
        """Backbone identity and spec, preprocessing, crop, layers and stored arrays, precision, the
        split's records (files and annotations); no augmentation ever reaches the cache."""
        backbone = self.forward.backbone
        return self._key("features", split, {
            "backbone": backbone.fingerprint, "spec": backbone.spec, "preprocess": asdict(backbone.preprocess),
            "layers": backbone.layers, "arrays": self.arrays, "precision": self.forward.precision})

    def target_key(self, split: str) -> str:
        """The family and its options, the dataset meta, input size, crop and the split's records."""
        return self._key("targets", split, {"family": self.targets_id, "meta": self.data.meta,
                                            "input_size": self.forward.backbone.preprocess.input_size})

    def _key(self, kind: str, split: str, parts: dict[str, Any]) -> str:
        """Made once per (kind, split): the records are hashed file by file, and the splits never change."""
        if (kind, split) not in self._keys:
            self._keys[kind, split] = entry_key({
                "kind": kind, **parts, "crop": self.crop.model_dump(),
                "alignment_points": self.data.meta.get("alignment_points"),
                "records": records_digest(self.data.splits[split]), "augmentation": "none"})
        return self._keys[kind, split]

    def _load(self, key: str) -> dict[str, np.ndarray] | None:
        if self.refresh and key not in self._loaded and key not in self._stale:
            self._stale[key] = self.store.entry_id(key)
            return None
        if key not in self._loaded:
            arrays = self.store.load(key)
            if arrays is None:
                return None
            self._loaded[key] = arrays
        return self._loaded[key]

    def _row_index(self, split: str, records: Sequence[FaceRecord]) -> np.ndarray | None:
        """Rows of `records` in the split; None for the whole split in order (no copy needed)."""
        full = self.data.splits[split]
        if len(records) == len(full) and all(a is b for a, b in zip(records, full)):
            return None
        if split not in self._rows:
            self._rows[split] = {r.id: i for i, r in enumerate(full)}
        row = self._rows[split]
        return np.fromiter((row[r.id] for r in records), np.int64, len(records))

    def _compute(self, split: str, features: bool, targets: bool) -> None:
        """One pass over the split: the backbone forward when `features`, the targets when `targets`."""
        records = self.data.splits[split]
        samples = FaceSamples(records, self.data, self.crop, self.forward.backbone.preprocess,
                              self.family if targets else None)
        loader = DataLoader(samples, batch_size=self.batch_size, num_workers=self.workers, shuffle=False,
                            pin_memory=self.forward.device.startswith("cuda"))
        levels = any(name.startswith("level") for name in self.arrays)
        what = "features" if features else "targets"
        advance = self.progress(f"{what} {self.label}/{split}", len(records))
        meta = {"task": self.label, "split": split}  # what `cache ls` shows
        fkey, tkey = self.feature_key(split), self.target_key(split)
        with ExitStack() as stack:
            fw = stack.enter_context(self.store.write(fkey, len(records), {
                **meta, "kind": "features", "backbone": self.forward.backbone.spec,
                "precision": self.forward.precision}, self._stale.get(fkey))) if features else None
            tw = stack.enter_context(self.store.write(tkey, len(records), {
                **meta, "kind": "targets"}, self._stale.get(tkey))) if targets else None
            start = 0
            for batch in loader:
                n = len(batch["index"])
                if fw is not None:
                    out = self.forward(batch["image"], levels=levels)
                    for name in self.arrays:
                        tensor = out.pooled if name == "pooled" else out.levels[int(name[len("level"):])]
                        _put_features(fw, name, start, tensor.float().cpu().numpy())
                if tw is not None:
                    tw.put("targets", start, batch["target"].numpy())
                start += n
                advance(n)
        for key in (fkey, *([tkey] if targets else [])):
            if self._load(key) is None:  # evicted at once: the cap is smaller than one split's arrays
                raise UserError(f"feature cache {self.store.root}: the {split} split of {self.label} does not fit "
                                f"in the cache's cap ({self.store.max_bytes / 2**30:.1f} GiB); raise --cache-size-gb")


def _put_features(writer: EntryWriter, name: str, start: int, values: np.ndarray) -> None:
    fits = bool(np.abs(values).max(initial=0.0) <= FP16_MAX)
    if not fits and name in writer.arrays and writer.arrays[name].dtype == np.float16:
        writer.widen(name, np.float32)
    writer.put(name, start, values, np.float16 if fits else np.float32)


def _take(array: np.ndarray, rows: np.ndarray | None) -> torch.Tensor:
    return torch.from_numpy(array if rows is None else array[rows])
