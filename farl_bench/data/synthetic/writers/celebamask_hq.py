"""CelebAMask-HQ: `CelebA-HQ-img/<id>.jpg` (256 px here, 1024 in the release),
`CelebAMask-HQ-mask-anno/<id // 2000>/<id:05d>_<part>.png` (binary 0/255, half the image size as
the release's 512-for-1024; only the parts present are written), `CelebA-HQ-to-CelebA-mapping.txt`
(`idx orig_idx orig_file`) and `list_eval_partition.txt` (`<orig_file> 0|1|2`) for the original
CelebA files used. Splits follow CelebA's partition of the original file, whose index ranges
match the real ones, while HQ ids are a random permutation as in the release."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..face import CELEBAMASK_PARTS
from .common import DatasetWriter, RunSamples, Stage, draw_face, save_image, save_text, split_blocks

IMAGE_SIZE = 256  # px, square; masks are IMAGE_SIZE // 2
#: CelebA partition id and 0-based original index range [start, stop) of each split.
CELEBA_PARTITION = {"train": (0, 0, 162_770), "val": (1, 162_770, 182_637), "test": (2, 182_637, 202_599)}


def half_size(mask: np.ndarray) -> np.ndarray:
    """H x W bool -> H/2 x W/2 bool: a pixel is set when at least half of its 2 x 2 block is."""
    m = mask.view(np.uint8)  # integer sums are much faster than a float mean
    return m[0::2, 0::2] + m[0::2, 1::2] + m[1::2, 0::2] + m[1::2, 1::2] >= 2


def _sample(stage: Stage, hq_id: int) -> None:
    rendered = draw_face(stage.rng(hq_id), IMAGE_SIZE)
    save_image(stage.root / "CelebA-HQ-img" / f"{hq_id}.jpg", rendered.image)
    folder = stage.root / "CelebAMask-HQ-mask-anno" / str(hq_id // 2000)
    for part in CELEBAMASK_PARTS:
        mask = half_size(rendered.parts[part])
        if mask.any():
            save_image(folder / f"{hq_id:05d}_{part}.png", mask.astype(np.uint8) * 255)


def write(stage: Stage, counts: Mapping[str, int], run: RunSamples) -> int:
    layout = stage.layout_rng()
    blocks = split_blocks(counts)
    splits = [blocks[k] for k in layout.permutation(len(blocks))]  # split of each HQ id
    orig = np.zeros(len(splits), dtype=np.int64)
    for split, (_, start, stop) in CELEBA_PARTITION.items():
        ids = [h for h, s in enumerate(splits) if s == split]
        orig[ids] = start + layout.choice(stop - start, size=len(ids), replace=False)
    run(_sample, list(range(len(splits))))
    save_text(stage.root / "CelebA-HQ-to-CelebA-mapping.txt",
              [f"{'idx':<12}{'orig_idx':<12}orig_file",
               *(f"{h:<12}{o:<12}{o + 1:06d}.jpg" for h, o in enumerate(orig))])
    partition = {int(o): CELEBA_PARTITION[s][0] for o, s in zip(orig, splits)}
    save_text(stage.root / "list_eval_partition.txt",
              [f"{o + 1:06d}.jpg {p}" for o, p in sorted(partition.items())])
    return len(splits)


WRITER = DatasetWriter(
    key="celebamask_hq", folder="CelebAMask-HQ", number=2,
    counts={"small": {"train": 24, "val": 6, "test": 6},
            "medium": {"train": 240, "val": 40, "test": 40}},
    write=write,
)
