"""The one record type every reader returns, and the per-dataset bundle of splits."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from farl_bench.errors import UserError


@dataclass(frozen=True)
class FaceRecord:
    """One face. Only the targets the dataset has are set.

    landmarks: K x 2 float, pixels of the original image (0-based). bbox: x_min, y_min, x_max, y_max.
    attributes: (A,) bool. age: years. expression: class index in the dataset meta's label order.
    tags: names of the test subsets the face belongs to (e.g. ``challenging``).
    subject: the person's id where the dataset gives one (k-shot draws count faces per subject).
    groups: demographic attribute -> the face's group (lower-case names, readable values, e.g.
    {"gender": "female", "race": "black", "age_group": "20-29"}); values come from the dataset
    meta's ``groups`` lists; an attribute the annotators left unsure is absent.
    """

    id: str
    image: Path
    mask: Path | None = None
    landmarks: np.ndarray | None = None
    bbox: np.ndarray | None = None
    attributes: np.ndarray | None = None
    age: float | None = None
    age_std: float | None = None
    expression: int | None = None
    tags: frozenset[str] = frozenset()
    subject: str | None = None
    groups: dict[str, str] = field(default_factory=dict)


def read_label_png(record: FaceRecord) -> np.ndarray:
    """The record's mask file as an H x W uint8 label map (one 8-bit PNG, values = class ids)."""
    try:
        with Image.open(record.mask) as img:
            if img.mode not in ("L", "P"):
                raise UserError(f"mask {record.mask} is {img.mode}, expected an 8-bit label map (L or P)")
            return np.asarray(img)
    except (FileNotFoundError, OSError) as err:
        raise UserError(f"mask {record.mask} cannot be read ({err}); check the dataset tree") from None


@dataclass
class DatasetSplits:
    """Records per split (``train``, ``val``, ``test``) plus dataset meta.

    meta keys, where the dataset has them:
      attribute_names (list[str]); label_names (parsing class names, index = label id);
      expression_names (index = class id); num_landmarks (int); flip_permutation (list[int]:
      landmark index after a horizontal flip); alignment_points (5 landmark indices: eye centres,
      nose tip, mouth corners); normalisers (name -> definition, e.g. {"type": "points", "a": [36],
      "b": [45]} for the distance of the means of two point sets, {"type": "bbox_sqrt_area"},
      {"type": "bbox_diag"}); subset_rules (subset name -> how it was chosen); selection_note
      (how the validation split was made when the dataset has none); groups (demographic
      attribute -> its ordered group values, every value a record's ``groups`` may hold; absent or
      empty: the dataset has no group labels, so no per-group slices); groups_note (where the
      group labels come from, or why there are none).
    load_mask turns a record into its H x W uint8 label map (readers of datasets with several
    part files per face replace it).
    """

    splits: dict[str, list[FaceRecord]]
    meta: dict[str, Any] = field(default_factory=dict)
    load_mask: Callable[[FaceRecord], np.ndarray] = read_label_png

    def split(self, name: str) -> list[FaceRecord]:
        return self.splits[name]

    def test_subsets(self) -> dict[str, list[int]]:
        """Row indices into the test split per subset; ``test`` is the whole split."""
        test = self.splits["test"]
        subsets = {"test": list(range(len(test)))}
        for tag in sorted({t for r in test for t in r.tags}):
            subsets[tag] = [i for i, r in enumerate(test) if tag in r.tags]
        return subsets
