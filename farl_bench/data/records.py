"""The one record type every reader returns, and the per-dataset bundle of splits."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class FaceRecord:
    """One face. Only the targets the dataset has are set.

    landmarks: K x 2 float, pixels of the original image (0-based). bbox: x_min, y_min, x_max, y_max.
    attributes: (A,) bool. age: years. expression: class index in the dataset meta's label order.
    tags: names of the test subsets the face belongs to (e.g. ``challenging``).
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


@dataclass
class DatasetSplits:
    """Records per split (``train``, ``val``, ``test``) plus dataset meta (label names, ...)."""

    splits: dict[str, list[FaceRecord]]
    meta: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> list[FaceRecord]:
        return self.splits[name]

    def test_subsets(self) -> dict[str, list[int]]:
        """Row indices into the test split per subset; ``test`` is the whole split."""
        test = self.splits["test"]
        subsets = {"test": list(range(len(test)))}
        for tag in sorted({t for r in test for t in r.tags}):
            subsets[tag] = [i for i, r in enumerate(test) if tag in r.tags]
        return subsets
