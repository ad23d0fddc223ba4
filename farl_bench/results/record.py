"""`RunRecord`: what one finished cell wrote, one JSON object per line of runs.jsonl.

The JSON keys are the field names. Fields added after the first records were written have defaults,
so older files still load; keys this version does not know are kept (`model_extra`) and written back
unchanged, so a merge never drops what a newer version recorded.
"""
from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from farl_bench.families.base import Metric
from farl_bench.plan import budget_label


class BootstrapRef(BaseModel):
    """Where a run's bootstrap replicates are (relative to the results folder) and how they were drawn."""

    model_config = ConfigDict(frozen=True, extra="allow")

    file: str
    replicates: int
    seed: int


class RunRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    # the cell
    key: str
    backbone: str  # display name: the label given as LABEL=SPEC, else the spec
    task: str
    task_version: str
    protocol: str
    seed: int
    fraction: float | None = None
    shots: int | None = None
    budget: str = ""  # '0.1', '5shot' or 'manifest-<12 hex>' (older records: made from fraction and shots)
    protocol_revision: int = 1
    # the backbone
    backbone_spec: str = ""  # the canonical spec (older records: the same as backbone)
    backbone_fingerprint: str = ""
    backbone_params: int | None = None
    weights: str | None = None  # "random-init" | "file <sha256>" | "hub <repo>@<revision> <sha256>"; None: older
    preprocess: dict[str, Any] = {}
    # the task and its data
    family: str = ""
    dataset: str = ""
    data_root: str = ""
    data_fingerprint: str = ""
    settings: dict[str, Any] = {}
    subset_rules: dict[str, Any] = {}
    skipped_samples: dict[str, int] = {}
    # the training subset
    n_train: int
    n_val: int | None = None
    n_test: int | None = None
    n_train_pool: int | None = None
    split_fingerprint: str = ""
    split_rule: str = ""
    split_manifest: str | None = None  # relative to the results folder
    # selection and scores
    hparam_grid: dict[str, Any] = {}
    hparams: dict[str, Any] = {}
    trainable_params: int | None = None  # of the trained model (head, plus backbone or adapters); None: not counted
    adapter: dict[str, Any] | None = None  # lora: the adapters' settings (peft version, rank, alpha, layers)
    selection_split: str
    selection_scores: list[dict[str, Any]] = []
    metrics: dict[str, dict[str, Metric]]  # test subset -> metric name -> value
    headline_metrics: list[str]
    subset_sizes: dict[str, int] = {}
    bootstrap: BootstrapRef | None = None
    examples: str | None = None  # relative to the results folder
    slices: dict[str, Any] | None = None  # per demographic attribute (results.slices.slice_scores); None: no groups
    predictions: str | None = None  # the test predictions in `score`'s format (relative to the results folder)
    # how it ran
    precision: str = "fp32"
    device: str = ""
    device_name: str = ""
    processes: int = 1
    determinism: dict[str, Any] = {}
    versions: dict[str, str | None] = {}
    wall_time_s: float | None = None
    created_at: str = ""

    @model_validator(mode="before")
    @classmethod
    def _fill_older(cls, data: Any) -> Any:
        """Derive what records written before these fields existed left out."""
        if isinstance(data, dict):
            if not data.get("budget") and (data.get("fraction") is not None or data.get("shots") is not None):
                data = {**data, "budget": budget_label(data.get("fraction"), data.get("shots"))}
            if not data.get("backbone_spec") and "backbone" in data:
                data = {**data, "backbone_spec": data["backbone"]}
        return data

    def side_files(self) -> list[str]:
        """The files beside runs.jsonl this record points at, relative to its results folder."""
        return [p for p in (self.bootstrap.file if self.bootstrap else None, self.examples, self.predictions,
                            self.split_manifest) if p]

    def to_json(self) -> str:
        """One line of runs.jsonl (keys sorted, without the newline)."""
        return json.dumps(self.model_dump(), sort_keys=True)
