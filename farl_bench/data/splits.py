"""Deterministic training subsets: chosen by a stable hash of (seed, sample id), never by file order."""
from __future__ import annotations

import hashlib

from farl_bench.data.records import FaceRecord
from farl_bench.errors import UserError


def _rank(seed: int, sample_id: str) -> str:
    return hashlib.sha256(f"{seed}:{sample_id}".encode()).hexdigest()


def draw_fraction(records: list[FaceRecord], fraction: float, seed: int) -> list[FaceRecord]:
    """Keep int(N * fraction) records (at least one): those whose hash of (seed, id) ranks lowest.

    The kept set depends only on the ids, the fraction and the seed, and is returned in input order.
    """
    if not 0 < fraction <= 1:
        raise UserError(f"fraction {fraction} is outside (0, 1]: use e.g. --fractions 0.1,1.0")
    if fraction == 1:
        return list(records)
    n_keep = max(1, int(len(records) * fraction))
    keep = set(sorted(range(len(records)), key=lambda i: _rank(seed, records[i].id))[:n_keep])
    return [r for i, r in enumerate(records) if i in keep]


def fingerprint(records: list[FaceRecord]) -> str:
    """sha256 over the sorted ids: the identity of a subset."""
    return hashlib.sha256("\n".join(sorted(r.id for r in records)).encode()).hexdigest()
