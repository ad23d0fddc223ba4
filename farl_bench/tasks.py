"""Task specs: `tasks/<name>.yaml` loaded into a validated `TaskSpec`, with overrides and a version hash."""
from __future__ import annotations

import difflib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from farl_bench.errors import UserError
from farl_bench.registry import DATASETS, FAMILIES, PROTOCOLS

#: Built-in task specs live at the repository root, beside the package.
BUILTIN_TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"


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

    @property
    def version(self) -> str:
        """Short hash of the resolved spec: any change of setting gives a new version."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:10]

    def protocol_hparams(self, protocol: str) -> dict[str, Any]:
        return dict(self.protocols.get(protocol, {}))


def task_dirs() -> list[Path]:
    """Where task specs are looked up: $FARL_BENCH_TASKS (os.pathsep-separated) first, then built-ins."""
    extra = [Path(p) for p in os.environ.get("FARL_BENCH_TASKS", "").split(os.pathsep) if p]
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
    return spec
