"""Deterministic training subsets: chosen by a stable hash of (seed, sample id), never by file order.

A draw keeps a fraction of the training split (`draw_fraction`, stratified by class where the
records carry one) or k shots per stratum (`draw_shots`). Every draw is published as a manifest,
its sorted ids one per line (`manifest_text`); the sha256 of that text is its `fingerprint`.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from farl_bench.data.records import FaceRecord
from farl_bench.errors import UserError

log = logging.getLogger(__name__)

#: The strata a record counts towards in a shots draw.
StrataOf = Callable[[FaceRecord], Iterable[Hashable]]


def _rank(seed: int | str, sample_id: str) -> str:
    return hashlib.sha256(f"{seed}:{sample_id}".encode()).hexdigest()


def class_of(records: list[FaceRecord]) -> Callable[[FaceRecord], Hashable] | None:
    """The single class label fraction draws stratify by: the expression when every record has one."""
    if records and all(r.expression is not None for r in records):
        return lambda r: r.expression
    return None


@dataclass(frozen=True)
class ShotRule:
    """What one shot counts: `describe` says it in words, `strata` maps a record to its strata."""

    describe: str
    strata: StrataOf


def shot_rule(records: list[FaceRecord]) -> ShotRule:
    """k per class (expression), k per attribute value (positives and negatives of each attribute),
    k per subject (datasets with subject ids), else k images."""
    if records and all(r.expression is not None for r in records):
        return ShotRule("k faces per expression class", lambda r: [("class", r.expression)])
    if records and all(r.attributes is not None for r in records):
        return ShotRule("k positives and k negatives per attribute, rarest first",
                        lambda r: [(a, bool(v)) for a, v in enumerate(r.attributes)])
    if records and all(r.subject is not None for r in records):
        return ShotRule("k faces per subject", lambda r: [("subject", r.subject)])
    return ShotRule("k faces", lambda r: [()])


def draw_fraction(records: list[FaceRecord], fraction: float, seed: int,
                  stratify: Callable[[FaceRecord], Hashable] | None = None) -> list[FaceRecord]:
    """Keep int(N * fraction) records (at least one), in input order.

    Unstratified: those whose sha256('<seed>:<id>') ranks lowest. Stratified: records are ranked
    within their class by that hash and ordered by (rank / class size, hash), so the first C kept
    are one per class and the rest follow the class proportions; every class is present when
    int(N * fraction) >= C. Either way the kept set depends only on ids, labels, fraction and seed.
    """
    if not 0 < fraction <= 1:
        raise UserError(f"fraction {fraction} is outside (0, 1]: use e.g. --fractions 0.1,1.0")
    if fraction == 1:
        return list(records)
    n_keep = max(1, int(len(records) * fraction))
    ranked = sorted(range(len(records)), key=lambda i: _rank(seed, records[i].id))
    if stratify is not None:
        members: dict[Hashable, list[int]] = {}
        for i in ranked:
            members.setdefault(stratify(records[i]), []).append(i)
        quantile = {i: Fraction(pos, len(rows)) for rows in members.values() for pos, i in enumerate(rows)}
        ranked = sorted(ranked, key=lambda i: quantile[i])  # stable: ties stay in hash order
    keep = set(ranked[:n_keep])
    return [r for i, r in enumerate(records) if i in keep]


def draw_shots(records: list[FaceRecord], shots: int, seed: int, rule: ShotRule) -> list[FaceRecord]:
    """Keep at least `shots` records of every stratum of `rule` (all of a smaller one), in input order.

    Greedy, rarest stratum first (ties by name): a stratum takes its lowest-ranked records by
    sha256('<seed>:<id>') until the kept set holds `shots` of it; records kept for one stratum count
    for every stratum they belong to. For single-label strata that is exactly k per class.
    """
    if shots < 1:
        raise UserError(f"shots {shots} must be a positive integer: use e.g. --shots 1,5,10")
    members: dict[Hashable, list[int]] = {}
    for i in sorted(range(len(records)), key=lambda i: _rank(seed, records[i].id)):
        for stratum in rule.strata(records[i]):
            members.setdefault(stratum, []).append(i)
    keep: set[int] = set()
    short = []
    for stratum, rows in sorted(members.items(), key=lambda item: (len(item[1]), repr(item[0]))):
        missing = shots - sum(i in keep for i in rows)
        for i in (i for i in rows if i not in keep):
            if missing <= 0:
                break
            keep.add(i)
            missing -= 1
        if len(rows) < shots:
            short.append(repr(stratum))
    if short:
        log.warning("%d-shot draw: %d stratum(s) have fewer faces, all kept (%s)", shots, len(short),
                    ", ".join(short[:5]))
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


def manifest_text(ids: Iterable[str]) -> str:
    """The published form of a subset: its ids sorted, one per line, each line ending in a newline."""
    ids = sorted(ids)
    bad = [i for i in ids if "\n" in i or "\r" in i or i != i.strip()]
    if bad:
        raise UserError(f"sample id {bad[0]!r} cannot go in a manifest (line breaks or edge whitespace)")
    return "".join(f"{i}\n" for i in ids)


def fingerprint(records: list[FaceRecord]) -> str:
    """sha256 of `manifest_text`: the identity of a subset, equal to the sha256 of its manifest file."""
    return hashlib.sha256(manifest_text(r.id for r in records).encode()).hexdigest()


def read_manifest(path: Path) -> list[str]:
    """Ids from a manifest file, one per line (blank lines ignored); a repeated id is an error."""
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"split manifest {path} cannot be read ({err})") from None
    ids = [line.strip() for line in lines if line.strip()]
    if not ids:
        raise UserError(f"split manifest {path} holds no ids: expected one sample id per line")
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise UserError(f"split manifest {path}: id {i!r} is listed twice")
        seen.add(i)
    return ids


def select_ids(records: list[FaceRecord], ids: list[str], source: str) -> list[FaceRecord]:
    """The records named by `ids` (from `source`, for messages), in input order; unknown ids are an error."""
    known = {r.id for r in records}
    unknown = [i for i in ids if i not in known]
    if unknown:
        listing = ", ".join(unknown[:5]) + (f" ... ({len(unknown)} in all)" if len(unknown) > 5 else "")
        raise UserError(f"{source}: {len(unknown)} id(s) are not in the training split: {listing}")
    wanted = set(ids)
    return [r for r in records if r.id in wanted]
