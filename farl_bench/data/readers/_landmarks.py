"""Helpers shared by the alignment readers: flip permutations and normaliser definitions.

A flip permutation lists, for each point index, the index it becomes after a horizontal flip.
Normalisers use the format of `DatasetSplits.meta["normalisers"]`.
"""
from __future__ import annotations

from collections.abc import Iterable


def permutation_from_pairs(n: int, pairs: Iterable[tuple[int, int]]) -> list[int]:
    """The n-point flip permutation that swaps each (i, j) of `pairs` and keeps the other points."""
    perm = list(range(n))
    for i, j in pairs:
        perm[i], perm[j] = j, i
    return perm


def points_normaliser(a: Iterable[int], b: Iterable[int]) -> dict:
    """Distance between the mean of points `a` and the mean of points `b` (0-based indices)."""
    return {"type": "points", "a": list(a), "b": list(b)}
