"""300W: images with one `.pts` each (`version: 1`, `n_points:  68`, `{`, 68 lines `x y`, `}`),
coordinates 1-based as in the release (pixel = value - 1), in `afw/`, `helen/{trainset,testset}/`,
`lfpw/{trainset,testset}/` (PNG images, as the release) and `ibug/` (faces of difficulty at least
IBUG_MIN_DIFFICULTY). ibug holds one name with the release's quirk, `image_092 _01.jpg` (a space).
Images are 240..360 px wide and high, drawn independently."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .common import DatasetWriter, RunSamples, Stage, draw_face, save_image, save_text, split_blocks

SIZE = (240, 360)  # px, inclusive range of width and of height
IBUG_MIN_DIFFICULTY = 0.5
QUIRK_NAME = "image_092 _01"


def _name(subset: str, index: int, local: int, rng: np.random.Generator) -> str:
    """File stem in the style of each subset; unique within it."""
    if subset == "afw":  # e.g. 1051618982_1
        return f"{1_000_000_000 + 10_007 * index + int(rng.integers(10_000))}_{int(rng.integers(1, 4))}"
    if subset.startswith("helen"):  # e.g. 100032540_1
        return f"{100_000_000 + 1_009 * index + int(rng.integers(1_000))}_1"
    if subset.startswith("lfpw"):
        return f"image_{local + 1:04d}"
    return QUIRK_NAME if local == 0 else f"image_{3 + 2 * local:03d}_1"  # ibug; odd numbers skip 092


def _sample(stage: Stage, job: tuple[int, str, int]) -> None:
    index, subset, local = job
    rng = stage.rng(index)
    name = _name(subset, index, local, rng)
    width, height = (int(v) for v in rng.integers(SIZE[0], SIZE[1] + 1, size=2))
    hard = subset == "ibug"
    rendered = draw_face(rng, width, height,
                         accept=(lambda f: f.difficulty >= IBUG_MIN_DIFFICULTY) if hard else None)
    suffix = ".png" if subset.startswith("lfpw") else ".jpg"
    folder = stage.root / subset
    save_image(folder / f"{name}{suffix}", rendered.image)
    points = rendered.landmarks["68"] + 1.0  # the release counts pixels from 1
    save_text(folder / f"{name}.pts",
              ["version: 1", "n_points:  68", "{", *(f"{x:.3f} {y:.3f}" for x, y in points), "}"])


def write(stage: Stage, counts: Mapping[str, int], run: RunSamples) -> int:
    jobs, seen = [], dict.fromkeys(counts, 0)
    for index, subset in enumerate(split_blocks(counts)):
        jobs.append((index, subset, seen[subset]))
        seen[subset] += 1
    run(_sample, jobs)
    return len(jobs)


WRITER = DatasetWriter(
    key="300w", folder="300W", number=3,
    counts={"small": {"afw": 4, "helen/trainset": 8, "lfpw/trainset": 6,
                      "helen/testset": 4, "lfpw/testset": 4, "ibug": 4},
            "medium": {"afw": 24, "helen/trainset": 144, "lfpw/trainset": 56,
                       "helen/testset": 28, "lfpw/testset": 18, "ibug": 16}},
    write=write,
)
