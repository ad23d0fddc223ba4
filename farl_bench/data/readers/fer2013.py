"""FER2013, the common image-folder release: `train|test/<emotion>/*.jpg` (48 x 48 grey).

`test/` holds PrivateTest_* and, in most copies, PublicTest_* files. With the reader option
`public_test: val` (default) PublicTest_* files form the val split and the rest of test/ the test
split (the original FER2013 protocol); with `public_test: test`, or when test/ holds no
PublicTest_* file, all of test/ is test and val is carved from train.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from farl_bench.data.readers._files import IMAGE_SUFFIXES, image_files, warn_skipped
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.data.splits import holdout
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS

#: Folder names in FER2013's emotion id order 0..6 (fer2013.csv's `emotion` column).
EXPRESSION_NAMES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
PUBLIC_PREFIX = "PublicTest_"
VAL_FRACTION = 0.1
EXPECTED_SIZES = {
    "val": {"train": 28_709, "val": 3_589, "test": 3_589},
    "test": {"train": 25_838, "val": 2_871, "test": 7_178},
}


def read_emotion_folders(folder: Path, skipped: Counter[str]) -> list[tuple[Path, int]]:
    """(image, expression index) for every image in `folder/<emotion>/`; stray images are counted."""
    if not folder.is_dir():
        raise UserError(f"{folder} is missing: the FER2013 image-folder release has train/ and test/")
    out = []
    for entry in sorted(folder.iterdir()):
        if entry.is_dir():
            if entry.name not in EXPRESSION_NAMES:
                raise UserError(f"{entry}: unknown emotion folder; expected {', '.join(EXPRESSION_NAMES)}")
            out += [(path, EXPRESSION_NAMES.index(entry.name)) for path in image_files(entry)]
        elif entry.suffix.lower() in IMAGE_SUFFIXES:
            skipped[f"image directly in {folder.name}/, outside an emotion folder"] += 1
    if not out:
        raise UserError(f"{folder} holds no image in its emotion folders ({', '.join(EXPRESSION_NAMES)})")
    return out


@DATASETS.register("fer2013")
class FER2013Reader:
    folder = "FER2013"
    expected_sizes = EXPECTED_SIZES["val"]

    def __init__(self, public_test: str = "val"):
        """public_test: where test/'s PublicTest_* files go: `val` (default) or `test`."""
        if public_test not in EXPECTED_SIZES:
            raise UserError(f"FER2013 reader option public_test={public_test!r}: choose val or test")
        self.public_test = public_test
        self.expected_sizes = EXPECTED_SIZES[public_test]

    def read(self, root: Path) -> DatasetSplits:
        skipped: Counter[str] = Counter()
        splits: dict[str, list[FaceRecord]] = {"train": [], "val": [], "test": []}
        for folder in ("train", "test"):
            for path, expression in read_emotion_folders(root / folder, skipped):
                public = folder == "test" and path.name.startswith(PUBLIC_PREFIX) and self.public_test == "val"
                split = "val" if public else folder
                record = FaceRecord(id=path.relative_to(root).as_posix(), image=path, expression=expression)
                splits[split].append(record)
        if not splits["test"]:
            raise UserError(f"{root / 'test'} holds only {PUBLIC_PREFIX}* images: set the reader option "
                            "public_test: test to use them as the test split")
        if splits["val"]:
            note = "val = test/'s PublicTest_* images (FER2013's public test); test = the rest of test/"
        else:
            splits["train"], splits["val"] = holdout(splits["train"], VAL_FRACTION)
            note = f"val is {VAL_FRACTION:.0%} of train (farl_bench.data.splits.holdout); test = all of test/"
        return DatasetSplits(splits, meta={
            "expression_names": EXPRESSION_NAMES,
            "selection_note": note,
            "skipped": warn_skipped(root, skipped),
        })
