"""dlib imglab XML landmark files (`<image file><box top left width height><part name x y/>`).

The format of dlib's face examples and of its 300W release (`labels_ibug_300W_*.xml`).
Coordinates are dlib's 0-based integer pixels and are returned unchanged.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from farl_bench.errors import UserError


@dataclass(frozen=True)
class DlibFace:
    """One `<box>`: its image (resolved against the XML's folder), box and parts.

    bbox: x_min, y_min, x_max, y_max, dlib's inclusive rectangle (x_max = left + width - 1).
    landmarks: K x 2 float64 (x, y) ordered by part name (``00``, ``01``, ...), or None without parts.
    ignore: dlib's ``ignore='1'`` flag (a face to be skipped by trainers).
    """

    image: Path
    bbox: np.ndarray
    landmarks: np.ndarray | None
    ignore: bool = False


def _int(path: Path, element: ET.Element, name: str, where: str) -> int:
    value = element.get(name)
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UserError(f"{path}: {where} has {name}={value!r}; expected an integer attribute") from None


def _parts(path: Path, box: ET.Element, where: str) -> np.ndarray | None:
    parts = box.findall("part")
    if not parts:
        return None
    named = [(p.get("name", ""), _int(path, p, "x", where), _int(path, p, "y", where)) for p in parts]
    if all(name.isdigit() for name, _, _ in named):
        named.sort(key=lambda part: int(part[0]))
    return np.array([(x, y) for _, x, y in named], dtype=np.float64)


def read_dlib_xml(path: Path) -> list[DlibFace]:
    """Every box of every image in one imglab XML file, in document order."""
    try:
        tree = ET.parse(path)
    except FileNotFoundError:
        raise UserError(f"{path} not found; expected a dlib imglab XML file") from None
    except ET.ParseError as err:
        line, column = err.position
        raise UserError(f"{path}:{line}: not well-formed XML at column {column} ({err})") from None
    faces = []
    for image in tree.getroot().iter("image"):
        file = image.get("file")
        if not file:
            raise UserError(f"{path}: an <image> element has no 'file' attribute")
        for k, box in enumerate(image.findall("box")):
            where = f"box {k} of image {file!r}"
            left, top = _int(path, box, "left", where), _int(path, box, "top", where)
            width, height = _int(path, box, "width", where), _int(path, box, "height", where)
            faces.append(DlibFace(
                image=path.parent / file,
                bbox=np.array([left, top, left + width - 1, top + height - 1], dtype=np.float64),
                landmarks=_parts(path, box, where),
                ignore=box.get("ignore") == "1",
            ))
    return faces
