"""FG-NET: 1,002 images of 82 people, the labels in the file names `<person>A<age>[a-z].JPG`.

Two protocols, chosen by the reader option `protocol`:
  fixed (default, one run): people split by a fixed hash of the person id into train/val/test.
  lopo: leave-one-person-out; option `fold` (0..81) picks the person held out as test, in the
    order of meta["folds"]. A full LOPO evaluation is one run per fold: 82 runs.
In both, a person's images stay in one split, and val is carved from the non-test people.
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

#: `001A02.JPG`, `001A43a.JPG` (a letter tells images of the same age apart); any case.
NAME = re.compile(r"^(?P<person>\d+)A(?P<age>\d+)[a-z]?\.jpe?g$", re.IGNORECASE)
FIXED_FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}
LOPO_VAL_FRACTIONS = {"train": 0.9, "val": 0.1}
SPLIT_SALT = "farl-bench-fgnet"
PROTOCOLS = ("fixed", "lopo")


@DATASETS.register("fgnet")
class FGNetReader:
    folder = "FG-NET"
    # Per-split counts depend on how many images each person has, which we cannot publish
    # without the data; the release has 1,002 images of 82 people (see meta num_images/num_people).
    expected_sizes: dict[str, int] = {}

    def __init__(self, protocol: str = "fixed", fold: int = 0):
        if protocol not in PROTOCOLS:
            raise UserError(f"FG-NET reader option protocol={protocol!r}: choose one of {', '.join(PROTOCOLS)}")
        self.protocol = protocol
        self.fold = fold

    def read(self, root: Path) -> DatasetSplits:
        files = image_files(root)
        records: list[FaceRecord] = []
        person_of: dict[str, str] = {}
        skipped: Counter[str] = Counter()
        for path in files:
            match = NAME.match(path.name)
            if match is None:
                skipped["file name is not <person>A<age>[a-z].JPG"] += 1
                continue
            record = FaceRecord(id=path.relative_to(root).as_posix(), image=path, age=float(match["age"]),
                                subject=match["person"])
            person_of[record.id] = match["person"]
            records.append(record)
        people = sorted(set(person_of.values()))
        if len(people) < 3:
            raise UserError(f"{root} holds images of {len(people)} FG-NET people (files <person>A<age>.JPG); "
                            "at least 3 are needed: point the root at the FG-NET images folder")

        def person(record: FaceRecord) -> str:
            return person_of[record.id]

        if self.protocol == "fixed":
            splits = hash_split(records, FIXED_FRACTIONS, SPLIT_SALT, key=person)
            rule = (f"people ranked by sha256('{SPLIT_SALT}:<person id>'); train/val/test people = "
                    f"{FIXED_FRACTIONS} (farl_bench.data.splits.hash_split)")
        else:
            if not 0 <= self.fold < len(people):
                raise UserError(f"FG-NET reader option fold={self.fold}: choose 0..{len(people) - 1} "
                                f"(one fold per person; {len(people)} people found)")
            held_out = people[self.fold]
            rest = hash_split([r for r in records if person(r) != held_out], LOPO_VAL_FRACTIONS, SPLIT_SALT, key=person)
            splits = {**rest, "test": [r for r in records if person(r) == held_out]}
            rule = (f"leave-one-person-out fold {self.fold}: test = person {held_out}; val = "
                    f"{LOPO_VAL_FRACTIONS['val']:.0%} of the other people ranked by sha256('{SPLIT_SALT}:<person id>')")
        return DatasetSplits(splits, meta={
            "protocol": self.protocol,
            "fold": self.fold if self.protocol == "lopo" else None,
            "folds": [[p] for p in people],
            "num_people": len(people),
            "num_images": len(records),
            "split_rule": rule,
            "selection_note": "FG-NET has no validation split: val holds whole people carved from the "
                              "non-test people by the fixed hash rule",
            "skipped": warn_skipped(root, skipped),
        })
