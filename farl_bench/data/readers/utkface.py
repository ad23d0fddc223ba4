"""UTKFace: the labels are in the file names, `<age>_<gender>_<race>_<datetime>.jpg[.chip.jpg]`.

No official split: a fixed split by a hash of the file name (SPLIT_FRACTIONS, SPLIT_SALT; see
`farl_bench.data.splits.hash_split` and datasets/utkface/README.md).
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from farl_bench.data.readers._files import image_files, warn_skipped
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.data.splits import hash_split
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS

#: age 0..116, gender 0 male / 1 female, race 0..4, datetime yyyymmddHHMMSSfff (digits).
NAME = re.compile(r"^(?P<age>\d{1,3})_(?P<gender>[01])_(?P<race>[0-4])_(?P<stamp>\d+)\.jpg(\.chip\.jpg)?$",
                  re.IGNORECASE)
#: Group values of the gender and race codes of the file name, in code order.
GENDERS = ["male", "female"]
RACES = ["white", "black", "asian", "indian", "others"]
SPLIT_FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}
SPLIT_SALT = "farl-bench-utkface"


@DATASETS.register("utkface")
class UTKFaceReader:
    folder = "UTKFace"
    # The aligned-and-cropped release: 23,708 files, 3 of them lacking the race field -> 23,705.
    expected_sizes = {"train": 16_594, "val": 2_370, "test": 4_741}

    def read(self, root: Path) -> DatasetSplits:
        files = image_files(root)
        records: list[FaceRecord] = []
        skipped: Counter[str] = Counter()
        for path in files:
            match = NAME.match(path.name)
            if match is None:
                skipped["file name is not <age>_<gender>_<race>_<datetime>.jpg: a field is missing or malformed"] += 1
                continue
            groups = {"gender": GENDERS[int(match["gender"])], "race": RACES[int(match["race"])]}
            records.append(FaceRecord(id=path.relative_to(root).as_posix(), image=path,
                                      age=float(match["age"]), groups=groups))
        if not records:
            raise UserError(f"{root} holds no UTKFace image named <age>_<gender>_<race>_<datetime>.jpg"
                            f"[.chip.jpg] ({len(files)} other image files): point the root at the "
                            "unpacked UTKFace folder")
        splits = hash_split(records, SPLIT_FRACTIONS, SPLIT_SALT, key=lambda r: Path(r.id).name)
        return DatasetSplits(splits, meta={
            "skipped": warn_skipped(root, skipped),
            "split_rule": f"files ranked by sha256('{SPLIT_SALT}:<file name>'); "
                          f"train/val/test = {SPLIT_FRACTIONS} (farl_bench.data.splits.hash_split)",
            "groups": {"gender": GENDERS, "race": RACES},
            "groups_note": "gender and race codes of the file name (0 male / 1 female; 0..4 white, black, "
                           "asian, indian, others)",
            "selection_note": "UTKFace has no official split: val is 10% of the files by the fixed hash rule",
        })
