"""iBUG `.pts` landmark files (300W, Menpo, ...), with or without their header.

With header::

    version: 1
    n_points:  68
    {
    x y          (n_points lines)
    }

Without header: only the `x y` lines. iBUG counts pixels from 1 (the centre of the top-left
pixel is (1, 1)), so `read_pts` returns ``value - 1``: 0-based pixel coordinates.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from farl_bench.data.readers._files import malformed
from farl_bench.errors import UserError

#: iBUG coordinates count pixels from 1: pixel = value - PTS_ORIGIN.
PTS_ORIGIN = 1.0


def _point(path: Path, no: int, line: str) -> tuple[float, float]:
    parts = line.split()
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise malformed(path, no, "a point 'x y' (two numbers)", line) from None


def read_pts(path: Path) -> np.ndarray:
    """Landmarks of one `.pts` file as K x 2 float64 0-based pixels (x, y): file values minus 1.

    A header, when present, encloses the points in `{ }`, and its `n_points`, when given, must
    match the points listed. Blank lines are ignored. Any other content is a UserError naming file and line.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise UserError(f"{path} cannot be read ({err}); check the dataset tree") from None
    lines = [(no, line.strip()) for no, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise UserError(f"{path} is empty; expected iBUG .pts landmarks ('x y' per line)")
    declared, body = _header(path, lines) if ":" in lines[0][1] or lines[0][1] == "{" else (None, lines)
    points = [_point(path, no, line) for no, line in body]
    if declared is not None and declared != len(points):
        raise UserError(f"{path}: header says n_points {declared} but {len(points)} points are listed")
    return np.asarray(points, dtype=np.float64).reshape(-1, 2) - PTS_ORIGIN


def _header(path: Path, lines: list[tuple[int, str]]) -> tuple[int | None, list[tuple[int, str]]]:
    """(declared point count or None, the point lines between the braces)."""
    declared = None
    for i, (no, line) in enumerate(lines):
        if line == "{":
            break
        key, sep, value = line.partition(":")
        if not sep:
            raise malformed(path, no, "a header line 'key: value' or '{'", line)
        if key.strip() == "n_points":
            try:
                declared = int(value)
            except ValueError:
                raise malformed(path, no, "'n_points: <integer>'", line) from None
    else:
        raise UserError(f"{path}: header without '{{'; expected 'version: 1', 'n_points: N', '{{', points, '}}'")
    body = lines[i + 1:]
    if not body or body[-1][1] != "}":
        raise UserError(f"{path}: the points are not closed by '}}' on the last line")
    return declared, body[:-1]
