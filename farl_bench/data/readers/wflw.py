"""WFLW (98 points): `list_98pt_rect_attr_{train,test}.txt` and `WFLW_images/`.

One line per face: x0 y0 .. x97 y97 (0-based pixels, used as written), the box x_min y_min x_max
y_max, six 0/1 flags (pose, expression, illumination, make-up, occlusion, blur) and the image path
under `WFLW_images/`. The flags of test faces become the tags of the six test subsets.
Reader option `box`: `landmarks` (default) gives the landmarks' extent, the box HRNet's CSVs and
hence FaRL crop around; `rect` gives the line's own rectangle.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from farl_bench.data.readers._files import find_file, malformed
from farl_bench.data.readers._landmarks import permutation_from_pairs, points_normaliser
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.data.splits import holdout
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS

NUM_POINTS = 98
#: WFLW 98: jaw 0-32, brows 33-50, nose 51-59, eyes 60-75, mouth 76-95, pupils 96-97.
FLIP_98 = permutation_from_pairs(NUM_POINTS, [
    *((i, 32 - i) for i in range(16)),                                      # jaw
    (33, 46), (34, 45), (35, 44), (36, 43), (37, 42),                       # brows, upper edge
    (38, 50), (39, 49), (40, 48), (41, 47),                                 # brows, lower edge
    (55, 59), (56, 58),                                                     # nostrils
    (60, 72), (61, 71), (62, 70), (63, 69), (64, 68), (65, 75), (66, 74), (67, 73),  # eyes
    (76, 82), (77, 81), (78, 80), (83, 87), (84, 86),                       # outer lips
    (88, 92), (89, 91), (93, 95),                                           # inner lips
    (96, 97),                                                               # pupils
])
#: Test subset names, in the order of the flag columns.
FLAG_TAGS = ("largepose", "expression", "illumination", "makeup", "occlusion", "blur")
LIST_DIR = "WFLW_annotations/list_98pt_rect_attr_train_test"
N_NUMBERS = 2 * NUM_POINTS + 4 + len(FLAG_TAGS)
N_VAL = 750  # round(0.1 * 7,500): the hold-out carved from train
BOXES = ("landmarks", "rect")


def read_annotation_list(path: Path) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """Lines of one WFLW list as (image path, landmarks 98 x 2, rect (4,), flags (6,) bool)."""
    rows = []
    expected = f"{N_NUMBERS} numbers (98 points, box, 6 flags of 0/1) and an image path"
    for no, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) <= N_NUMBERS:
            raise malformed(path, no, expected, line)
        try:
            numbers = np.array([float(v) for v in parts[:N_NUMBERS]], dtype=np.float64)
        except ValueError:
            raise malformed(path, no, expected, line) from None
        flags = numbers[-len(FLAG_TAGS):]
        if not np.isin(flags, (0.0, 1.0)).all():
            raise malformed(path, no, expected, line)
        rows.append((" ".join(parts[N_NUMBERS:]), numbers[:2 * NUM_POINTS].reshape(NUM_POINTS, 2),
                     numbers[2 * NUM_POINTS:2 * NUM_POINTS + 4], flags == 1.0))
    return rows


@DATASETS.register("wflw")
class WFLWReader:
    folder = "WFLW"
    expected_sizes = {"train": 7500 - N_VAL, "val": N_VAL, "test": 2500,
                      "test:largepose": 326, "test:expression": 314, "test:illumination": 698,
                      "test:makeup": 206, "test:occlusion": 736, "test:blur": 773}

    def __init__(self, box: str = "landmarks"):
        """box: `landmarks` (the points' extent, FaRL's crop) or `rect` (the annotation's rectangle)."""
        if box not in BOXES:
            raise UserError(f"wflw reader option box={box!r}; choose one of: {', '.join(BOXES)}")
        self.box = box

    def _records(self, root: Path, split: str) -> list[FaceRecord]:
        name = f"list_98pt_rect_attr_{split}.txt"
        path = find_file(root, [f"{LIST_DIR}/{name}", f"list_98pt_rect_attr_train_test/{name}", name],
                         f"WFLW {split} list")
        seen: Counter[str] = Counter()
        records = []
        for image, points, rect, flags in read_annotation_list(path):
            face_id = f"{image}#{seen[image]}"  # images can hold several faces
            seen[image] += 1
            box = rect if self.box == "rect" else np.array([*points.min(axis=0), *points.max(axis=0)])
            tags = frozenset(t for t, f in zip(FLAG_TAGS, flags) if f) if split == "test" else frozenset()
            records.append(FaceRecord(id=face_id, image=root / "WFLW_images" / image,
                                      landmarks=points, bbox=box, tags=tags))
        if not records:
            raise UserError(f"{path} lists no faces; expected one line per face")
        return records

    def read(self, root: Path) -> DatasetSplits:
        train_all = self._records(root, "train")
        if len(train_all) < 2:
            raise UserError(f"WFLW at {root} lists 1 training face; at least 2 are needed to hold out a val split")
        train, val = holdout(train_all, 0.1)
        return DatasetSplits({"train": train, "val": val, "test": self._records(root, "test")}, meta={
            "num_landmarks": NUM_POINTS,
            "flip_permutation": FLIP_98,
            "alignment_points": [96, 97, 54, 76, 82],
            "normalisers": {"io": points_normaliser([60], [72]), "ip": points_normaliser([96], [97])},
            "subset_rules": {t: f"test faces whose '{c}' flag is 1" for t, c in
                             zip(FLAG_TAGS, ("pose", "expression", "illumination", "make-up", "occlusion", "blur"))},
            "selection_note": "WFLW publishes no validation split: val is holdout(train, 0.1), the 10% of "
                              "training faces (id '<image path>#<k>', k-th face of that image in the list) "
                              "whose sha256 with salt 'farl-bench-val' ranks lowest",
        })
