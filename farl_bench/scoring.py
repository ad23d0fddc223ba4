"""Scoring predictions made elsewhere with the suite's own metrics (one JSON line per test face)."""
from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from farl_bench.data.dataset import read_dataset
from farl_bench.errors import UserError
from farl_bench.families.base import Family
from farl_bench.tasks import load_task, make_family


def _rows(predictions: str | Path | Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The prediction rows of a JSONL file (blank lines skipped) or of an iterable, each checked to
    be an object with an id; errors name the line (file) or the position (iterable)."""
    if isinstance(predictions, (str, Path)):
        path = Path(predictions)
        if not path.is_file():
            raise UserError(f"predictions file {path} does not exist")
        numbered = []
        try:  # .gz: as `run --save-predictions` writes them
            text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
        except (OSError, EOFError, UnicodeDecodeError) as err:
            raise UserError(f"cannot read predictions file {path} ({err}): give a JSONL file, or gzip'ed JSONL "
                            "named .gz") from None
        for no, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    numbered.append((f"{path}:{no}", json.loads(line)))
                except json.JSONDecodeError as err:
                    raise UserError(f"{path}:{no} is not JSON ({err.msg})") from None
    else:
        numbered = [(f"prediction {no}", row) for no, row in enumerate(predictions, start=1)]
    for where, row in numbered:
        if not isinstance(row, dict) or "id" not in row:
            raise UserError(f"{where} must be an object with an 'id'")
    return [row for _, row in numbered]


def _listing(ids: list[str]) -> str:
    return ", ".join(ids[:10]) + (f" ... ({len(ids)} in all)" if len(ids) > 10 else "")


def _mixed_forms(family: Family, parsed: dict[str, Any]) -> list[str]:
    """Faces whose prediction takes another form than most faces' (e.g. a class index among class
    probabilities): one file must take one form, or the faces would be scored by different rules."""
    forms = {rid: family.prediction_form(value) for rid, value in parsed.items()}
    counts = Counter(forms.values())
    if len(counts) < 2:
        return []
    usual = counts.most_common(1)[0][0]
    return [f"{rid} ({form}, while the other faces give {usual})" for rid, form in forms.items() if form != usual]


def score(task: str, predictions: str | Path | Iterable[dict[str, Any]], data_root: str | Path = "datasets",
          overrides: dict[str, Any] | None = None, dataset_root: str | Path | None = None,
          ) -> dict[str, dict[str, dict[str, Any]]]:
    """Metrics per test subset for outside predictions of `task`'s test split.

    predictions: a JSONL path or an iterable of dicts, each {"id": <record id>, <field>: value} with
    the family's field (landmarks, mask, attributes, age, expression). Every test id exactly once.
    Returns {subset: {metric: {"value", "unit", "higher_is_better"}}}.
    """
    spec = load_task(task, overrides)
    roots = {spec.dataset: Path(dataset_root)} if dataset_root else {}
    data, _ = read_dataset(spec, Path(data_root), roots)
    family = make_family(spec, data.meta)
    base = Path(predictions).parent if isinstance(predictions, (str, Path)) else Path(".")
    rows = _rows(predictions)
    test = data.split("test")
    targets = {r.id: family.target(r, data) for r in test}  # once: every subset reuses them
    seen: dict[str, Any] = {}
    duplicate, unknown, bad, bad_ids = [], [], [], set()
    for row in rows:
        rid = str(row["id"])
        if rid not in targets:
            unknown.append(rid)
        elif rid in seen or rid in bad_ids:
            duplicate.append(rid)
        elif family.prediction_field not in row:
            bad.append(f"{rid} (no {family.prediction_field!r})")
            bad_ids.add(rid)
        else:
            try:
                prediction = family.parse_prediction(row[family.prediction_field], base, data.meta)
                family.check_prediction(prediction, targets[rid])
                seen[rid] = prediction
            except (ValueError, TypeError, OSError) as err:
                bad.append(f"{rid} ({err})")
                bad_ids.add(rid)
    bad += _mixed_forms(family, seen)
    missing = [r.id for r in test if r.id not in seen and r.id not in bad_ids]
    problems = [f"{label}: {_listing(ids)}" for label, ids in
                (("missing ids", missing), ("duplicate ids", duplicate), ("unknown ids", unknown),
                 ("unreadable predictions", bad)) if ids]
    if problems:
        raise UserError(f"predictions for task {task!r} do not match its test split ({len(test)} faces): "
                        + "; ".join(problems))
    subsets = data.test_subsets()
    out = {}
    for name, rows_idx in subsets.items():
        records = [test[i] for i in rows_idx]
        metrics = family.score([seen[r.id] for r in records], [targets[r.id] for r in records], data.meta)
        out[name] = {m: {"value": v.value, "unit": v.unit, "higher_is_better": v.higher_is_better}
                     for m, v in metrics.items()}
    return out
