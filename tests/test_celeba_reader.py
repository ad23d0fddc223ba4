import logging

import numpy as np
import pytest

from farl_bench.data.readers.celeba import CelebAReader
from farl_bench.errors import UserError
from helpers import ATTRS


def test_reads_splits_names_and_attribute_values(celeba_root):
    data = CelebAReader().read(celeba_root / "CelebA")
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 60, "val": 20, "test": 20}
    assert data.meta["attribute_names"] == ATTRS
    lines = (celeba_root / "CelebA/list_attr_celeba.txt").read_text().splitlines()
    first = data.split("train")[0]
    assert first.id == "000001.jpg" and first.image.is_file()
    np.testing.assert_array_equal(first.attributes, [v == "1" for v in lines[2].split()[1:]])


def test_count_line_disagreeing_with_rows_warns_and_uses_rows(celeba_root, caplog):
    path = celeba_root / "CelebA/list_attr_celeba.txt"
    path.write_text("202599\n" + path.read_text().split("\n", 1)[1])
    with caplog.at_level(logging.WARNING):
        data = CelebAReader().read(celeba_root / "CelebA")
    assert sum(len(v) for v in data.splits.values()) == 100
    assert "202599 faces but 100 rows" in caplog.text


def test_malformed_row_names_file_and_line(celeba_root):
    path = celeba_root / "CelebA/list_attr_celeba.txt"
    lines = path.read_text().splitlines()
    lines[4] = lines[4].replace("-1", "0", 1) if "-1" in lines[4] else lines[4].replace("1", "0", 1)
    path.write_text("\n".join(lines))
    with pytest.raises(UserError, match=r"list_attr_celeba\.txt:5: expected a file name and 3 values"):
        CelebAReader().read(celeba_root / "CelebA")


def test_files_in_partition_without_attributes_are_an_error(celeba_root):
    part = celeba_root / "CelebA/list_eval_partition.txt"
    part.write_text(part.read_text() + "999999.jpg 2\n")
    with pytest.raises(UserError, match="without attributes.*999999.jpg"):
        CelebAReader().read(celeba_root / "CelebA")


def test_release_layout_with_anno_and_eval_folders_is_found(celeba_root):
    base = celeba_root / "CelebA"
    (base / "Anno").mkdir()
    (base / "Eval").mkdir()
    (base / "list_attr_celeba.txt").rename(base / "Anno/list_attr_celeba.txt")
    (base / "list_eval_partition.txt").rename(base / "Eval/list_eval_partition.txt")
    assert len(CelebAReader().read(base).split("test")) == 20


def test_missing_list_names_the_paths_tried(tmp_path):
    (tmp_path / "img_align_celeba").mkdir()
    with pytest.raises(UserError, match="CelebA attribute list not found; looked for .*list_attr_celeba.txt"):
        CelebAReader().read(tmp_path)


def test_male_and_young_are_the_groups_of_every_face(synthetic_root):
    data = CelebAReader().read(synthetic_root / "CelebA")
    assert data.meta["groups"] == {"male": ["yes", "no"], "young": ["yes", "no"]}
    names = data.meta["attribute_names"]
    for record in (r for split in data.splits.values() for r in split):
        male, young = record.attributes[names.index("Male")], record.attributes[names.index("Young")]
        assert record.groups == {"male": "yes" if male else "no", "young": "yes" if young else "no"}
    assert {r.groups["male"] for r in data.split("test")} == {"yes", "no"}


def test_attribute_list_without_male_or_young_has_no_groups(celeba_root):
    data = CelebAReader().read(celeba_root / "CelebA")
    assert data.meta["groups"] == {} and "no demographic groups" in data.meta["groups_note"]
    assert all(r.groups == {} for split in data.splits.values() for r in split)
