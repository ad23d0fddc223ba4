"""The regression gate: a candidate's headline numbers against a baseline's, better / same / worse per
(backbone pair, protocol, task, budget, subset, metric), with Markdown and JUnit reports for CI.

Tolerance `auto` counts a change only beyond the noise: max(floor, 2 x sqrt(std_b^2 + std_c^2))
with the std over draws when both sides have several draws, else the two bootstrap 95%
half-widths combined, sqrt(hw_b^2 + hw_c^2). The floor is FLOOR x |baseline|. A number X instead
is a fixed tolerance in the metric's unit.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd

from farl_bench.errors import UserError
from farl_bench.results.leaderboard import long_table
from farl_bench.results.store import iter_records, runs_path, write_atomic

#: Relative floor of the auto tolerance: changes below 0.1% of the baseline value are never counted.
FLOOR = 1e-3
KEY = ["protocol", "task", "budget", "subset", "metric"]
REQUIRED = ["backbone", *KEY, "mean", "std", "ci_low", "ci_high", "n_draws", "unit", "higher_is_better",
            "headline", "task_version", "data_fingerprint"]
#: Statuses that fail the gate: a regression, and numbers the gate could not check.
FAILING = ("worse", "missing", "incomparable")


def load_long(path: Path) -> pd.DataFrame:
    """A long table from a results folder (aggregated from its runs.jsonl) or a results.csv file."""
    if path.is_dir():
        records = list(iter_records(path))
        if not records:
            raise UserError(f"no run records in {runs_path(path)}: point at a results folder or a results.csv")
        return long_table(records, path)
    if not path.is_file():
        raise UserError(f"{path} does not exist: give a results folder or a results.csv file")
    try:
        table = pd.read_csv(path, dtype={"budget": str, "task_version": str, "data_fingerprint": str})
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise UserError(f"{path} is not a CSV file ({err})") from None
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise UserError(f"{path} lacks column(s) {', '.join(missing)}: expected the long table "
                        "(results.csv written by `farl-bench leaderboard`)")
    return table


def parse_tolerance(text: str) -> float | None:
    """'auto' -> None; a non-negative number -> itself."""
    if text == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise UserError(f"--tolerance {text!r}: give auto or a non-negative number (in the metric's unit)")
    return value


def pair_backbones(baseline: pd.DataFrame, candidate: pd.DataFrame, pairs: list[str]) -> dict[str, str]:
    """Baseline backbone -> candidate backbone. Explicit 'BASE => CAND' pairs compare only those;
    without them one backbone on each side pairs up whatever the names, else names must match."""
    base_names, cand_names = list(dict.fromkeys(baseline["backbone"])), list(dict.fromkeys(candidate["backbone"]))
    if not pairs:
        if len(base_names) == 1 and len(cand_names) == 1:
            return {base_names[0]: cand_names[0]}
        return {name: name for name in base_names}
    mapping = {}
    for pair in pairs:
        base, sep, cand = (part.strip() for part in pair.partition("=>"))
        if not sep or not base or not cand:
            raise UserError(f"--pair {pair!r} is not 'BASELINE => CANDIDATE' (two backbone names)")
        for name, names, side in ((base, base_names, "baseline"), (cand, cand_names, "candidate")):
            if name not in names:
                raise UserError(f"--pair: backbone {name!r} is not in the {side} (it has: {', '.join(names)})")
        mapping[base] = cand
    return mapping


def _noise(base: pd.Series, cand: pd.Series) -> tuple[float, str]:
    if base.n_draws > 1 and cand.n_draws > 1 and math.isfinite(base["std"]) and math.isfinite(cand["std"]):
        return 2 * math.hypot(base["std"], cand["std"]), "2 x std over draws"
    half = [(row.ci_high - row.ci_low) / 2 for row in (base, cand)]
    if all(math.isfinite(h) for h in half):
        return math.hypot(*half), "bootstrap 95%"
    return 0.0, "floor"


def _identity(row: pd.Series) -> tuple[str, str]:
    """What must be equal for two numbers to be comparable: task settings and data copy."""
    return tuple("" if pd.isna(row[c]) else str(row[c]) for c in ("task_version", "data_fingerprint"))


def _tolerance(base: pd.Series, cand: pd.Series, tolerance: float | None, floor: float) -> tuple[float, str]:
    if tolerance is not None:
        return tolerance, "fixed"
    noise, basis = _noise(base, cand)
    least = floor * abs(base["mean"])
    return (noise, basis) if noise > least else (least, "floor")


def _status(gain: float, tolerance: float, base: float, cand: float) -> str:
    """better / same / worse; a number that became NaN (nothing left to score) is worse."""
    if math.isnan(base) or math.isnan(cand):
        return "same" if math.isnan(base) and math.isnan(cand) else "worse" if math.isnan(cand) else "better"
    return "worse" if gain < -tolerance else "better" if gain > tolerance else "same"


def compare(baseline: pd.DataFrame, candidate: pd.DataFrame, tolerance: float | None = None,
            pairs: list[str] | None = None, floor: float = FLOOR) -> pd.DataFrame:
    """One row per headline number of the baseline's paired backbones: both values, the change
    (delta = candidate - baseline; gain = the change in the better direction), the tolerance, its
    basis and a status: better, same, worse, missing (no candidate number) or incomparable
    (other task settings or another copy of the data)."""
    mapping = pair_backbones(baseline, candidate, pairs or [])
    base = baseline[baseline["headline"].astype(bool) & baseline["backbone"].isin(list(mapping))]
    found = {key: rows for key, rows in candidate.groupby(["backbone", *KEY], sort=False)}
    rows = []
    for _, b in base.iterrows():
        row = {"backbone": b.backbone, "candidate_backbone": mapping[b.backbone], **{k: b[k] for k in KEY},
               "unit": b.unit, "higher_is_better": bool(b.higher_is_better), "baseline": b["mean"]}
        matches = found.get((mapping[b.backbone], *(b[k] for k in KEY)))
        if matches is None:
            rows.append({**row, "candidate": math.nan, "status": "missing"})
            continue
        same = [c for _, c in matches.iterrows() if _identity(c) == _identity(b)]
        if not same:
            rows.append({**row, "candidate": matches["mean"].iloc[0], "status": "incomparable"})
            continue
        c = same[0]
        delta = c["mean"] - b["mean"]
        gain = delta if b.higher_is_better else -delta
        tol, basis = _tolerance(b, c, tolerance, floor)
        status = _status(gain, tol, b["mean"], c["mean"])
        rows.append({**row, "candidate": c["mean"], "delta": delta, "gain": gain, "tolerance": tol, "basis": basis,
                     "status": status})
    columns = ["backbone", "candidate_backbone", *KEY, "unit", "higher_is_better", "baseline", "candidate", "delta",
               "gain", "tolerance", "basis", "status"]
    return pd.DataFrame(rows, columns=columns)


def passed(verdict: pd.DataFrame) -> bool:
    return not verdict["status"].isin(FAILING).any()


def _name(row: pd.Series) -> str:
    subset = "" if row.subset == "test" else f"[{row.subset}]"
    pair = row.backbone if row.backbone == row.candidate_backbone else f"{row.backbone} => {row.candidate_backbone}"
    return f"{row.task}{subset}:{row.metric}@{row.budget} ({row.protocol}, {pair})"


def markdown(verdict: pd.DataFrame) -> str:
    """A summary line and one table row per number, failures first."""
    counts = verdict["status"].value_counts()
    summary = ", ".join(f"{counts[s]} {s}" for s in ("worse", "missing", "incomparable", "better", "same") if s in counts)
    lines = [f"**farl-bench compare: {'PASS' if passed(verdict) else 'FAIL'}** ({summary or 'nothing compared'})", "",
             "| status | number | baseline | candidate | change | tolerance |", "|---|---|---|---|---|---|"]
    order = verdict.assign(_o=~verdict["status"].isin(FAILING)).sort_values("_o", kind="stable")
    for _, r in order.iterrows():
        change = "" if pd.isna(r.get("delta")) else f"{r.delta:+.3f}"
        tol = "" if pd.isna(r.get("tolerance")) else f"±{r.tolerance:.3f} ({r.basis})"
        lines.append(f"| {r.status} | {_name(r).replace('|', '/')} | {r.baseline:.3f} | {r.candidate:.3f} | "
                     f"{change} | {tol} |")
    return "\n".join(lines) + "\n"


def junit(verdict: pd.DataFrame) -> str:
    """JUnit XML: one test case per number; worse, missing and incomparable ones fail."""
    failures = int(verdict["status"].isin(FAILING).sum())
    suite = ET.Element("testsuite", name="farl-bench compare", tests=str(len(verdict)), failures=str(failures))
    for _, r in verdict.iterrows():
        case = ET.SubElement(suite, "testcase", classname=f"farl_bench.{r.task}", name=_name(r))
        if r.status in FAILING:
            detail = (f"baseline {r.baseline:.4f}, candidate {r.candidate:.4f}" +
                      ("" if pd.isna(r.get("tolerance")) else f", change {r.delta:+.4f} beyond ±{r.tolerance:.4f} ({r.basis})"))
            ET.SubElement(case, "failure", message=f"{r.status}: {detail}", type=r.status).text = detail
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def gate(baseline: Path, candidate: Path, tolerance: str = "auto", pairs: list[str] | None = None,
         markdown_out: Path | None = None, junit_out: Path | None = None) -> pd.DataFrame:
    """Load both tables, compare them, write the Markdown and JUnit reports asked for; the verdict."""
    if not baseline.is_file():
        raise UserError(f"--baseline {baseline} is not a file: give a results.csv (e.g. results/baselines/...)")
    verdict = compare(load_long(baseline), load_long(candidate), parse_tolerance(tolerance), pairs)
    if verdict.empty:
        raise UserError(f"nothing to compare: {baseline} holds no headline numbers of the backbones paired")
    if markdown_out is not None:
        write_atomic(markdown_out, markdown(verdict))
    if junit_out is not None:
        write_atomic(junit_out, junit(verdict))
    return verdict
