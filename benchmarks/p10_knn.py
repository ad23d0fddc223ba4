"""P10: the knn protocol over 100,000 cached training samples of 768-d features (ViT-B's width) and
10,000 queries: `KnnProtocol.run` (bank of unit rows, one product per batch of 10,000 validation
queries, one top-200, weighted votes of 40 attributes for all 15 (k, T) of the default grid, each
scored), at the default precision. Goal: <= 5 s. The details add the test pass (10,000 more
queries at the chosen k, scored) and the same run with an fp32 bank."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import report
from farl_bench.backbones import build
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.engine.cache import FeatureStore
from farl_bench.engine.evaluate import score_split
from farl_bench.engine.features import FeatureCache
from farl_bench.engine.knn import KnnHparams, KnnProtocol
from farl_bench.engine.precision import FrozenForward, default_precision
from farl_bench.engine.protocol import ProtocolJob
from farl_bench.families import get
from farl_bench.tasks import load_task

SIZES = {"train": 100_000, "val": 10_000, "test": 10_000}
ATTRIBUTES = 40
DIM = 768


def cache_for(root: Path, precision: str) -> FeatureCache:
    """A cache over fake splits (pixels?grid=16: 768-d, never run: every entry is stored first)."""
    rng = np.random.default_rng(0)
    splits = {split: [FaceRecord(f"{split}{i}", root / "none.jpg", attributes=rng.random(ATTRIBUTES) < 0.3)
                      for i in range(n)] for split, n in SIZES.items()}
    data = DatasetSplits(splits, {"attribute_names": [f"a{i}" for i in range(ATTRIBUTES)]})
    backbone = build("pixels?grid=16", input_size=64)
    cache = FeatureCache(FeatureStore(root / "cache"), FrozenForward(backbone, "cpu", precision), data,
                         load_task("celeba").crop, get("attributes"), {"family": "attributes"}, label="p10")
    rng = np.random.default_rng(1)
    for split, records in data.splits.items():
        if cache.store.load(cache.feature_key(split)) is None:
            with cache.store.write(cache.feature_key(split), len(records), {"kind": "features"}) as writer:
                for start in range(0, len(records), 10_000):
                    writer.put("pooled", start, rng.standard_normal((10_000, DIM), np.float32), np.float16)
        if cache.store.load(cache.target_key(split)) is None:
            with cache.store.write(cache.target_key(split), len(records), {"kind": "targets"}) as writer:
                writer.put("targets", 0, np.stack([r.attributes for r in records]))
    return cache


def timed(root: Path, precision: str) -> tuple[float, float]:
    """(seconds of KnnProtocol.run, seconds of the test pass) with the bank in `precision`."""
    cache = cache_for(root, precision)
    data = cache.data
    job = ProtocolJob(cache.forward.backbone, cache.family, load_task("celeba"), data, data.split("train"),
                      data.split("val"), "val", KnnHparams(), 0, features=cache, precision=precision)
    cache.get("train", job.train, targets=True)  # entries read once, as a run's extraction leaves them
    start = time.perf_counter()
    result = KnnProtocol().run(job)
    selected = time.perf_counter()
    test = job.samples(data.split("test"))
    score_split(cache.family, result.predict(test, "test"), test, data)
    return selected - start, time.perf_counter() - selected


def main() -> None:
    precision = default_precision("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        run_s, test_s = timed(Path(tmp), precision)
        fp32 = timed(Path(tmp), "fp32") if precision != "fp32" else (run_s, test_s)
    report("P10", run_s, 5.0, False,
           f"s for {SIZES['train']:,} x {SIZES['val']:,} x {DIM}-d, 15 (k, T), bank in {precision}; test pass "
           f"{test_s:.2f} s; fp32 bank: {fp32[0]:.2f} s + {fp32[1]:.2f} s")


if __name__ == "__main__":
    sys.exit(main())
