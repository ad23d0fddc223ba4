"""Face crops: the geometry between original-image pixels and network-input pixels.

Conventions: pixel centres sit at integer coordinates (x right, y down), as in OpenCV and in
`FaceRecord.landmarks`. Every crop maps the original image into a square *canvas* of
`CropSpec.canvas` px with a 3x3 matrix, optionally applies FaRL's RoI tanh-warp on that canvas,
and resamples the canvas to the output `size` the way a bilinear resize with
``align_corners=False`` does (FaRL builds a 512 canvas and the network resizes it to 448).

RoI tanh-warp (Lin et al., "Face Parsing with RoI Tanh-Warping", CVPR 2019; as used by FaRL,
Zheng et al., CVPR 2022). Definition taken from FaRL's public augmenters
(``blueprint.ml.augmenters`` ``_inverted_tanh_warp_transform`` / ``GetTransformMap``, the same
formula as facer's ``transform.py`` ``tanh_warp_transform``). With the canvas side ``W``, the
warp factor ``f`` in (0, 1] and a canvas coordinate ``c`` (each axis separately)::

    u = c / W * 2 - 1                                  # canvas -> [-1, 1]
    v = u                                              if |u| <= 1 - f
    v = sign(u) * (tanh((|u| - 1 + f) / f) * f + 1 - f)  otherwise
    c' = (v + 1) / 2 * W

The central band |u| <= 1 - f is kept linear; everything outside is squeezed by tanh, so the
whole plane lands inside the canvas. ``f = 0`` is a plain crop. The inverse replaces tanh by
arctanh. Note FaRL normalises with ``c / W`` (not ``(c + 0.5) / W``): kept as is, so the crop
geometry is FaRL's exactly (the pixels differ only by resampling once, straight to `size`, where
FaRL resamples to the canvas and then resizes).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import cv2
import numpy as np

from farl_bench.errors import UserError
from farl_bench.tasks import CropSpec

#: FaRL's 5-point template (eye centres, nose tip, mouth corners) on a 512 px canvas.
FARL_TEMPLATE_512 = np.array(
    [[196.0, 226.0], [316.0, 226.0], [256.0, 286.0], [220.0, 360.4], [292.0, 360.4]])

#: arctanh argument clip when undoing the warp for points: the crop's rim maps far out, not to inf.
_POINTS_RIM = 1.0 - 1e-9
#: The same clip for image sampling maps, FaRL's (``_safe_arctanh``): the outermost canvas pixels
#: read the original about 3 half-canvases out rather than at infinity.
_FARL_SAMPLING_RIM = 0.999


def _tanh_warp(c: np.ndarray, f: float, canvas: int) -> np.ndarray:
    """Canvas coordinates (px, any shape) -> warped canvas coordinates."""
    u = c / canvas * 2.0 - 1.0
    a = np.abs(u)
    v = np.where(a > 1.0 - f, np.sign(u) * (np.tanh((a - 1.0 + f) / f) * f + 1.0 - f), u)
    return (v + 1.0) / 2.0 * canvas


def _tanh_unwarp(c: np.ndarray, f: float, canvas: int, rim: float = _POINTS_RIM) -> np.ndarray:
    """Inverse of `_tanh_warp`; the tanh value is clipped at `rim` (< 1) to stay finite."""
    v = c / canvas * 2.0 - 1.0
    a = np.abs(v)
    t = np.clip((a - 1.0 + f) / f, 0.0, rim)
    u = np.where(a > 1.0 - f, np.sign(v) * (np.arctanh(t) * f + 1.0 - f), v)
    return (u + 1.0) / 2.0 * canvas


def _apply_h(matrix: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """3x3 affine matrix applied to K x 2 points."""
    return pts @ matrix[:2, :2].T + matrix[:2, 2]


@dataclass(frozen=True, eq=False)
class Crop:
    """One face's crop geometry.

    matrix: 3x3 affine (a similarity for align5), original px -> canvas px, before the warp.
    canvas: side of the square canvas (px) the matrix maps into; the tanh-warp is normalised on it.
    size: side of the output crop (px). tanh_warp: FaRL's warp factor, 0 = none.
    Original -> crop is: matrix, then tanh-warp, then out = (c + 0.5) * size / canvas - 0.5.
    """

    matrix: np.ndarray
    canvas: int
    size: int
    tanh_warp: float = 0.0

    @property
    def _scale(self) -> float:
        return self.size / self.canvas

    @cached_property
    def _linear(self) -> np.ndarray:
        """2x3 original -> crop matrix (the whole map when there is no warp)."""
        k = self._scale
        s = np.array([[k, 0.0, 0.5 * k - 0.5], [0.0, k, 0.5 * k - 0.5], [0.0, 0.0, 1.0]])
        return (s @ self.matrix)[:2]

    @cached_property
    def _sample_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """For each crop pixel, where to read the original image: two size x size float32 maps."""
        k, f = self._scale, self.tanh_warp
        canvas_1d = (np.arange(self.size) + 0.5) / k - 0.5
        # The warp is separable, so one 1-D unwarp per axis is enough.
        c = _tanh_unwarp(canvas_1d, f, self.canvas, rim=_FARL_SAMPLING_RIM)
        inv = np.linalg.inv(self.matrix)
        # Outer sums of float32 rows/columns: one allocation per map (float64 temporaries cost ~20x).
        map_x = np.add.outer((inv[0, 1] * c).astype(np.float32), (inv[0, 0] * c + inv[0, 2]).astype(np.float32))
        map_y = np.add.outer((inv[1, 1] * c + inv[1, 2]).astype(np.float32), (inv[1, 0] * c).astype(np.float32))
        return map_x, map_y

    def points_to_crop(self, pts: np.ndarray) -> np.ndarray:
        """K x 2 original px -> K x 2 crop px."""
        pts = np.asarray(pts, np.float64)
        if self.tanh_warp == 0:
            return pts @ self._linear[:, :2].T + self._linear[:, 2]
        c = _tanh_warp(_apply_h(self.matrix, pts), self.tanh_warp, self.canvas)
        return (c + 0.5) * self._scale - 0.5

    def points_to_original(self, pts: np.ndarray) -> np.ndarray:
        """K x 2 crop px -> K x 2 original px. Points on or past a warped crop's rim land far away."""
        pts = np.asarray(pts, np.float64)
        c = (pts + 0.5) / self._scale - 0.5
        if self.tanh_warp > 0:
            c = _tanh_unwarp(c, self.tanh_warp, self.canvas)
        return _apply_h(np.linalg.inv(self.matrix), c)

    def _resample(self, img: np.ndarray, interpolation: int, fill: float) -> np.ndarray:
        border = (float(fill),) * 4  # a bare number would fill the first channel only
        if self.tanh_warp == 0:
            return cv2.warpAffine(img, self._linear, (self.size, self.size), flags=interpolation,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=border)
        map_x, map_y = self._sample_maps
        return cv2.remap(img, map_x, map_y, interpolation,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=border)

    def image(self, img: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """H x W x C uint8 original -> size x size x C (bilinear); outside the image = `fill`."""
        out = self._resample(img, cv2.INTER_LINEAR, fill)
        return out.reshape(self.size, self.size, *img.shape[2:])

    def mask(self, label_map: np.ndarray, fill: int = 255) -> np.ndarray:
        """H x W uint8 label map -> size x size (nearest).

        Crop pixels from outside the original image get `fill`: 255 by default, meant as the loss's
        ignore index (FaRL marks them invalid). Pass the background id to label them instead.
        """
        return self._resample(label_map, cv2.INTER_NEAREST, fill)

    def to_original(self, array: np.ndarray, out_hw: tuple[int, int],
                    fill: float | Sequence[float] = 0.0) -> np.ndarray:
        """C x size x size float (per-class logits or probabilities) -> C x H x W float32 in the original image.

        Bilinear. Original pixels that fall outside the crop get `fill`: a scalar for every channel
        or one value per channel. To score a crop that does not cover the image, make the
        background class win there, e.g. ``fill=np.eye(C)[0]`` for probabilities. Near the crop's
        edge values blend towards `fill`.
        """
        h, w = out_hw
        array = np.asarray(array, np.float32)
        fill_c = np.broadcast_to(np.asarray(fill, np.float64), (array.shape[0],))
        out = np.empty((array.shape[0], h, w), np.float32)
        if self.tanh_warp == 0:
            for i, channel in enumerate(array):
                cv2.warpAffine(channel, self._linear, (w, h), dst=out[i],
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=float(fill_c[i]))
            return out
        xs, ys = np.arange(w, dtype=np.float64)[None, :], np.arange(h, dtype=np.float64)[:, None]
        m, k = self.matrix, self._scale
        map_x = (_tanh_warp(m[0, 0] * xs + m[0, 1] * ys + m[0, 2], self.tanh_warp, self.canvas) + 0.5) * k - 0.5
        map_y = (_tanh_warp(m[1, 0] * xs + m[1, 1] * ys + m[1, 2], self.tanh_warp, self.canvas) + 0.5) * k - 0.5
        map_x, map_y = map_x.astype(np.float32), map_y.astype(np.float32)
        for i, channel in enumerate(array):
            cv2.remap(channel, map_x, map_y, cv2.INTER_LINEAR, dst=out[i],
                      borderMode=cv2.BORDER_CONSTANT, borderValue=float(fill_c[i]))
        return out


def similarity_lstsq(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, isotropic scale, shift) taking K x 2 `src` to `dst`; 3x3."""
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    s, d = src - src_mean, dst - dst_mean
    denom = (s ** 2).sum()
    # x' = a x - b y + tx, y' = b x + a y + ty minimises sum ||x' - dst||^2 in closed form.
    a = (s * d).sum() / denom
    b = (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum() / denom
    rot = np.array([[a, -b], [b, a]])
    t = dst_mean - rot @ src_mean
    return np.array([[a, -b, t[0]], [b, a, t[1]], [0.0, 0.0, 1.0]])


def farl_template(canvas: int, zoom: float = 1.0) -> np.ndarray:
    """FaRL's 5 template points (5 x 2 px) on a `canvas` px square.

    FaRL maps the 512 template to [-1, 1] (p / 256 - 1) and back with (q + 1) * (canvas - 1) / 2,
    so on a 512 canvas the points are scaled by 511/512; kept for pixel parity. zoom > 1 adds
    context (the face shrinks about the canvas centre); FaRL's `target_face_scale` is 1 / zoom.
    """
    q = (FARL_TEMPLATE_512 / 256.0 - 1.0) / zoom
    return (q + 1.0) * (canvas - 1) / 2.0


def make_crop(spec: CropSpec, size: int, image_hw: tuple[int, int], landmarks: np.ndarray | None = None,
              bbox: np.ndarray | None = None, alignment_points: Sequence[int] | None = None) -> Crop:
    """The crop of one face as `spec` says, for a network input of `size` x `size` px.

    resize: the whole H x W image to the canvas (aspect not kept; zoom ignored), like FaRL's
      CelebAMask-HQ resize. bbox: a square of side max(w, h) * zoom about the box centre; the
      square's edges land on the canvas's outer pixel borders, so the centre lands on the crop
      centre. (HRNet/FaRL build the box from a centre and scale instead; this is the simple form.)
    align5: least-squares similarity from landmarks[alignment_points] (eye centres, nose tip, mouth
      corners) to `farl_template(spec.canvas, spec.zoom)`.
    Then the tanh-warp (spec.tanh_warp > 0) and the resize from canvas to `size`.
    """
    if spec.tanh_warp > 1:
        raise UserError(f"crop.tanh_warp must be in [0, 1] (FaRL uses 0.8 for LaPa), got {spec.tanh_warp}")
    h, w = image_hw
    n = spec.canvas
    if spec.kind == "resize":
        sx, sy = n / w, n / h
        matrix = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
    elif spec.kind == "bbox":
        if bbox is None:
            raise UserError("crop kind 'bbox' needs the record's bbox (x_min, y_min, x_max, y_max); "
                            "this dataset gives none: use crop.kind=resize or align5")
        x0, y0, x1, y1 = np.asarray(bbox, np.float64)
        side = max(x1 - x0, y1 - y0) * spec.zoom
        if side <= 0:
            raise UserError(f"bbox {list(map(float, bbox))} is empty (x_max <= x_min and y_max <= y_min)")
        k = n / side
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        matrix = np.array([[k, 0.0, (n - 1) / 2.0 - k * cx], [0.0, k, (n - 1) / 2.0 - k * cy], [0.0, 0.0, 1.0]])
    else:
        if landmarks is None or alignment_points is None:
            raise UserError("crop kind 'align5' needs landmarks and the dataset meta's alignment_points "
                            "(5 indices: eye centres, nose tip, mouth corners)")
        if len(alignment_points) != 5:
            raise UserError(f"alignment_points must hold 5 landmark indices, got {list(alignment_points)}")
        src = np.asarray(landmarks, np.float64)[list(alignment_points)]
        if not np.all(np.isfinite(src)) or np.ptp(src, axis=0).max() == 0:
            raise UserError(f"the 5 alignment landmarks {src.tolist()} do not fix a similarity "
                            "(missing or all at one place); check the record's landmarks")
        matrix = similarity_lstsq(src, farl_template(n, spec.zoom))
    return Crop(matrix=matrix, canvas=n, size=size, tanh_warp=spec.tanh_warp)
