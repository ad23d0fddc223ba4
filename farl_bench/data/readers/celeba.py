"""CelebA attributes: `list_attr_celeba.txt`, `list_eval_partition.txt`, `img_align_celeba/`."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from farl_bench.data.readers._files import find_file, malformed
from farl_bench.data.readers._groups import attribute_group_values, attribute_groups, attribute_groups_note
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS

log = logging.getLogger(__name__)

SPLIT_OF_PARTITION = {"0": "train", "1": "val", "2": "test"}


def read_attribute_list(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """Parse `list_attr_celeba.txt`: line 1 a count, line 2 the names, then `<file> ±1 ...` rows.

    Returns the attribute names and file -> (A,) bool. A count that disagrees with the rows
    present is warned about; the rows present are used.
    """
    lines = path.read_text().splitlines()
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise UserError(f"{path}: expected a count on line 1 and attribute names on line 2")
    names = lines[1].split()
    rows: dict[str, np.ndarray] = {}
    for no, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1 or any(v not in ("1", "-1") for v in parts[1:]):
            raise malformed(path, no, f"a file name and {len(names)} values of 1/-1", line)
        rows[parts[0]] = np.array([v == "1" for v in parts[1:]])
    if int(lines[0]) != len(rows):
        log.warning("%s: line 1 says %s faces but %d rows are present; using the rows present",
                    path, lines[0].strip(), len(rows))
    return names, rows


def read_partition(path: Path) -> dict[str, str]:
    """Parse `list_eval_partition.txt` into file -> train|val|test."""
    out: dict[str, str] = {}
    for no, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in SPLIT_OF_PARTITION:
            raise malformed(path, no, "'<file> 0|1|2'", line)
        out[parts[0]] = SPLIT_OF_PARTITION[parts[1]]
    return out


@DATASETS.register("celeba")
class CelebAReader:
    folder = "CelebA"
    expected_sizes = {"train": 162_770, "val": 19_867, "test": 19_962}

    def read(self, root: Path) -> DatasetSplits:
        attr_path = find_file(root, ["list_attr_celeba.txt", "Anno/list_attr_celeba.txt"], "CelebA attribute list")
        part_path = find_file(root, ["list_eval_partition.txt", "Eval/list_eval_partition.txt"],
                              "CelebA partition list")
        images = root / "img_align_celeba"
        if not images.is_dir():
            raise UserError(f"{images} is missing: unpack img_align_celeba.zip into {root}")
        names, attributes = read_attribute_list(attr_path)
        partition = read_partition(part_path)
        unlabelled = sorted(set(partition) - set(attributes))
        if unlabelled:
            raise UserError(f"{part_path} lists {len(unlabelled)} files without attributes in {attr_path} "
                            f"(first: {unlabelled[0]}); the two lists must come from the same release")
        splits: dict[str, list[FaceRecord]] = {"train": [], "val": [], "test": []}
        for file, split in partition.items():
            splits[split].append(FaceRecord(id=file, image=images / file, attributes=attributes[file],
                                            groups=attribute_groups(names, attributes[file])))
        return DatasetSplits(splits, meta={"attribute_names": names, "groups": attribute_group_values(names),
                                           "groups_note": attribute_groups_note(names)})
