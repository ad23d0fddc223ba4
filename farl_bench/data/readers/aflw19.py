"""AFLW-19 (19 points): `AFLWinfo_release.mat` and images under `data/flickr/`.

The MAT file holds `bbox` (N x 4: left, right, top, bottom), `data` (N x 38: x1..x19, y1..y19),
`mask_new` (N x 19 visibility), `nameList` (N image paths) and `ra` (a 1-based permutation of the
rows). Train = the first `n_train` rows of `ra`, test = the rest; test faces whose 19 `mask_new`
flags are all 1 carry the tag `frontal` (FaRL's rule). Coordinates are used as written (as FaRL
does): 0-based pixels.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from farl_bench.data.readers._files import find_file
from farl_bench.data.readers._landmarks import permutation_from_pairs, points_normaliser
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.data.splits import holdout
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS

NUM_POINTS = 19
#: AFLW-19: brows 0-5, eyes 6-11 (corner, centre, corner each), nose 12-14, mouth 15-17, chin 18.
FLIP_19 = permutation_from_pairs(NUM_POINTS, [
    (0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9), (12, 14), (15, 17),
])
RELEASE_FACES, RELEASE_TRAIN = 24_386, 20_000
#: Share of `ra` that trains when the file is not the release (the synthetic generator's rule).
OTHER_TRAIN_SHARE = 0.8
N_VAL = 2000  # round(0.1 * 20,000): the hold-out carved from train
ARRAYS = {"bbox": 4, "data": 2 * NUM_POINTS, "mask_new": NUM_POINTS}  # name -> columns


def default_n_train(n_faces: int) -> int:
    """20,000 for the release's 24,386 faces; otherwise round(0.8 * N) (synthetic or partial files)."""
    return RELEASE_TRAIN if n_faces == RELEASE_FACES else round(OTHER_TRAIN_SHARE * n_faces)


def load_aflw_mat(path: Path) -> tuple[dict[str, np.ndarray], list[str], np.ndarray]:
    """(arrays bbox/data/mask_new as float64, image names, 0-based permutation `ra`), checked."""
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
    except (ValueError, NotImplementedError, OSError) as err:
        raise UserError(f"{path} is not a readable MATLAB v5 file ({err}); "
                        "download AFLWinfo_release.mat again") from None
    absent = [k for k in (*ARRAYS, "nameList", "ra") if k not in mat]
    if absent:
        raise UserError(f"{path} lacks variable(s) {', '.join(absent)}; expected bbox, data, mask_new, "
                        "nameList and ra (the AFLW-19 release file)")
    n = len(mat["nameList"])
    arrays = {}
    for name, cols in ARRAYS.items():
        arrays[name] = np.asarray(mat[name], dtype=np.float64)
        if arrays[name].shape != (n, cols):
            raise UserError(f"{path}: {name} is {arrays[name].shape}, expected ({n}, {cols}) for {n} names")
    names = [str(np.asarray(cell).ravel()[0]) for cell in np.asarray(mat["nameList"], dtype=object).ravel()]
    ra = np.asarray(mat["ra"]).ravel()
    if ra.size != n or not np.array_equal(np.sort(ra), np.arange(1, n + 1)):
        raise UserError(f"{path}: ra is not a permutation of 1..{n}; the file is damaged")
    return arrays, names, ra.astype(np.int64) - 1


@DATASETS.register("aflw19")
class AFLW19Reader:
    folder = "AFLW"
    expected_sizes = {"train": RELEASE_TRAIN - N_VAL, "val": N_VAL, "test": RELEASE_FACES - RELEASE_TRAIN}

    def __init__(self, n_train: int | None = None):
        """n_train: faces of `ra` that train; default `default_n_train(N)` (20,000 for the release)."""
        if n_train is not None and n_train < 1:
            raise UserError(f"aflw19 reader option n_train={n_train}; give a positive count or leave it out")
        self.n_train = n_train

    def read(self, root: Path) -> DatasetSplits:
        path = find_file(root, ["AFLWinfo_release.mat"], "AFLW-19 annotation file")
        arrays, names, ra = load_aflw_mat(path)
        n_train = self.n_train or default_n_train(len(names))
        if not 2 <= n_train < len(names):
            raise UserError(f"{path} holds {len(names)} faces: n_train={n_train} leaves no test split or too "
                            "few training faces (2 or more) to hold out a val split")
        frontal = (arrays["mask_new"] == 1).all(axis=1)

        def record(row: int, test: bool) -> FaceRecord:
            left, right, top, bottom = arrays["bbox"][row]
            return FaceRecord(
                id=f"{names[row]}#{row}",  # one image can hold several faces
                image=root / "data" / "flickr" / names[row],
                landmarks=arrays["data"][row].reshape(2, NUM_POINTS).T.copy(),
                bbox=np.array([left, top, right, bottom]),
                tags=frozenset({"frontal"}) if test and frontal[row] else frozenset())

        train, val = holdout([record(r, False) for r in ra[:n_train]], 0.1)
        test = [record(r, True) for r in ra[n_train:]]
        n_frontal = sum("frontal" in r.tags for r in test)
        return DatasetSplits({"train": train, "val": val, "test": test}, meta={
            "num_landmarks": NUM_POINTS,
            "flip_permutation": FLIP_19,
            "alignment_points": [7, 10, 13, 15, 17],
            "normalisers": {"diag": {"type": "bbox_diag"}, "box": {"type": "bbox_sqrt_area"},  # diag selects
                            "io": points_normaliser([6], [11]), "ip": points_normaliser([7], [10])},
            "subset_rules": {
                "test": f"full: rows {n_train + 1}.. of ra ({len(test)} faces)",
                "frontal": f"FaRL's rule: test faces whose 19 mask_new flags are all 1 ({n_frontal} faces; "
                           "the AFLW-19 authors' own AFLW-Frontal list has 1,165)",
            },
            "selection_note": f"train is the first {n_train} rows of ra; AFLW-19 publishes no validation "
                              "split: val is holdout(train, 0.1), the 10% of training faces (id "
                              "'<nameList path>#<row>') whose sha256 with salt 'farl-bench-val' ranks lowest",
        })
