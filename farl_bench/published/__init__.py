"""Numbers the papers report, kept beside ours and never mixed with them: `published/*.yaml` loaded into
validated `PublishedNumber`s. Each YAML file holds `defaults` (fields shared by its entries) and
`entries` (one per number a paper reports), every value in our metric's unit, with where it was read."""
from __future__ import annotations

import math
import re
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from farl_bench.errors import UserError
from farl_bench.plan import budget_label

PUBLISHED_DIR = Path(__file__).resolve().parent
#: The protocol of a number whose source does not say how the backbone was trained on the task.
UNSTATED = "unstated"
#: What the `weights` column says of a published row: it is a number read in a paper, not measured here.
PUBLISHED = "published"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    paper: str = Field(min_length=1, description="paper (and venue, year) the number is from")
    table: str = Field(min_length=1, description="table, column or sentence holding the number")
    read_at: str = Field(min_length=1, description="where we read it: an address, or ../shared/PROTOCOLS.md")


class PublishedNumber(_Strict):
    method: str = Field(min_length=1)
    backbone: str = Field(min_length=1)
    pretraining: str = Field(min_length=1, description="pre-training data (and epochs)")
    task: str
    subset: str = "test"
    protocol: str = Field(description=f"one of our protocols, or {UNSTATED!r}")
    input_size: int | None = Field(None, gt=0, description="network input side; None where the source does not say")
    budget: str = Field(description="our budget label: '1' (full data), '0.1', '5shot'")
    metric: str
    value: float
    note: str = ""
    source: Source

    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, value: Any) -> str:
        """A fraction in (0, 1] as our tables write it (1.0 -> '1'), or '<k>shot'."""
        if isinstance(value, str) and re.fullmatch(r"[1-9]\d*shot", value):
            return value
        try:
            fraction = float(value)
        except (TypeError, ValueError):
            raise ValueError("expected a training fraction in (0, 1] or '<k>shot'") from None
        if not 0 < fraction <= 1:
            raise ValueError("expected a training fraction in (0, 1] or '<k>shot'")
        return budget_label(fraction, None)

    @property
    def model(self) -> str:
        """The row a number shows in: method, backbone and pre-training data."""
        return f"{self.method} {self.backbone} [{self.pretraining}]"

    @property
    def fraction(self) -> float | None:
        return None if self.budget.endswith("shot") else float(self.budget)

    @property
    def shots(self) -> int | None:
        return int(self.budget[:-4]) if self.budget.endswith("shot") else None

    def cite(self) -> str:
        return f"{self.source.paper}, {self.source.table} (read at {self.source.read_at})"


def unit_of(metric: str) -> str:
    """The unit our scorers give `metric` (README "Metrics"): MAE in years, the ε-error a fraction,
    everything else (F1, accuracies, NME x 100, AUC, FR, CS@k) in %."""
    return {"mae": "years", "eps_error": "fraction"}.get(metric.split("/")[0], "%")


def value_range(metric: str) -> tuple[float, float]:
    """Where a value of `metric` can lie: shares in % within 0..100, a fraction within 0..1, errors
    (NME in % of a normaliser, MAE in years) from 0 up."""
    unit = unit_of(metric)
    if unit == "%" and not metric.startswith("nme"):
        return 0.0, 100.0
    return (0.0, 1.0) if unit == "fraction" else (0.0, math.inf)


def _entries(path: Path) -> list[dict[str, Any]]:
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise UserError(f"{path} is not valid YAML ({getattr(err, 'problem', None) or 'syntax error'}): "
                        "fix the file") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("entries"), list) or set(raw) - {"defaults", "entries"}:
        raise UserError(f"{path} must hold a mapping with `entries` (a list) and optional `defaults`")
    defaults = raw.get("defaults") or {}
    return [{**defaults, **entry} if isinstance(entry, dict) else entry for entry in raw["entries"]]


def _parse(path: Path, index: int, raw: Any) -> PublishedNumber:
    try:
        return PublishedNumber.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(entry)"
        raise UserError(f"{path}: entry {index + 1}: key {key!r}: {first['msg']}") from None


def _check(path: Path, index: int, number: PublishedNumber) -> None:
    """The task exists, the metric is one its family gives, the protocol is ours and the value can be."""
    from farl_bench.registry import PROTOCOLS
    from farl_bench.tasks import load_task, make_family

    where = f"{path}: entry {index + 1} ({number.task}:{number.metric})"
    try:
        spec = load_task(number.task)
    except UserError as err:  # an unknown task, with the known ones
        raise UserError(f"{where}: {err}") from None
    known = make_family(spec).metric_names(None) or []
    if not any(fnmatchcase(number.metric, pattern) for pattern in known):
        raise UserError(f"{where}: {number.metric!r} is not a metric of the {spec.family} family "
                        f"(known: {', '.join(known)})")
    if number.protocol != UNSTATED and number.protocol not in PROTOCOLS:
        raise UserError(f"{where}: protocol {number.protocol!r} is not one of {', '.join(PROTOCOLS.names())} "
                        f"or {UNSTATED!r}")
    low, high = value_range(number.metric)
    if not low <= number.value <= high:
        raise UserError(f"{where}: value {number.value} is outside {low}..{high} ({unit_of(number.metric)}): "
                        "store it in our metric's unit")


def _load(folder: Path) -> list[PublishedNumber]:
    numbers: list[PublishedNumber] = []
    seen: dict[tuple, str] = {}
    for path in sorted(folder.glob("*.yaml")):
        for index, raw in enumerate(_entries(path)):
            number = _parse(path, index, raw)
            _check(path, index, number)
            key = (number.model, number.protocol, number.task, number.subset, number.metric, number.budget)
            if key in seen:
                raise UserError(f"{path}: entry {index + 1} repeats {seen[key]}: one number per model, task, "
                                "subset, metric and budget")
            seen[key] = f"entry {index + 1} of {path.name}"
            numbers.append(number)
    return numbers


def load_published(task: str | None = None, folder: Path = PUBLISHED_DIR) -> list[PublishedNumber]:
    """Every published number in `folder`'s YAML files (of `task` where given), checked; a bad entry is a
    UserError naming its file and position."""
    return [n for n in _load(folder) if task is None or n.task == task]
