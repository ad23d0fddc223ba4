"""MORPH II (academic release, licensed): one CSV of image paths and ages, in one of two forms.

  morph_2008_nonCommercial.csv (as released): id_num,picture_num,dob,doa,race,gender,facial_hair,
    age,age_diff,glasses,photo  -- `photo` is the image path (under Album2/);
  a plain CSV with a header holding at least `file,age` (other columns are ignored).
Paths are relative to the reader option `images` (a folder under the root, default the root).
The common protocol is a random 80/20 split: ours is fixed by a hash of the image path, and val
is carved from the 80%.
"""
from __future__ import annotations

from pathlib import Path

from farl_bench.data.readers._files import find_file, parse_number, read_csv
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.data.splits import hash_split, holdout
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS

CSV_CANDIDATES = ["morph_2008_nonCommercial.csv", "morph2.csv"]
#: Column holding the image path, by CSV form (first found wins).
PATH_COLUMNS = ("photo", "file")
SPLIT_FRACTIONS = {"train": 0.8, "test": 0.2}
SPLIT_SALT = "farl-bench-morph2"
VAL_FRACTION = 0.1


@DATASETS.register("morph2")
class Morph2Reader:
    folder = "MORPH2"
    # 55,134 rows in morph_2008_nonCommercial.csv: test 20%, then 10% of the rest for val.
    expected_sizes = {"train": 39_696, "val": 4_411, "test": 11_027}

    def __init__(self, csv: str | None = None, images: str = "."):
        """csv: the annotation file (relative to the root, or absolute); default: the first of
        CSV_CANDIDATES present. images: the folder the CSV's paths are relative to."""
        self.csv = csv
        self.images = images

    def read(self, root: Path) -> DatasetSplits:
        csv_path = root / self.csv if self.csv else find_file(root, CSV_CANDIDATES, "MORPH II annotation CSV")
        image_root = root / self.images
        if not image_root.is_dir():
            raise UserError(f"{image_root} (reader option images={self.images!r}) is not a folder")
        records: list[FaceRecord] = []
        seen: dict[str, int] = {}
        for no, row in read_csv(csv_path, ("age",)):
            column = next((c for c in PATH_COLUMNS if c in row), None)
            if column is None:
                raise UserError(f"{csv_path}:1: expected a header with an image path column "
                                f"({' or '.join(PATH_COLUMNS)}) and age; see datasets/morph2/README.md")
            rel = row[column].replace("\\", "/")
            if rel in seen:
                raise UserError(f"{csv_path}:{no}: image {rel} is listed twice (first on line {seen[rel]})")
            seen[rel] = no
            records.append(FaceRecord(id=rel, image=image_root / rel, subject=row.get("id_num") or None,
                                      age=parse_number(csv_path, no, "age", row["age"])))
        if len(records) < 3:
            raise UserError(f"{csv_path} lists {len(records)} images: at least 3 are needed for train/val/test")
        parts = hash_split(records, SPLIT_FRACTIONS, SPLIT_SALT)
        train, val = holdout(parts["train"], VAL_FRACTION)
        return DatasetSplits({"train": train, "val": val, "test": parts["test"]}, meta={
            "split_rule": f"images ranked by sha256('{SPLIT_SALT}:<image path>'); train/test = "
                          f"{SPLIT_FRACTIONS} (farl_bench.data.splits.hash_split)",
            "selection_note": f"MORPH II has no official split: val is {VAL_FRACTION:.0%} of the 80% "
                              "train part (farl_bench.data.splits.holdout)",
        })
