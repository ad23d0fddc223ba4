"""Small hand-made dataset trees for tests that must not depend on the synthetic generator."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

ATTRS = ["Bright", "Red", "Striped"]


def write_celeba(root: Path, n: tuple[int, int, int] = (60, 20, 20), seed: int = 0) -> Path:
    """A CelebA tree whose 3 attributes are drawn visibly: brightness, red tint, stripes.

    Returns the folder that holds list_attr_celeba.txt (root/CelebA).
    """
    rng = np.random.default_rng(seed)
    base = root / "CelebA"
    (base / "img_align_celeba").mkdir(parents=True)
    attr_lines, part_lines = [], []
    for i in range(sum(n)):
        name = f"{i + 1:06d}.jpg"
        labels = rng.random(3) < 0.5
        img = np.full((218, 178, 3), 60 + rng.integers(0, 20), np.uint8)
        if labels[0]:
            img[:] += 100
        if labels[1]:
            img[..., 0] = 230
        if labels[2]:
            img[::12] = 0
        Image.fromarray(img).save(base / "img_align_celeba" / name, quality=90)
        attr_lines.append(name + " " + " ".join("1" if v else "-1" for v in labels))
        part_lines.append(f"{name} {0 if i < n[0] else 1 if i < n[0] + n[1] else 2}")
    (base / "list_attr_celeba.txt").write_text(f"{sum(n)}\n{' '.join(ATTRS)}\n" + "\n".join(attr_lines) + "\n")
    (base / "list_eval_partition.txt").write_text("\n".join(part_lines) + "\n")
    return base
