"""AffectNet (manually annotated part): `Manually_Annotated_file_lists/{training,validation}.csv`
and the images under `Manually_Annotated_Images/`.

Expression ids: 0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear, 5 disgust, 6 anger, 7 contempt,
8 none, 9 uncertain, 10 no-face. Ids 8..10 are always dropped; 7 (contempt) too with `classes: 7`.
The official validation set (500 faces per class) is our test split; val is carved from training.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from farl_bench.data.readers._files import find_file, parse_number, read_csv, warn_skipped
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.data.splits import holdout
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS

#: Expression ids 0..7 in order (the 7-class task uses the first 7).
EXPRESSION_NAMES = ["neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt"]
NON_EMOTION = {8: "none", 9: "uncertain", 10: "no-face"}
CONTEMPT = 7
#: The release's columns; validation.csv of some copies comes without this header line.
COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks",
           "expression", "valence", "arousal")
BOX_COLUMNS = ("face_x", "face_y", "face_width", "face_height")
LISTS = "Manually_Annotated_file_lists"
IMAGE_CANDIDATES = ("Manually_Annotated_Images", "Manually_Annotated/Manually_Annotated_Images")
VAL_FRACTION = 0.1
#: Split sizes of the full release (the paper's class counts), by number of classes.
EXPECTED_SIZES = {
    8: {"train": 258_886, "val": 28_765, "test": 4_000},
    7: {"train": 255_511, "val": 28_390, "test": 3_500},
}


@DATASETS.register("affectnet")
class AffectNetReader:
    folder = "AffectNet"
    expected_sizes = EXPECTED_SIZES[8]

    def __init__(self, classes: int = 8):
        """classes: 8 (with contempt) or 7 (contempt dropped)."""
        if classes not in EXPECTED_SIZES:
            raise UserError(f"AffectNet reader option classes={classes!r}: choose 7 or 8")
        self.classes = classes
        self.expected_sizes = EXPECTED_SIZES[classes]

    def read(self, root: Path) -> DatasetSplits:
        images = next((root / c for c in IMAGE_CANDIDATES if (root / c).is_dir()), None)
        if images is None:
            tried = ", ".join(str(root / c) for c in IMAGE_CANDIDATES)
            raise UserError(f"AffectNet images not found; looked for {tried}. Check --data-root (or --root NAME=DIR).")
        skipped: Counter[str] = Counter()
        parts = {}
        for name in ("training", "validation"):
            path = find_file(root, [f"{LISTS}/{name}.csv", f"{name}.csv"], f"AffectNet {name} list")
            parts[name] = self._read_list(path, images, skipped)
        train, val = holdout(parts["training"], VAL_FRACTION)
        return DatasetSplits({"train": train, "val": val, "test": parts["validation"]}, meta={
            "expression_names": EXPRESSION_NAMES[:self.classes],
            "skipped": warn_skipped(root, skipped),
            "selection_note": f"the official validation set is the test split; val is {VAL_FRACTION:.0%} of "
                              "training.csv (farl_bench.data.splits.holdout)",
        })

    def _read_list(self, path: Path, images: Path, skipped: Counter[str]) -> list[FaceRecord]:
        """Records of one list file; dropped labels are counted into `skipped`."""
        records = []
        for no, row in read_csv(path, ("subDirectory_filePath", "expression", *BOX_COLUMNS), headerless=COLUMNS):
            label = parse_number(path, no, "expression", row["expression"], int)
            if not 0 <= label <= 10:
                raise UserError(f"{path}:{no}: expression {label} is outside 0..10")
            if label in NON_EMOTION:
                skipped[f"{path.name}: expression {label} ({NON_EMOTION[label]})"] += 1
                continue
            if label == CONTEMPT and self.classes == 7:
                skipped[f"{path.name}: expression 7 (contempt, 7-class task)"] += 1
                continue
            x, y, w, h = (parse_number(path, no, c, row[c]) for c in BOX_COLUMNS)
            rel = row["subDirectory_filePath"]
            records.append(FaceRecord(id=rel, image=images / rel, expression=label,
                                      bbox=np.array([x, y, x + w, y + h], dtype=np.float64)))
        if not records:
            raise UserError(f"{path} lists no face with an expression label 0..{self.classes - 1}")
        return records
