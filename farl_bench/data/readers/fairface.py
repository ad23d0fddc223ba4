"""FairFace (original release): `fairface_label_train.csv` and `fairface_label_val.csv`
(file,age,gender,race,service_test; file like `train/1.jpg`) and the images of one padding
variant, `fairface-img-margin025-trainval/` (padding 0.25) or `fairface-img-margin125-trainval/`
(1.25), each holding `train/` and `val/`.

The release's val split is the test split everyone reports on, so our val is 10% of its train
split by the hash rule (farl_bench.data.splits.holdout). Every label is also a group label.
"""
from __future__ import annotations

from pathlib import Path

from farl_bench.data.readers._files import find_file, malformed, read_csv
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.data.splits import holdout
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS

#: The csv's values -> group values, in the order of the FairFace paper.
RACES = {"White": "white", "Black": "black", "Latino_Hispanic": "latino_hispanic", "East Asian": "east_asian",
         "Southeast Asian": "southeast_asian", "Indian": "indian", "Middle Eastern": "middle_eastern"}
GENDERS = {"Male": "male", "Female": "female"}
AGE_GROUPS = {"0-2": "0-2", "3-9": "3-9", "10-19": "10-19", "20-29": "20-29", "30-39": "30-39",
              "40-49": "40-49", "50-59": "50-59", "60-69": "60-69", "more than 70": "70+"}
COLUMNS = {"race": RACES, "gender": GENDERS, "age": AGE_GROUPS}
#: Padding -> image folder under the root (the 0.25 zip unpacked straight into the root works too).
IMAGE_FOLDERS = {0.25: "fairface-img-margin025-trainval", 1.25: "fairface-img-margin125-trainval"}
SPLIT_OF_CSV = {"train": "train", "val": "test"}
VAL_FRACTION = 0.1


def read_labels(path: Path, images: Path) -> list[FaceRecord]:
    """One label csv's faces, every label as a group (race, gender, age_group)."""
    records, seen = [], {}
    for no, row in read_csv(path, ("file", *COLUMNS)):
        groups = {}
        for column, values in COLUMNS.items():
            if row[column] not in values:
                raise malformed(path, no, f"{column} one of {', '.join(map(repr, values))}", row[column])
            groups["age_group" if column == "age" else column] = values[row[column]]
        if row["file"] in seen:
            raise UserError(f"{path}:{no}: {row['file']} is listed twice (first on line {seen[row['file']]})")
        seen[row["file"]] = no
        records.append(FaceRecord(id=row["file"], image=images / row["file"], groups=groups))
    if not records:
        raise UserError(f"{path} lists no faces: re-download the FairFace labels")
    return records


@DATASETS.register("fairface")
class FairFaceReader:
    folder = "FairFace"
    # 86,744 train faces (10% held out as val) and 10,954 in the release's val, our test.
    expected_sizes = {"train": 78_070, "val": 8_674, "test": 10_954}

    def __init__(self, padding: float = 0.25):
        """padding: which image variant to read, 0.25 (default, as the paper's results) or 1.25."""
        if padding not in IMAGE_FOLDERS:
            raise UserError(f"FairFace reader option padding={padding!r}: choose 0.25 or 1.25")
        self.padding = padding

    def _images(self, root: Path) -> Path:
        folder = root / IMAGE_FOLDERS[self.padding]
        if folder.is_dir():
            return folder
        if self.padding == 0.25 and (root / "train").is_dir():
            return root
        raise UserError(f"{folder} is missing: unpack {folder.name}.zip into {root}")

    def read(self, root: Path) -> DatasetSplits:
        images = self._images(root)
        parts = {split: read_labels(find_file(root, [f"fairface_label_{name}.csv"], f"FairFace {name} labels"), images)
                 for name, split in SPLIT_OF_CSV.items()}
        train, val = holdout(parts["train"], VAL_FRACTION)
        return DatasetSplits({"train": train, "val": val, "test": parts["test"]}, meta={
            "groups": {"race": list(RACES.values()), "gender": list(GENDERS.values()),
                       "age_group": list(AGE_GROUPS.values())},
            "groups_note": "race (7), gender and age group (9) of the label csvs; 'more than 70' reads as 70+",
            "image_form": f"padding {self.padding} ({IMAGE_FOLDERS[self.padding]})",
            "selection_note": f"FairFace's val split is the test split: val is {VAL_FRACTION:.0%} of train "
                              "(farl_bench.data.splits.holdout)",
        })
