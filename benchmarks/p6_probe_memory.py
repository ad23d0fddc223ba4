"""P6: peak resident memory of a linear probe (the linear protocol: 8 settings trained, chosen on
val, test predicted and scored) over 100,000 cached training samples of 768-d features (ViT-B's
width), in a fresh process. Goal: <= 2 GiB."""
from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from _common import report
from farl_bench.backbones import build
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.engine.cache import FeatureStore
from farl_bench.engine.features import FeatureCache
from farl_bench.engine.precision import FrozenForward
from farl_bench.families import get
from farl_bench.tasks import load_task

SIZES = {"train": 100_000, "val": 10_000, "test": 10_000}
ATTRIBUTES = 40


def cache_for(root: Path) -> FeatureCache:
    """The cache a probe over the fake splits reads (pixels?grid=16: 768-d, never run on a hit)."""
    rng = np.random.default_rng(0)
    splits = {split: [FaceRecord(f"{split}{i}", root / "none.jpg", attributes=rng.random(ATTRIBUTES) < 0.3)
                      for i in range(n)] for split, n in SIZES.items()}
    data = DatasetSplits(splits, {"attribute_names": [f"a{i}" for i in range(ATTRIBUTES)]})
    backbone = build("pixels?grid=16", input_size=64)
    return FeatureCache(FeatureStore(root / "cache"), FrozenForward(backbone, "cpu", "fp32"), data,
                        load_task("celeba").crop, get("attributes"), {"family": "attributes"}, label="p6")


def fill(root: Path) -> None:
    """Store features (random, fp16) and targets of every split, as an earlier run would have."""
    cache = cache_for(root)
    rng = np.random.default_rng(1)
    for split, records in cache.data.splits.items():
        with cache.store.write(cache.feature_key(split), len(records), {"kind": "features"}) as writer:
            for start in range(0, len(records), 10_000):
                writer.put("pooled", start, rng.standard_normal((10_000, 768), np.float32), np.float16)
        with cache.store.write(cache.target_key(split), len(records), {"kind": "targets"}) as writer:
            writer.put("targets", 0, np.stack([r.attributes for r in records]))


def probe(root: Path) -> None:
    """Run in the measured process: the linear protocol on the stored features; prints peak RSS."""
    from farl_bench.engine.evaluate import score_split
    from farl_bench.engine.linear import LinearHparams, LinearProtocol
    from farl_bench.engine.protocol import ProtocolJob

    imports_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cache = cache_for(root)
    data = cache.data
    job = ProtocolJob(cache.forward.backbone, cache.family, load_task("celeba"), data, data.split("train"),
                      data.split("val"), "val", LinearHparams(epochs=2), 0, features=cache)
    result = LinearProtocol().run(job)
    test = job.samples(data.split("test"))
    score_split(cache.family, result.predict(test, "test"), test, data)
    print(imports_kb, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fill(Path(tmp))
        out = subprocess.run([sys.executable, __file__, "--probe", tmp], capture_output=True, text=True, check=True)
    imports_kb, peak_kb = map(int, out.stdout.split()[-2:])
    report("P6", peak_kb / 2**20, 2.0, False, f"GiB peak RSS over {SIZES['train']:,} cached samples "
           f"(after imports alone: {imports_kb / 2**20:.2f} GiB)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--probe"]:
        probe(Path(sys.argv[2]))
    else:
        main()
