"""CelebA (aligned): `img_align_celeba/<000001>.jpg` (178 x 218), `list_attr_celeba.txt` (the count,
the 40 names, then `<file>` and 40 values of 1/-1 right-aligned in two characters, as the release)
and `list_eval_partition.txt` (`<file> 0|1|2`). Files are numbered train first, then val, then
test, as in the release."""
from __future__ import annotations

from collections.abc import Mapping

from ..face import CELEBA_ATTRIBUTES
from .common import DatasetWriter, RunSamples, Stage, draw_face, save_image, save_text, split_blocks

WIDTH, HEIGHT = 178, 218  # px
PARTITION = {"train": 0, "val": 1, "test": 2}


def _sample(stage: Stage, index: int) -> list[int]:
    rendered = draw_face(stage.rng(index), WIDTH, HEIGHT)
    save_image(stage.root / "img_align_celeba" / f"{index + 1:06d}.jpg", rendered.image)
    return [1 if rendered.attributes[name] else -1 for name in CELEBA_ATTRIBUTES]


def write(stage: Stage, counts: Mapping[str, int], run: RunSamples) -> int:
    splits = split_blocks(counts)
    rows = run(_sample, list(range(len(splits))))
    # The release ends the names line with a space and pads each value to two characters.
    save_text(stage.root / "list_attr_celeba.txt",
              [str(len(rows)), " ".join(CELEBA_ATTRIBUTES) + " ",
               *(f"{i + 1:06d}.jpg " + " ".join(f"{v:2d}" for v in row) for i, row in enumerate(rows))])
    save_text(stage.root / "list_eval_partition.txt",
              [f"{i + 1:06d}.jpg {PARTITION[s]}" for i, s in enumerate(splits)])
    return len(rows)


WRITER = DatasetWriter(
    key="celeba", folder="CelebA", number=6,
    counts={"small": {"train": 480, "val": 120, "test": 120},
            "medium": {"train": 3000, "val": 500, "test": 500}},
    write=write,
)
