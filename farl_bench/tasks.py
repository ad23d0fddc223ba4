"""Task specs: `tasks/<name>.yaml` loaded into a validated `TaskSpec`, with overrides and a version hash."""
from __future__ import annotations

import difflib
import hashlib
import json
import os
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from farl_bench.errors import UserError
from farl_bench.packaged import packaged
from farl_bench.registry import DATASETS, FAMILIES, PROTOCOLS

if TYPE_CHECKING:  # the families import torch and the backbones; data/ imports this module
    from farl_bench.families.base import Family

#: Built-in task specs: tasks/ at the repository root, shipped in the wheel as farl_bench/builtin_tasks/.
BUILTIN_TASKS_DIR = packaged("builtin_tasks", "tasks")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CropSpec(Strict):
    """How a face is cut from the original image before the network sees it.

    resize: the whole image. bbox: the record's box, made square, scaled by `zoom`.
    align5: 5-point similarity to FaRL's template on a `canvas` px square (landmark indices from
    the dataset meta's alignment_points), then an optional RoI tanh-warp of strength `tanh_warp`.
    """

    kind: Literal["resize", "bbox", "align5"] = "resize"
    zoom: float = Field(1.0, gt=0)
    canvas: int = Field(512, gt=0)
    tanh_warp: float = Field(0.0, ge=0)


class TaskSpec(Strict):
    name: str
    family: str
    dataset: str
    description: str = ""
    reader: dict[str, Any] = {}
    family_options: dict[str, Any] = {}
    crop: CropSpec = CropSpec()
    input_size: int | None = Field(None, gt=0, description="network input side; None = the backbone's")
    metrics: list[str] = Field(min_length=1, description="headline metrics shown in the leaderboard")
    protocols: dict[str, dict[str, Any]] = {}

    def version_for(self, protocol: str) -> str:
        """Short hash of the resolved spec with only `protocol`'s section of `protocols`: the version
        of that protocol's cells, which a setting of another protocol leaves as it was."""
        spec = self.model_dump(mode="json")
        spec["protocols"] = {name: section for name, section in spec["protocols"].items() if name == protocol}
        return _short_hash(spec)

    def protocol_hparams(self, protocol: str) -> dict[str, Any]:
        return dict(self.protocols.get(protocol, {}))


def _short_hash(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]


def task_dirs() -> list[Path]:
    """Where task specs are looked up: $FARL_BENCH_TASKS (os.pathsep-separated) first, then built-ins."""
    extra = [Path(p) for p in os.environ.get("FARL_BENCH_TASKS", "").split(os.pathsep) if p]
    for folder in extra:
        if not folder.is_dir():
            raise UserError(f"$FARL_BENCH_TASKS names {folder}, which is not a folder: create it, or fix "
                            "or unset the variable")
    return [*extra, BUILTIN_TASKS_DIR]


def task_names() -> list[str]:
    return sorted({p.stem for d in task_dirs() if d.is_dir() for p in d.glob("*.yaml")})


def find_task_file(name: str) -> Path:
    if name.endswith((".yaml", ".yml")):
        path = Path(name)
        if not path.is_file():
            raise UserError(f"task spec file {path} does not exist")
        return path
    for d in task_dirs():
        if (d / f"{name}.yaml").is_file():
            return d / f"{name}.yaml"
    close = difflib.get_close_matches(name, task_names(), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UserError(f"unknown task {name!r}.{hint} Known: {', '.join(task_names())}.")


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`key.sub=value` strings into a flat dict; values are parsed as YAML (so 112 is an int)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"override {item!r} is not KEY=VALUE (for example --set input_size=112)")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _apply(raw: dict[str, Any], overrides: dict[str, Any], source: Path) -> dict[str, Any]:
    raw = json.loads(json.dumps(raw))  # deep copy of plain data
    for dotted, value in overrides.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise UserError(f"override {dotted!r}: {part!r} in {source} is not a mapping")
        node[leaf] = value
    return raw


def _explain(err: ValidationError, source: Path) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        allowed = ", ".join(TaskSpec.model_fields)
        return f"{source}: unknown key {key!r} (allowed at top level: {allowed})"
    return f"{source}: key {key!r}: {first['msg']} (got {first.get('input')!r})"


def load_task(name: str, overrides: dict[str, Any] | None = None) -> TaskSpec:
    """Load, override and validate one task spec; every problem is a UserError naming key and file."""
    path = find_task_file(name)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise UserError(f"{where} is not valid YAML ({getattr(err, 'problem', None) or 'syntax error'}): "
                        "fix the file") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path} must hold a mapping of task settings, not {type(raw).__name__}")
    raw.setdefault("name", path.stem)
    try:
        spec = TaskSpec.model_validate(_apply(raw, overrides or {}, path))
    except ValidationError as err:
        raise UserError(_explain(err, path)) from None
    for registry, value, key in ((FAMILIES, spec.family, "family"), (DATASETS, spec.dataset, "dataset")):
        if value not in registry:
            raise UserError(f"{path}: key {key!r}: {registry.kind} {value!r} is not registered "
                            f"(known: {', '.join(registry.names())})")
    for protocol in spec.protocols:
        if protocol not in PROTOCOLS:
            raise UserError(f"{path}: key 'protocols.{protocol}': unknown protocol "
                            f"(known: {', '.join(PROTOCOLS.names())})")
    make_family(spec, source=path)  # family_options and metric names, before any data is read
    return spec


def make_family(spec: TaskSpec, meta: dict[str, Any] | None = None, source: Path | None = None) -> Family:
    """The family `spec` names, built with its family_options, after checking that each of its
    `metrics` is a name the family gives: for the dataset whose meta is given, or (meta None) in form.
    Errors name `source` (default: the task's file)."""
    try:
        family = FAMILIES.get(spec.family)(**spec.family_options)
    except TypeError as err:
        raise UserError(f"{source or _where(spec)}: key 'family_options': {err}") from None
    known = family.metric_names(meta)
    for metric in spec.metrics if known is not None else []:
        if not any(fnmatchcase(metric, pattern) for pattern in known):
            close = difflib.get_close_matches(metric, known, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            scope = f"the {spec.family} family on dataset {spec.dataset!r}" if meta else f"the {spec.family} family"
            per_class = sorted({name.split("/")[0] + "/<class>" for name in known if "/" in name})
            listed = ", ".join([name for name in known if "/" not in name] + per_class)
            raise UserError(f"{source or _where(spec)}: key 'metrics': {metric!r} is not a metric of {scope}"
                            f"{hint} (known: {listed})")
    return family


def _where(spec: TaskSpec) -> str:
    """The task's file for an error message, or its name where it was loaded from a path."""
    try:
        return str(find_task_file(spec.name))
    except UserError:
        return f"task {spec.name!r}"
