"""Small hand-made dataset trees for tests that must not depend on the synthetic generator, the
CLI as a child process, and `py:` factory modules written by a test."""
from __future__ import annotations

import contextlib
import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterator

import numpy as np
from PIL import Image

ATTRS = ["Bright", "Red", "Striped"]


def write_celeba(root: Path, n: tuple[int, int, int] = (60, 20, 20), seed: int = 0) -> Path:
    """A CelebA tree whose 3 attributes are drawn visibly: brightness, red tint, stripes.

    Returns the folder that holds list_attr_celeba.txt (root/CelebA).
    """
    rng = np.random.default_rng(seed)
    base = root / "CelebA"
    (base / "img_align_celeba").mkdir(parents=True)
    attr_lines, part_lines = [], []
    for i in range(sum(n)):
        name = f"{i + 1:06d}.jpg"
        labels = rng.random(3) < 0.5
        img = np.full((218, 178, 3), 60 + rng.integers(0, 20), np.uint8)
        if labels[0]:
            img[:] += 100
        if labels[1]:
            img[..., 0] = 230
        if labels[2]:
            img[::12] = 0
        Image.fromarray(img).save(base / "img_align_celeba" / name, quality=90)
        attr_lines.append(name + " " + " ".join("1" if v else "-1" for v in labels))
        part_lines.append(f"{name} {0 if i < n[0] else 1 if i < n[0] + n[1] else 2}")
    (base / "list_attr_celeba.txt").write_text(f"{sum(n)}\n{' '.join(ATTRS)}\n" + "\n".join(attr_lines) + "\n")
    (base / "list_eval_partition.txt").write_text("\n".join(part_lines) + "\n")
    return base


def cli_process(*args: object, stderr: Path | None = None, program: tuple[str, ...] = ("-m", "farl_bench"),
                ) -> subprocess.Popen:
    """`python -m farl_bench ARGS` as a child process (one CPU thread, so runs are comparable and
    parallel children do not oversubscribe); stderr to a file when given, else discarded."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    err = open(stderr, "w") if stderr else subprocess.DEVNULL
    try:
        return subprocess.Popen([sys.executable, *program, *map(str, args)], env=env, stdout=subprocess.DEVNULL,
                                stderr=err)
    finally:
        if stderr:
            err.close()  # the child holds its own copy


def write_lapa(root: Path, n: tuple[int, int, int] = (4, 2, 2), size: int = 32, seed: int = 0) -> Path:
    """A LaPa tree of blocky faces: 8-bit label maps with ids 0..10 and 106 landmarks per face.

    Returns root/LaPa.
    """
    rng = np.random.default_rng(seed)
    base = root / "LaPa"
    for split, count in zip(("train", "val", "test"), n):
        for kind in ("images", "labels", "landmarks"):
            (base / split / kind).mkdir(parents=True)
        for i in range(count):
            label = np.kron(rng.integers(0, 11, (4, 4)), np.ones((size // 4, size // 4))).astype(np.uint8)
            Image.fromarray(label * 20 + 30).convert("RGB").save(base / split / "images" / f"f{i}.jpg")
            Image.fromarray(label).save(base / split / "labels" / f"f{i}.png")
            points = "\n".join(f"{x:.2f} {y:.2f}" for x, y in rng.uniform(4, size - 4, (106, 2)))
            (base / split / "landmarks" / f"f{i}.txt").write_text(f"106\n{points}\n")
    return base


def edit_line(path: Path, index: int, change: Callable[[str], str]) -> None:
    """Rewrite line `index` (0-based) of a text file through `change`: a malformed-file case."""
    lines = path.read_text().splitlines()
    lines[index] = change(lines[index])
    path.write_text("\n".join(lines) + "\n")


@contextlib.contextmanager
def factory_module(folder: Path, name: str, source: str) -> Iterator[ModuleType]:
    """`source` written to folder/name.py and imported as `name` (so that `py:name:build` finds it),
    removed from sys.path and sys.modules on exit."""
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(name, None)


def num(value: float) -> str:
    """A number written so that parsing it gives the same float back."""
    return repr(float(value))


def write_pts(path: Path, values: np.ndarray, header: bool = True) -> None:
    """A .pts file holding `values` exactly as given (1-based, as iBUG writes them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{num(x)} {num(y)}" for x, y in values]
    if header:
        lines = ["version: 1", f"n_points:  {len(values)}", "{", *lines, "}"]
    path.write_text("\n".join(lines) + "\n")


#: A `py:` factory module for the small CNNs that tests pretrain: three stride-2 blocks of `convs`
#: 3x3 convolutions; the last two maps are the levels (pooled: the last map's mean).
TINY_CNN = '''
from torch import nn


def block(cin, cout, convs):
    layers = [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    for _ in range(convs - 1):
        layers += [nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(*layers)


class TinyCNN(nn.Module):
    def __init__(self, input_size, convs):
        super().__init__()
        self.preprocess = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "input_size": input_size}
        self.blocks = nn.ModuleList([block(3, 16, convs), block(16, 32, convs), block(32, 128, convs)])

    def forward_features(self, x):
        maps = []
        for b in self.blocks:
            x = b(x)
            maps.append(x)
        return maps[1:]


def build(input_size=32, convs=1):
    return TinyCNN(input_size, convs)
'''


def metric_by_backbone_kind(results: Path, metric: str) -> dict[tuple[str, str], float]:
    """("pixels" or "trained", protocol) -> the test `metric` of each record in results/runs.jsonl."""
    score = {}
    for line in (results / "runs.jsonl").read_text().splitlines():
        record = json.loads(line)
        kind = "pixels" if record["backbone"].startswith("pixels") else "trained"
        score[kind, record["protocol"]] = record["metrics"]["test"][metric]["value"]
    return score
