"""APPA-REAL (ChaLearn LAP 2016 apparent age): `gt_avg_{train,valid,test}.csv` and the images in
`{train,valid,test}/`. Age targets are the apparent age: mean and std of the raters' votes."""
from __future__ import annotations

from pathlib import Path

from farl_bench.data.readers._files import parse_number, read_csv
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS

SPLIT_OF_FOLDER = {"train": "train", "valid": "val", "test": "test"}
COLUMNS = ("file_name", "apparent_age_avg", "apparent_age_std")
#: The release's face crop of image X.jpg (cropped, rotated, 40% margin).
FACE_SUFFIX = "_face.jpg"


@DATASETS.register("appa_real")
class AppaRealReader:
    folder = "APPA-REAL"
    expected_sizes = {"train": 4_113, "val": 1_500, "test": 1_978}

    def __init__(self, cropped: bool = True):
        """cropped: use the release's face crops `<file_name>_face.jpg` (default) or the whole `<file_name>`."""
        self.cropped = cropped

    def read(self, root: Path) -> DatasetSplits:
        splits: dict[str, list[FaceRecord]] = {}
        for folder, split in SPLIT_OF_FOLDER.items():
            csv_path = root / f"gt_avg_{folder}.csv"
            if not (root / folder).is_dir():
                raise UserError(f"{root / folder} is missing: unpack the APPA-REAL release into {root}")
            records = []
            for no, row in read_csv(csv_path, COLUMNS):
                name = row["file_name"]
                std = parse_number(csv_path, no, "apparent_age_std", row["apparent_age_std"])
                if std < 0:
                    raise UserError(f"{csv_path}:{no}: apparent_age_std {std} is negative")
                image = root / folder / (name + FACE_SUFFIX if self.cropped else name)
                records.append(FaceRecord(id=f"{folder}/{name}", image=image, age_std=std,
                                          age=parse_number(csv_path, no, "apparent_age_avg", row["apparent_age_avg"])))
            if not records:
                raise UserError(f"{csv_path} lists no images: re-download the APPA-REAL annotations")
            splits[split] = records
        return DatasetSplits(splits, meta={
            "age_target": "apparent age: mean of the raters' votes (age_std: their standard deviation)",
            "image_form": "face crop <file_name>_face.jpg" if self.cropped else "whole image <file_name>",
        })
