"""`farl_bench.evaluate`: `farl-bench run` from Python, with the same plan, cell keys, records and resume."""
from __future__ import annotations

import dataclasses
import difflib
import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from farl_bench.errors import UserError

#: RunOptions fields that evaluate() sets from its own arguments, not from **settings.
_OWN = {"data_root", "results"}


def _names(value: str | Iterable[str]) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    return [v.strip() for item in items for v in str(item).split(",") if v.strip()]


def _numbers(value: Any, kind: type, what: str) -> list:
    if value is None:
        return []
    items = _names(value) if isinstance(value, str) else value if isinstance(value, Iterable) else [value]
    try:
        return [kind(v) for v in items]
    except (TypeError, ValueError):
        raise UserError(f"evaluate(): {what}={value!r}: expected numbers, a list or a comma-separated string") from None


def evaluate(backbones: str | Iterable[str], tasks: str | Iterable[str], protocols: str | Iterable[str] = "linear",
             *, data_root: str | Path | None = None, fractions: Any = None, shots: Any = None, seeds: Any = None,
             split_manifest: str | Path | None = None, results: str | Path = "results",
             **settings: Any) -> pd.DataFrame:
    """Run backbones x tasks x protocols x budgets x seeds as `farl-bench run` does and return the
    long results table (the content of RESULTS/results.csv: one row per number, over every record
    in the folder).

    Names and numbers are lists or comma-separated strings (``"pixels,hog"``, ``"0.1,1"``).
    `data_root` defaults to $FARL_BENCH_DATA, else ``datasets``; `results` to ``results``, as on the
    command line. Cells already recorded in `results` are skipped (``force=True`` re-runs them).
    `settings` are the run options (`farl_bench.engine.runner.RunOptions`): e.g. ``device="auto"``
    (the default), ``precision``, ``batch_size``, ``overrides={"input_size": 112}`` (the CLI's
    ``--set``), ``dataset_roots={"celeba": "/data/CelebA"}``, ``select_on``, ``bootstrap``, ``force``.
    """
    from farl_bench.engine import distributed
    from farl_bench.engine.runner import RunOptions, run_cells
    from farl_bench.plan import expand
    from farl_bench.progress import no_bars
    from farl_bench.results.leaderboard import LONG_CSV, write_tables

    known = [f.name for f in dataclasses.fields(RunOptions) if f.name not in _OWN]
    for name in settings:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            raise UserError(f"evaluate(): unknown setting {name!r}" + (f"; did you mean {close[0]!r}?" if close else
                                                                       f"; settings: {', '.join(known)}"))
    settings = {"device": "auto", **settings}
    settings["dataset_roots"] = {k: Path(v) for k, v in (settings.get("dataset_roots") or {}).items()}
    if settings.get("cache_dir") is not None:
        settings["cache_dir"] = Path(settings["cache_dir"])
    cells = expand(_names(backbones), _names(tasks), _names(protocols), _numbers(fractions, float, "fractions"),
                   None if seeds is None else _numbers(seeds, int, "seeds"), _numbers(shots, int, "shots"),
                   None if split_manifest is None else Path(split_manifest))
    results = Path(results)
    root = Path(data_root if data_root is not None else os.environ.get("FARL_BENCH_DATA", "datasets"))
    run_cells(cells, RunOptions(root, results, **settings), no_bars)
    if not distributed.is_main():
        return pd.DataFrame()  # under torchrun the main process writes and reads the tables
    write_tables(results)
    return pd.read_csv(results / LONG_CSV)
