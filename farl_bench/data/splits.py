"""Deterministic training subsets: chosen by a stable hash of (seed, sample id), never by file order."""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from farl_bench.data.records import FaceRecord
from farl_bench.errors import UserError


def _rank(seed: int | str, sample_id: str) -> str:
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


def holdout(records: list[FaceRecord], fraction: float = 0.1,
            salt: str = "farl-bench-val") -> tuple[list[FaceRecord], list[FaceRecord]]:
    """Split off a fixed validation set for datasets that publish none: (train, val).

    The same ids always go to val, whatever the file order or platform: the `fraction` of ids
    whose hash with `salt` ranks lowest. Published so that no protocol ever selects on test.
    """
    n_val = max(1, round(len(records) * fraction))
    ranked = sorted(range(len(records)), key=lambda i: _rank(salt, records[i].id))
    val = set(ranked[:n_val])
    return ([r for i, r in enumerate(records) if i not in val], [r for i, r in enumerate(records) if i in val])


def hash_split(records: list[FaceRecord], fractions: Mapping[str, float], salt: str,
               key: Callable[[FaceRecord], str] = lambda r: r.id) -> dict[str, list[FaceRecord]]:
    """Split records into named parts by fixed fractions, for datasets that publish no split.

    The K distinct keys (record ids by default; person ids keep a person in one part) are ranked
    by sha256 of '<salt>:<key>'. Each part after the first takes the next max(1, round(K * fraction))
    keys of the ranking, in the order of `fractions`; the first part takes the keys left. So the
    parts depend only on the keys, never on file order. Records keep their input order.
    """
    if any(f <= 0 for f in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-9:
        raise UserError(f"split fractions {dict(fractions)} must be positive and sum to 1")
    keys = sorted({key(r) for r in records}, key=lambda k: _rank(salt, k))
    names = list(fractions)
    sizes = [max(1, round(len(keys) * fractions[name])) for name in names[1:]]
    if sum(sizes) >= len(keys):
        raise UserError(f"{len(keys)} distinct keys are too few to split into {', '.join(names)}")
    part_of: dict[str, str] = {}
    start = 0
    for name, size in zip(names[1:], sizes):
        part_of.update(dict.fromkeys(keys[start:start + size], name))
        start += size
    part_of.update(dict.fromkeys(keys[start:], names[0]))
    parts: dict[str, list[FaceRecord]] = {name: [] for name in names}
    for r in records:
        parts[part_of[key(r)]].append(r)
    return parts


def fingerprint(records: list[FaceRecord]) -> str:
    """sha256 over the sorted ids: the identity of a subset."""
    return hashlib.sha256("\n".join(sorted(r.id for r in records)).encode()).hexdigest()
