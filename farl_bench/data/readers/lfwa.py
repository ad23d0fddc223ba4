"""LFWA attributes, as released with CelebA: `lfw_att_40.mat` (name, label, AttrName) and
`indices_train_test.mat` (indices_img_train, indices_img_test, 1-based), both MATLAB v7.3 files.

A v7.3 MAT-file is HDF5: a MATLAB r x c array is stored transposed (c x r), a char array as
uint16 codes, and a cell array as object references into the `#refs#` group. Image names use
Windows separators (`Aaron_Eckhart\\Aaron_Eckhart_0001.jpg`) and are relative to the `images`
folder (reader option, default `lfw`).
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from farl_bench.data.readers._files import find_file
from farl_bench.data.readers._groups import attribute_group_values, attribute_groups, attribute_groups_note
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.data.splits import holdout
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS

VAL_FRACTION = 0.1


def _dataset(f: h5py.File, key: str) -> h5py.Dataset:
    if key not in f or not isinstance(f[key], h5py.Dataset):
        found = ", ".join(k for k in f if k != "#refs#")
        raise UserError(f"{f.filename}: variable {key!r} is missing (found {found}); "
                        "re-download the LFWA annotation files")
    return f[key]


def matlab_array(f: h5py.File, key: str) -> np.ndarray:
    """A numeric MATLAB variable with MATLAB's shape (the HDF5 copy is transposed)."""
    return np.asarray(_dataset(f, key)).T


def _char(f: h5py.File, ds: h5py.Dataset) -> str:
    if ds.attrs.get("MATLAB_class", b"") not in (b"char", "char"):
        raise UserError(f"{f.filename}: expected a MATLAB char array at {ds.name}, "
                        f"got class {ds.attrs.get('MATLAB_class')!r}")
    if ds.attrs.get("MATLAB_empty", 0):
        return ""
    return "".join(map(chr, np.asarray(ds).T.ravel()))


def matlab_strings(f: h5py.File, key: str) -> list[str]:
    """A MATLAB cell array of strings, in MATLAB's linear (column-major) order."""
    ds = _dataset(f, key)
    if h5py.check_dtype(ref=ds.dtype) is None:
        raise UserError(f"{f.filename}: variable {key!r} should be a cell array of strings "
                        f"(object references), got {ds.dtype}")
    # The HDF5 copy is transposed, so its C order is MATLAB's column-major order.
    return [_char(f, f[ref]) for ref in np.asarray(ds).ravel()]


def _open(path: Path) -> h5py.File:
    if not h5py.is_hdf5(path):
        raise UserError(f"{path} is not a MATLAB v7.3 (HDF5) file: use the LFWA files as released with CelebA")
    return h5py.File(path, "r")


def _indices(f: h5py.File, key: str, n: int) -> np.ndarray:
    """1-based MATLAB indices -> 0-based ints, checked against the n names."""
    values = matlab_array(f, key).ravel()
    if (values.size == 0 or np.any(values != np.round(values)) or values.min() < 1 or values.max() > n
            or np.unique(values).size != values.size):
        raise UserError(f"{f.filename}: {key} must hold distinct whole numbers 1..{n} "
                        "(1-based rows of lfw_att_40.mat)")
    return values.astype(np.int64) - 1


@DATASETS.register("lfwa")
class LFWAReader:
    folder = "LFWA"
    # lfw_att_40.mat's 13,143 faces: 6,263 train (10% of it held out as val) and 6,880 test.
    expected_sizes = {"train": 5_637, "val": 626, "test": 6_880}

    def __init__(self, images: str = "lfw"):
        """images: the folder (under the root) the `name` paths are relative to."""
        self.images = images

    def read(self, root: Path) -> DatasetSplits:
        att_path = find_file(root, ["lfw_att_40.mat"], "LFWA attribute file")
        idx_path = find_file(root, ["indices_train_test.mat"], "LFWA split file")
        images = root / self.images
        if not images.is_dir():
            raise UserError(f"{images} is missing: unpack the LFWA images there (reader option images)")
        with _open(att_path) as f:
            names = [n.replace("\\", "/") for n in matlab_strings(f, "name")]
            attribute_names = matlab_strings(f, "AttrName")
            labels = matlab_array(f, "label")
        if labels.shape != (len(names), len(attribute_names)) or not np.isin(labels, (0, 1)).all():
            raise UserError(f"{att_path}: label must be {len(names)} x {len(attribute_names)} values 0/1 "
                            f"(one row per name), got shape {labels.shape}")
        with _open(idx_path) as f:
            parts = {s: _indices(f, f"indices_img_{s}", len(names)) for s in ("train", "test")}
        shared = np.intersect1d(parts["train"], parts["test"])
        if shared.size:
            raise UserError(f"{idx_path}: {shared.size} faces are in both indices_img_train and indices_img_test "
                            f"(first: {names[shared[0]]})")
        splits = {s: [FaceRecord(id=names[i], image=images / names[i], attributes=labels[i].astype(bool),
                                 groups=attribute_groups(attribute_names, labels[i].astype(bool)))
                      for i in rows] for s, rows in parts.items()}
        train, val = holdout(splits["train"], VAL_FRACTION)
        return DatasetSplits({"train": train, "val": val, "test": splits["test"]}, meta={
            "attribute_names": attribute_names,
            "groups": attribute_group_values(attribute_names),
            "groups_note": attribute_groups_note(attribute_names),
            "selection_note": f"LFWA has no validation split: val is {VAL_FRACTION:.0%} of indices_img_train "
                              "(farl_bench.data.splits.holdout)",
        })
