"""LaPa: `{train,val,test}/images/<name>.jpg`, `labels/<name>.png` (8-bit, values 0..10 in
LAPA_LABELS order) and `landmarks/<name>.txt` (a line "106", then 106 lines "x y", 0-based pixels).
Images are 200..320 px wide and high, drawn independently."""
from __future__ import annotations

from collections.abc import Mapping

from .common import DatasetWriter, RunSamples, Stage, draw_face, save_image, save_text, split_blocks

SIZE = (200, 320)  # px, inclusive range of width and of height


def _sample(stage: Stage, job: tuple[int, str]) -> None:
    index, split = job
    rng = stage.rng(index)
    # Real names look like "10405146_1"; the 1009-step keeps them unique and ordered by index.
    name = f"{10_000_000 + 1009 * index + int(rng.integers(1000))}_{int(rng.integers(1, 4))}"
    width, height = (int(v) for v in rng.integers(SIZE[0], SIZE[1] + 1, size=2))
    rendered = draw_face(rng, width, height)
    folder = stage.root / split
    save_image(folder / "images" / f"{name}.jpg", rendered.image)
    save_image(folder / "labels" / f"{name}.png", rendered.lapa_label)
    points = rendered.landmarks["106"]
    save_text(folder / "landmarks" / f"{name}.txt",
              ["106", *(f"{x:.3f} {y:.3f}" for x, y in points)])


def write(stage: Stage, counts: Mapping[str, int], run: RunSamples) -> int:
    jobs = list(enumerate(split_blocks(counts)))
    run(_sample, jobs)
    return len(jobs)


WRITER = DatasetWriter(
    key="lapa", folder="LaPa", number=1,
    counts={"small": {"train": 24, "val": 6, "test": 6},
            "medium": {"train": 400, "val": 60, "test": 60}},
    write=write,
)
