"""Synthetic face datasets written in the original on-disk formats of the real ones, so that the
real readers read them. Faces come from the procedural renderer in `face`.

    generate(out, scale="small", seed=0) -> {dataset key: images written}
    is_complete(out, scale, seed) -> bool

Each dataset is built in a hidden sibling folder and renamed into `out/<folder>` when complete,
with a `.synthetic.json` marker (scale, seed, counts, package version, a digest of this
generator's source). Sample `i` of a dataset draws from `np.random.default_rng([seed, dataset
number, i])`, so the bytes depend only on the seed, the scale and the generator's code, not on
which other datasets are generated or on the number of worker processes.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import cache, partial
from pathlib import Path
from typing import Any

from farl_bench import __version__

from .writers import WRITERS
from .writers.common import MARKER, RunSamples, Stage, staged

SCALES = ("small", "medium")
#: Dataset key -> folder name under the output root.
DATASETS: dict[str, str] = {key: writer.folder for key, writer in WRITERS.items()}

Progress = Callable[[str, int, int], None]  # (dataset key, samples done, samples total)
# fork on Linux: instant, and callers' scripts need no `if __name__ == "__main__"` guard; the
# workers run only numpy / PIL code, so threads the caller may hold (torch) are never touched.
_START_METHOD = "fork" if sys.platform.startswith("linux") else None


def _check(scale: str, datasets: Sequence[str] | None) -> list[str]:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of: {', '.join(SCALES)}")
    if isinstance(datasets, str):  # one name given bare
        datasets = [datasets]
    keys = list(DATASETS) if datasets is None else list(dict.fromkeys(datasets))
    unknown = [k for k in keys if k not in DATASETS]
    if unknown:
        raise ValueError(f"unknown dataset(s) {', '.join(map(repr, unknown))}; "
                         f"choose from: {', '.join(DATASETS)}")
    return keys


@cache
def _source_digest() -> str:
    """sha256 of this package's source: a changed renderer or writer invalidates old datasets."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(path.relative_to(Path(__file__).parent).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _marker(key: str, scale: str, seed: int) -> dict[str, Any]:
    """What a complete dataset's marker says, less the image count."""
    return {"dataset": key, "scale": scale, "seed": seed, "counts": dict(WRITERS[key].counts[scale]),
            "version": __version__, "source": _source_digest()}


class _Samples:
    """Runs a dataset's sample jobs in order, in worker processes (or in this one when
    workers == 1), reporting progress; one pool serves every dataset of a `generate` call."""

    def __init__(self, workers: int):
        self.workers = workers
        context = multiprocessing.get_context(_START_METHOD)
        self.pool = ProcessPoolExecutor(workers, mp_context=context) if workers > 1 else None

    def runner(self, key: str, stage: Stage, progress: Progress | None) -> RunSamples:
        return partial(self._run, key, stage, progress)

    def _run(self, key: str, stage: Stage, progress: Progress | None,
             fn: Callable[[Stage, Any], Any], jobs: Sequence[Any]) -> list[Any]:
        task = partial(fn, stage)
        if self.pool is None:
            results = map(task, jobs)
        else:  # ordered results; chunks amortise the inter-process traffic
            results = self.pool.map(task, jobs, chunksize=max(1, len(jobs) // (8 * self.workers)))
        out = []
        try:
            for result in results:
                out.append(result)
                if progress is not None:
                    progress(key, len(out), len(jobs))
        except BaseException:
            self.close()  # running samples finish before their staging folder is removed
            raise
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def generate(out: Path, scale: str = "small", seed: int = 0, datasets: Sequence[str] | None = None,
             progress: Progress | None = None, workers: int | None = None) -> dict[str, int]:
    """Write the chosen datasets (all by default) under `out`, replacing earlier synthetic copies.

    Returns the number of images written per dataset key: image files (a WFLW image may hold two
    faces; the split counts in each marker are faces), or CSV rows for FERPlus, whose images live
    in its CSV. `workers` processes render samples (default: up to 2, one per CPU).
    """
    keys = _check(scale, datasets)
    out = Path(out)
    workers = workers or min(2, os.cpu_count() or 1)
    written: dict[str, int] = {}
    samples = _Samples(workers)
    try:
        for key in keys:
            writer = WRITERS[key]
            with staged(out / writer.folder) as root:
                stage = Stage(root=root, seed=seed, number=writer.number)
                written[key] = writer.write(stage, writer.counts[scale], samples.runner(key, stage, progress))
                marker = {**_marker(key, scale, seed), "images": written[key]}
                (root / MARKER).write_text(json.dumps(marker, indent=1, sort_keys=True) + "\n")
    finally:
        samples.close()
    return written


def is_complete(out: Path, scale: str = "small", seed: int = 0, datasets: Sequence[str] | None = None) -> bool:
    """True when every chosen dataset under `out` was fully generated with this scale and seed by
    this version of the generator (so regeneration can be skipped)."""
    for key in _check(scale, datasets):
        path = Path(out) / DATASETS[key] / MARKER
        try:
            found = json.loads(path.read_text())
        except (OSError, ValueError):
            return False
        expected = _marker(key, scale, seed)
        if {k: found.get(k) for k in expected} != expected:
            return False
    return True
