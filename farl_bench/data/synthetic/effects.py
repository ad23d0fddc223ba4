"""Whole-image effects: textured backgrounds, optical blur, illumination and sensor noise."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .params import RGB, Effects

_NOISE_TILE = 512


@lru_cache(maxsize=1)
def _noise_tile() -> np.ndarray:
    """Fixed (T, 3T) float32 standard-normal tile (T RGB rows); crops of it are the per-image noise."""
    return np.random.default_rng(20240601).standard_normal((_NOISE_TILE, 3 * _NOISE_TILE), dtype=np.float32)


def background(rng: np.random.Generator, width: int, height: int, colours: tuple[RGB, RGB]) -> Image.Image:
    """Smooth colour field between two colours with a few translucent shapes on it."""
    # Half-way to grey: saturated colour fields look less like photographs.
    c0, c1 = (0.5 * np.asarray(c, dtype=np.float32) + 0.5 * np.mean(c) for c in colours)
    gy, gx = rng.integers(2, 5, size=2)
    t = rng.random((gy, gx, 1), dtype=np.float32)
    grid = c0 + (c1 - c0) * t + rng.normal(0.0, 12.0, (gy, gx, 3)).astype(np.float32)
    img = Image.fromarray(np.clip(grid, 0, 255).astype(np.uint8)).resize((width, height), Image.BILINEAR)
    draw = ImageDraw.Draw(img, "RGBA")
    for _ in range(int(rng.integers(0, 7))):
        x0, x1 = sorted(rng.uniform(-0.2, 1.2, 2) * width)
        y0, y1 = sorted(rng.uniform(-0.2, 1.2, 2) * height)
        fill = (*(int(v) for v in rng.integers(0, 256, 3)), int(rng.integers(30, 140)))
        kind = rng.integers(3)
        if kind == 0:
            draw.rectangle([x0, y0, x1, y1], fill=fill)
        elif kind == 1:
            draw.ellipse([x0, y0, x1, y1], fill=fill)
        else:
            draw.line([x0, y0, x1, y1], fill=fill, width=max(1, int(rng.uniform(0.01, 0.08) * width)))
    return img


def finish(img: Image.Image, fx: Effects, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Blur (sigma in face units times `scale` px per unit), light, tint and noise -> H x W x 3 uint8.

    The illumination gain is a product of a horizontal and a vertical ramp, so it is applied as one
    row and one column scaling of the (H, 3W) pixel rows.
    """
    img = _blur(img, fx.blur * scale)
    w, h = img.size
    gx = 1.0 + fx.light * np.cos(fx.light_angle) * np.linspace(-1.0, 1.0, w)
    gy = fx.brightness * (1.0 + fx.light * np.sin(fx.light_angle) * np.linspace(-1.0, 1.0, h))
    row = (gx[:, None] * np.asarray(fx.tint)).astype(np.float32).ravel()
    out = np.multiply(np.asarray(img).reshape(h, 3 * w), row, dtype=np.float32)
    out *= gy.astype(np.float32)[:, None]
    out += _noise(rng, w, h) * np.float32(fx.noise)
    np.clip(out, 0.0, 255.0, out=out)
    return out.astype(np.uint8).reshape(h, w, 3)


def _blur(img: Image.Image, sigma: float) -> Image.Image:
    """Gaussian blur of `sigma` pixels; wide blurs go through a box-filtered downscale (cheaper)."""
    if sigma < 0.3:
        return img
    if sigma < 1.5:
        return img.filter(ImageFilter.GaussianBlur(sigma))
    factor = max(2, int(round(1.6 * sigma)))
    return img.reduce(factor).resize(img.size, Image.BILINEAR)


def _noise(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """(height, 3 * width) crop of the fixed noise tile at a random offset."""
    tile = _noise_tile()
    if width > _NOISE_TILE or height > _NOISE_TILE:
        tile = np.tile(tile, (-(-height // _NOISE_TILE), -(-width // _NOISE_TILE)))
    oy = int(rng.integers(0, tile.shape[0] - height + 1))
    ox = int(rng.integers(0, tile.shape[1] // 3 - width + 1))
    return tile[oy:oy + height, 3 * ox:3 * (ox + width)]
