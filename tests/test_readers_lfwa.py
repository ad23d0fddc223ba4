"""LFWA reader on MATLAB v7.3-like files written here with h5py (MATLAB's HDF5 layout: a 512-byte
MAT header, transposed matrices, char arrays as uint16, cell arrays as object references)."""
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from farl_bench.data.readers.lfwa import LFWAReader
from farl_bench.errors import UserError

ATTRS = ["5_o_Clock_Shadow", "Arched_Eyebrows", "Smiling"]
NAMES = [f"Person_{p}\\Person_{p}_{i:04d}.jpg" for p in "ABCDEFG" for i in (1, 2, 3)]  # 21 faces
TRAIN = list(range(1, 13))   # 1-based, as MATLAB
TEST = list(range(13, 22))


def write_v73(path: Path, variables: dict) -> None:
    """A MAT-file as MATLAB -v7.3 writes it. list[str] -> cell (n x 1 when `column`, else 1 x n)."""
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        for key, value in variables.items():
            if isinstance(value, tuple):  # (list of strings, MATLAB cell shape)
                strings, shape = value
                cells = []
                for i, s in enumerate(strings):
                    # MATLAB char 1 x L is stored transposed: (L, 1) uint16 codes
                    ds = refs.create_dataset(f"{key}{i}", data=np.array([[ord(c)] for c in s], dtype=np.uint16))
                    ds.attrs["MATLAB_class"] = np.bytes_("char")
                    ds.attrs["MATLAB_int_decode"] = np.int32(2)
                    cells.append(ds.ref)
                data = np.array(cells, dtype=h5py.ref_dtype).reshape(shape).T
                f.create_dataset(key, data=data).attrs["MATLAB_class"] = np.bytes_("cell")
            else:
                ds = f.create_dataset(key, data=np.asarray(value, dtype=np.float64).T)
                ds.attrs["MATLAB_class"] = np.bytes_("double")
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with path.open("r+b") as fh:
        fh.write(header.ljust(116, b" ") + bytes(8) + b"\x00\x02" + b"IM")


@pytest.fixture
def lfwa_root(tmp_path: Path) -> tuple[Path, np.ndarray]:
    labels = np.random.default_rng(0).integers(0, 2, size=(len(NAMES), len(ATTRS)))
    write_v73(tmp_path / "lfw_att_40.mat", {"name": (NAMES, (len(NAMES), 1)), "label": labels,
                                            "AttrName": (ATTRS, (1, len(ATTRS)))})
    write_v73(tmp_path / "indices_train_test.mat", {"indices_img_train": np.array(TRAIN)[:, None],
                                                    "indices_img_test": np.array(TEST)[None, :]})
    (tmp_path / "lfw").mkdir()
    return tmp_path, labels


def test_reads_names_attributes_and_official_indices(lfwa_root):
    root, labels = lfwa_root
    data = LFWAReader().read(root)
    assert data.meta["attribute_names"] == ATTRS
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 11, "val": 1, "test": 9}
    by_id = {r.id: r for split in data.splits.values() for r in split}
    for i, name in enumerate(NAMES):
        record = by_id[name.replace("\\", "/")]
        np.testing.assert_array_equal(record.attributes, labels[i] == 1)
        assert record.attributes.dtype == bool and record.image == root / "lfw" / name.replace("\\", "/")
    assert {r.id for r in data.split("test")} == {NAMES[i - 1].replace("\\", "/") for i in TEST}


def test_val_is_a_fixed_holdout_of_train(lfwa_root):
    root, _ = lfwa_root
    first, again = LFWAReader().read(root), LFWAReader().read(root)
    assert [r.id for r in first.split("val")] == [r.id for r in again.split("val")]
    assert not {r.id for r in first.split("val")} & {r.id for r in first.split("train")}
    assert "10% of indices_img_train" in first.meta["selection_note"]


def test_index_beyond_the_names_names_the_file(lfwa_root):
    root, _ = lfwa_root
    write_v73(root / "indices_train_test.mat", {"indices_img_train": np.array([[1, 2, 99]]),
                                                "indices_img_test": np.array([[3]])})
    with pytest.raises(UserError, match=r"indices_train_test\.mat: indices_img_train must hold distinct whole numbers"):
        LFWAReader().read(root)


def test_face_in_both_train_and_test_is_refused(lfwa_root):
    root, _ = lfwa_root
    write_v73(root / "indices_train_test.mat", {"indices_img_train": np.array([[1, 2, 3]]),
                                                "indices_img_test": np.array([[3, 4]])})
    with pytest.raises(UserError, match="1 faces are in both"):
        LFWAReader().read(root)


def test_missing_variable_is_named(lfwa_root):
    root, labels = lfwa_root
    write_v73(root / "lfw_att_40.mat", {"name": (NAMES, (len(NAMES), 1)), "label": labels})
    with pytest.raises(UserError, match=r"lfw_att_40\.mat: variable 'AttrName' is missing"):
        LFWAReader().read(root)


def test_label_rows_must_match_names(lfwa_root):
    root, labels = lfwa_root
    write_v73(root / "lfw_att_40.mat", {"name": (NAMES, (len(NAMES), 1)), "label": labels[:-1],
                                        "AttrName": (ATTRS, (1, len(ATTRS)))})
    with pytest.raises(UserError, match=r"label must be 21 x 3 values 0/1"):
        LFWAReader().read(root)


def test_mat_file_saved_as_v5_is_refused_with_advice(lfwa_root):
    root, _ = lfwa_root
    scipy.io.savemat(root / "lfw_att_40.mat", {"label": np.zeros((2, 2))})
    with pytest.raises(UserError, match=r"lfw_att_40\.mat is not a MATLAB v7\.3 \(HDF5\) file"):
        LFWAReader().read(root)


def test_missing_image_folder_and_files_are_named(lfwa_root, tmp_path):
    root, _ = lfwa_root
    with pytest.raises(UserError, match="faces is missing"):
        LFWAReader(images="faces").read(root)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="LFWA attribute file not found"):
        LFWAReader().read(tmp_path / "empty")


def test_groups_follow_male_and_young_where_present(lfwa_root):
    root, labels = lfwa_root
    data = LFWAReader().read(root)  # ATTRS has neither Male nor Young
    assert data.meta["groups"] == {} and all(r.groups == {} for s in data.splits.values() for r in s)
    write_v73(root / "lfw_att_40.mat", {"name": (NAMES, (len(NAMES), 1)), "label": labels,
                                        "AttrName": (["Young", "Smiling", "Male"], (1, 3))})
    data = LFWAReader().read(root)
    assert data.meta["groups"] == {"male": ["yes", "no"], "young": ["yes", "no"]}
    by_id = {r.id: r for split in data.splits.values() for r in split}
    for i, name in enumerate(NAMES):
        young, _, male = labels[i]
        assert by_id[name.replace("\\", "/")].groups == {"male": "yes" if male else "no",
                                                          "young": "yes" if young else "no"}
