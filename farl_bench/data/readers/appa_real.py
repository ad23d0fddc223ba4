"""APPA-REAL (ChaLearn LAP 2016 apparent age): `gt_avg_{train,valid,test}.csv` and the images in
`{train,valid,test}/`. Age targets are the apparent age: mean and std of the raters' votes.

Group labels, where present: `allcategories_{train,valid,test}.csv` (file,gender,race,makeup,time,
happiness; Clapés et al., CVPR-W 2018), in the root or in `allcategories_trainvalidtest_split/`."""
from __future__ import annotations

import logging
import re
from pathlib import Path

from farl_bench.data.readers._files import malformed, parse_number, read_csv
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS

SPLIT_OF_FOLDER = {"train": "train", "valid": "val", "test": "test"}
COLUMNS = ("file_name", "apparent_age_avg", "apparent_age_std")
#: The release's face crop of image X.jpg (cropped, rotated, 40% margin).
FACE_SUFFIX = "_face.jpg"
CATEGORY_FOLDERS = (".", "allcategories_trainvalidtest_split")
#: Group values as written in allcategories_*.csv (lower case, letters only: "Afro-American" reads as afroamerican).
GROUPS = {"gender": ["male", "female"], "race": ["asian", "afroamerican", "caucasian"]}

log = logging.getLogger(__name__)


def find_category_files(root: Path) -> dict[str, Path] | None:
    """allcategories_<folder>.csv per split folder, from the first place that has any; None where none does."""
    for place in CATEGORY_FOLDERS:
        found = {folder: root / place / f"allcategories_{folder}.csv" for folder in SPLIT_OF_FOLDER}
        present = [path for path in found.values() if path.is_file()]
        if present and len(present) < len(found):
            missing = ", ".join(str(p) for p in found.values() if not p.is_file())
            raise UserError(f"{missing} missing beside {present[0]}: unpack all three allcategories files, "
                            "or remove them to read APPA-REAL without group labels")
        if present:
            return found
    return None


def read_category_groups(path: Path) -> dict[str, dict[str, str]]:
    """file name -> {"gender": ..., "race": ...} from one allcategories_*.csv."""
    out = {}
    for no, row in read_csv(path, ("file", *GROUPS)):
        groups = {}
        for name, values in GROUPS.items():
            value = re.sub(r"[^a-z]", "", row[name].lower())
            if value not in values:
                raise malformed(path, no, f"{name} one of {', '.join(values)}", row[name])
            groups[name] = value
        out[row["file"]] = groups
    return out


@DATASETS.register("appa_real")
class AppaRealReader:
    folder = "APPA-REAL"
    expected_sizes = {"train": 4_113, "val": 1_500, "test": 1_978}

    def __init__(self, cropped: bool = True):
        """cropped: use the release's face crops `<file_name>_face.jpg` (default) or the whole `<file_name>`."""
        self.cropped = cropped

    def read(self, root: Path) -> DatasetSplits:
        splits: dict[str, list[FaceRecord]] = {}
        category_files = find_category_files(root)
        unlisted = 0
        for folder, split in SPLIT_OF_FOLDER.items():
            groups = read_category_groups(category_files[folder]) if category_files else {}
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
                unlisted += bool(category_files) and name not in groups
                records.append(FaceRecord(id=f"{folder}/{name}", image=image, age_std=std, groups=groups.get(name, {}),
                                          age=parse_number(csv_path, no, "apparent_age_avg", row["apparent_age_avg"])))
            if not records:
                raise UserError(f"{csv_path} lists no images: re-download the APPA-REAL annotations")
            splits[split] = records
        if unlisted:
            log.warning("%s: %d face(s) are not in allcategories_*.csv and have no group labels", root, unlisted)
        return DatasetSplits(splits, meta={
            "age_target": "apparent age: mean of the raters' votes (age_std: their standard deviation)",
            "image_form": "face crop <file_name>_face.jpg" if self.cropped else "whole image <file_name>",
            "groups": {name: list(values) for name, values in GROUPS.items()} if category_files else {},
            "groups_note": "gender and race from allcategories_{train,valid,test}.csv" if category_files else
                           "no group labels: allcategories_{train,valid,test}.csv are absent",
        })
