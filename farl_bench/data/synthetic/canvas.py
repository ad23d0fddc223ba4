"""Drawing surface that paints the colour image and the part-id image with the same polygons."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .geometry import FEATURE, View
from .labels import CELEBAMASK_PARTS

#: Part id in the id image: CELEBAMASK_PARTS position + 1 (eye_g is kept in its own mask).
PART_ID = {name: i + 1 for i, name in enumerate(CELEBAMASK_PARTS)}
BACKGROUND = 0
OCCLUDER = 255  # labelled background, but kept apart to know what is hidden

Colour = tuple[int, ...]  # RGB, or RGBA to blend


class Canvas:
    """Colour image, id image (one part id per pixel, painter's order) and the glasses mask."""

    def __init__(self, background: Image.Image, view: View):
        self.img = background
        self.view = view
        self.ids = Image.new("L", background.size, BACKGROUND)
        self.glasses = Image.new("L", background.size, 0)
        self._rgb = ImageDraw.Draw(self.img)
        self._rgba = ImageDraw.Draw(self.img, "RGBA")
        self._ids = ImageDraw.Draw(self.ids)
        self._glasses = ImageDraw.Draw(self.glasses)

    def px(self, length: float) -> float:
        """Face units -> pixels."""
        return length * self.view.scale

    def width(self, length: float) -> int:
        """Line width in pixels for a length in face units (at least 1)."""
        return max(1, int(round(length * self.view.scale)))

    def to_px(self, pts: np.ndarray, kind: str = FEATURE) -> np.ndarray:
        """(N, 3) face-unit points -> (N, 2) pixels (see `View.project` for the kinds)."""
        return self.view.project(pts, kind)

    def part(self, poly: np.ndarray, colour: Colour, part: str | int) -> None:
        """Fill a pixel polygon in the image and label it (a part name or a raw id)."""
        xy = _xy(poly)
        self._draw(colour).polygon(xy, fill=colour)
        self._ids.polygon(xy, fill=PART_ID[part] if isinstance(part, str) else part)

    def paint(self, poly: np.ndarray, colour: Colour) -> None:
        """Fill a pixel polygon in the image only (shading, make-up, facial hair)."""
        self._draw(colour).polygon(_xy(poly), fill=colour)

    def line(self, pts: np.ndarray, colour: Colour, width: int, part: str | None = None) -> None:
        """Polyline through pixel points, `width` pixels wide; labelled as `part` if given."""
        xy = _xy(pts)
        self._draw(colour).line(xy, fill=colour, width=width, joint="curve")
        if part is not None:
            self._ids.line(xy, fill=PART_ID[part], width=width, joint="curve")

    def glasses_part(self, poly: np.ndarray | None = None, line: np.ndarray | None = None, width: int = 1) -> None:
        """Mark glasses pixels (filled lens or a frame line) in the eye_g mask."""
        if poly is not None:
            self._glasses.polygon(_xy(poly), fill=255)
        if line is not None:
            self._glasses.line(_xy(line), fill=255, width=width, joint="curve")

    def mask_of(self, part: str) -> Image.Image:
        """'L' image, 255 where the id image holds `part`."""
        lut = [0] * 256
        lut[PART_ID[part]] = 255
        return self.ids.point(lut)

    def _draw(self, colour: Colour) -> ImageDraw.ImageDraw:
        return self._rgba if len(colour) == 4 else self._rgb


def _xy(pts: np.ndarray) -> list[float]:
    return np.asarray(pts, dtype=float).ravel().tolist()


def shade(colour: tuple[int, int, int], factor: float, alpha: int | None = None) -> Colour:
    """Colour scaled by `factor` (clipped), optionally with an alpha for blending."""
    rgb = tuple(int(min(255, max(0, round(c * factor)))) for c in colour)
    return rgb if alpha is None else (*rgb, int(alpha))


def mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> Colour:
    """Blend of a (t = 0) and b (t = 1)."""
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))
