"""AFLW-19: `AFLWinfo_release.mat` and images `data/flickr/<0|2|3>/image<5 digits>.jpg`.

The MAT file holds (all doubles, as MATLAB writes them): `bbox` N x 4 (left, right, top, bottom),
`data` N x 38 (x1..x19 then y1..y19), `mask_new` N x 19 (1 visible, 0 not), `nameList` N x 1 cell
of paths under `data/flickr/` such as `3/image00002.jpg`, and `ra` 1 x N, a 1-based permutation.
Split rule: train = the first 80% of `ra` (the release: 20,000 of 24,386), test = the rest.
Coordinates are 0-based pixel floats (the convention readers apply to the real file); invisible
points keep their true position. The first test face has all 19 points visible, so the
"frontal" test subset is never empty. Images are 200..320 px wide and high."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .common import DatasetWriter, RunSamples, Stage, draw_face, save_image, save_mat

SIZE = (200, 320)  # px, inclusive range of width and of height
FOLDERS = ("0", "2", "3")


def _sample(stage: Stage, job: tuple[int, bool]) -> tuple[str, list[float], np.ndarray, np.ndarray]:
    index, frontal = job
    rng = stage.rng(index)
    name = f"{FOLDERS[int(rng.integers(len(FOLDERS)))]}/image{2 + 13 * index + int(rng.integers(13)):05d}.jpg"
    width, height = (int(v) for v in rng.integers(SIZE[0], SIZE[1] + 1, size=2))
    rendered = draw_face(rng, width, height, accept=(lambda f: bool(f.visible19.all())) if frontal else None)
    save_image(stage.root / "data" / "flickr" / name, rendered.image)
    x0, y0, x1, y1 = rendered.bbox
    points = rendered.landmarks["19"]
    return name, [x0, x1, y0, y1], np.concatenate([points[:, 0], points[:, 1]]), rendered.visible19


def write(stage: Stage, counts: Mapping[str, int], run: RunSamples) -> int:
    n, n_train = counts["train"] + counts["test"], counts["train"]
    ra = stage.layout_rng().permutation(n) + 1
    first_test = int(ra[n_train]) - 1 if n > n_train else -1
    results = run(_sample, [(i, i == first_test) for i in range(n)])
    names = np.empty((n, 1), dtype=object)
    names[:, 0] = [r[0] for r in results]
    save_mat(stage.root / "AFLWinfo_release.mat", {
        "bbox": np.array([r[1] for r in results], dtype=np.float64).reshape(n, 4),
        "data": np.array([r[2] for r in results], dtype=np.float64).reshape(n, 38),
        "mask_new": np.array([r[3] for r in results], dtype=np.float64).reshape(n, 19),
        "nameList": names,
        "ra": ra.astype(np.float64).reshape(1, n),
    })
    return n


WRITER = DatasetWriter(
    key="aflw19", folder="AFLW", number=5,
    counts={"small": {"train": 128, "test": 32}, "medium": {"train": 320, "test": 80}},
    write=write,
)
