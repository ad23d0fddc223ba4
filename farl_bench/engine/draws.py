"""The training subset of a cell (a fraction, k shots, or a given manifest) and its published manifest,
`<results>/splits/<task>/<budget>-<seed>.txt`, whose sha256 is the run's split fingerprint."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from farl_bench.data.records import FaceRecord
from farl_bench.data.splits import (class_of, draw_fraction, draw_shots, fingerprint, manifest_text, read_manifest,
                                    select_ids, shot_rule)
from farl_bench.plan import budget_label
from farl_bench.results.store import manifest_file, write_atomic


@dataclass(frozen=True)
class Draw:
    records: list[FaceRecord]
    budget: str        # '0.1', '5shot' or 'manifest-<12 hex>'
    rule: str          # how the records were chosen, in words (goes into the record)
    fingerprint: str   # sha256 of the manifest text

    def manifest(self) -> str:
        """The published manifest: the kept ids, one per line (its sha256 is `fingerprint`)."""
        return manifest_text(r.id for r in self.records)


def draw_train(train: list[FaceRecord], seed: int, fraction: float | None = None, shots: int | None = None,
               manifest: str | None = None) -> Draw:
    """The subset of the full train split a cell trains on."""
    if manifest is not None:
        records = select_ids(train, read_manifest(Path(manifest)), f"split manifest {manifest}")
        rule = f"the {len(records)} ids of the split manifest {manifest}"
    elif shots is not None:
        strata = shot_rule(train)
        records = draw_shots(train, shots, seed, strata)
        rule = f"{strata.describe}, k={shots}, ranked by sha256('{seed}:<id>') (farl_bench.data.splits.draw_shots)"
    else:
        stratify = class_of(train)
        records = draw_fraction(train, fraction, seed, stratify)
        how = "stratified by class, " if stratify else ""
        rule = (f"int(N x {fraction:g}) of the train split, {how}ranked by sha256('{seed}:<id>') "
                "(farl_bench.data.splits.draw_fraction)") if fraction < 1 else "the whole train split"
    digest = fingerprint(records)
    return Draw(records, budget_label(fraction, shots, digest if manifest else None), rule, digest)


def write_manifest(results: Path, task: str, seed: int, draw: Draw) -> Path:
    """Write the draw's manifest now (atomically; a run writes it with its record instead); its path."""
    path = results / manifest_file(task, draw.budget, seed)
    write_atomic(path, draw.manifest())
    return path
