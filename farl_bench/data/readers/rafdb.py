"""RAF-DB (basic): `basic/EmoLabel/list_patition_label.txt` (sic) and the aligned 100 x 100 faces
`basic/Image/aligned/<name>_aligned.jpg`. Train and test come from the name prefix.

Group labels, where `basic/Annotation/manual/` is unpacked: `<name>_manu_attri.txt` holds five
landmark lines (x y) and then three codes, one a line: gender, race, age range (GROUP_CODES)."""
from __future__ import annotations

from pathlib import Path

from farl_bench.data.readers._files import find_file, malformed
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.data.splits import holdout
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS

#: Labels 1..7 of the list file, in order; record.expression = label - 1.
EXPRESSION_NAMES = ["surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"]
SPLIT_OF_PREFIX = {"train_": "train", "test_": "test"}
LIST_CANDIDATES = ["basic/EmoLabel/list_patition_label.txt", "EmoLabel/list_patition_label.txt"]
VAL_FRACTION = 0.1
#: The manual annotation's codes, in the order of its lines 6..8; gender 2 ("unsure") is no group.
GROUP_CODES = {
    "gender": ["male", "female"],
    "race": ["caucasian", "african-american", "asian"],
    "age_group": ["0-3", "4-19", "20-39", "40-69", "70+"],
}
UNSURE_GENDER = "2"


def read_label_list(path: Path) -> list[tuple[str, str, int]]:
    """Parse `<name>.jpg <label 1..7>` lines into (split, name, expression index 0..6)."""
    rows = []
    for no, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        split = next((s for prefix, s in SPLIT_OF_PREFIX.items() if parts[0].startswith(prefix)), None)
        if len(parts) != 2 or split is None or parts[1] not in {str(i) for i in range(1, 8)}:
            raise malformed(path, no, "'train_NNNNN.jpg|test_NNNN.jpg <label 1..7>'", line)
        rows.append((split, parts[0], int(parts[1]) - 1))
    return rows


def read_manual_groups(path: Path) -> dict[str, str]:
    """The groups of one `<name>_manu_attri.txt`: 5 landmark lines, then gender, race and age codes."""
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        raise UserError(f"{path} is missing: unpack all of basic/Annotation/manual.zip, or remove the "
                        "manual folder to read RAF-DB without group labels") from None
    if len(lines) != 8:
        raise UserError(f"{path}: expected 8 lines (5 landmarks, then gender, race and age codes), got {len(lines)}")
    groups = {}
    for no, (name, values) in enumerate(GROUP_CODES.items(), start=6):
        code = lines[no - 1].strip()
        allowed = [str(i) for i in range(len(values))] + ([UNSURE_GENDER] if name == "gender" else [])
        if code not in allowed:
            raise malformed(path, no, f"a {name} code {'|'.join(allowed)}", code)
        if not (name == "gender" and code == UNSURE_GENDER):
            groups[name] = values[int(code)]
    return groups


@DATASETS.register("rafdb")
class RafDbReader:
    folder = "RAF-DB"
    expected_sizes = {"train": 11_044, "val": 1_227, "test": 3_068}

    def read(self, root: Path) -> DatasetSplits:
        list_path = find_file(root, LIST_CANDIDATES, "RAF-DB basic label list")
        images = list_path.parent.parent / "Image" / "aligned"
        if not images.is_dir():
            raise UserError(f"{images} is missing: unpack basic/Image/aligned.zip next to {list_path.parent}")
        manual = list_path.parent.parent / "Annotation" / "manual"
        has_groups = manual.is_dir()
        splits: dict[str, list[FaceRecord]] = {"train": [], "test": []}
        for split, name, expression in read_label_list(list_path):
            stem = name.rsplit(".", 1)[0]
            groups = read_manual_groups(manual / f"{stem}_manu_attri.txt") if has_groups else {}
            splits[split].append(FaceRecord(id=name, image=images / f"{stem}_aligned.jpg", expression=expression,
                                            groups=groups))
        for split, records in splits.items():
            if not records:
                raise UserError(f"{list_path} lists no {split} images (names {split}_*.jpg)")
        train, val = holdout(splits["train"], VAL_FRACTION)
        return DatasetSplits({"train": train, "val": val, "test": splits["test"]}, meta={
            "expression_names": EXPRESSION_NAMES,
            "groups": {name: list(values) for name, values in GROUP_CODES.items()} if has_groups else {},
            "groups_note": "gender, race and age range from basic/Annotation/manual/<name>_manu_attri.txt "
                           "(gender 'unsure' is left out)" if has_groups else
                           "no group labels: basic/Annotation/manual/ is absent (unpack manual.zip there)",
            "selection_note": f"RAF-DB has no validation split: val is {VAL_FRACTION:.0%} of train "
                              "(farl_bench.data.splits.holdout)",
        })
