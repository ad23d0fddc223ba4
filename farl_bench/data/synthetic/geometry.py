"""Canonical face geometry: named 3D curves in face units, and the view that projects them to pixels.

Face units: x to the image right, y down, z toward the viewer; the eye line is y = 0 and an average
adult face is 2 units wide. Pairs of parts are stored image-left first (side sign -1, then +1).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .params import FaceParams

SIDES = (-1.0, 1.0)
FEATURE, SILHOUETTE, BODY = "feature", "silhouette", "body"
Y_CHEEK = 0.06      # height of the widest point of the face
EAR_TOP, EAR_BOTTOM = -0.06, 0.46
SKULL_CY = -0.12    # centre height of the skull ellipse (hair, hats)
_HEAD_DEPTH = 0.85  # head depth / width: how little the silhouette narrows when the head turns


def xyz(x, y, z) -> np.ndarray:
    """(N, 3) points from coordinate sequences or scalars (broadcast to the longest)."""
    n = max(len(v) if hasattr(v, "__len__") else 1 for v in (x, y, z))
    out = np.empty((n, 3))
    out[:, 0] = x
    out[:, 1] = y
    out[:, 2] = z
    return out


def unit_grid(n: int) -> np.ndarray:
    """n evenly spaced values 0..1 (cached: the geometry asks for the same few grids)."""
    grid = _GRIDS.get(n)
    if grid is None:
        grid = _GRIDS[n] = np.linspace(0.0, 1.0, n)
        grid.flags.writeable = False
    return grid


_GRIDS: dict[int, np.ndarray] = {}


@dataclass(frozen=True)
class View:
    """Maps face units to pixels: yaw turn, roll, scale (pixels per face unit), origin (pixels).

    FEATURE points turn with the face (orthographic yaw); SILHOUETTE points are the head's outline,
    which stays about as wide while its depth offset z shifts it; BODY points ignore yaw.
    """

    yaw: float
    roll: float
    scale: float
    cx: float
    cy: float
    _maps: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sy, cy_ = np.sin(self.yaw), np.cos(self.yaw)
        sr, cr = np.sin(self.roll) * self.scale, np.cos(self.roll) * self.scale
        maps = {}
        for kind, (kx, kz) in {FEATURE: (cy_, sy), SILHOUETTE: (np.hypot(cy_, _HEAD_DEPTH * sy), sy),
                               BODY: (1.0, 0.0)}.items():
            # pixel = [x, y, z] @ m: u = kx x + kz z turned, then rolled and scaled.
            maps[kind] = np.array([[kx * cr, kx * sr], [-sr, cr], [kz * cr, kz * sr]])
        object.__setattr__(self, "_maps", maps)

    def project(self, pts: np.ndarray, kind: str = FEATURE) -> np.ndarray:
        """(N, 3) face-unit points -> (N, 2) pixel x, y."""
        out = pts @ self._maps[kind]
        out[..., 0] += self.cx
        out[..., 1] += self.cy
        return out


@dataclass(frozen=True)
class Brow:
    upper: np.ndarray  # (N, 3) outer tip -> inner end
    lower: np.ndarray  # (N, 3) outer tip -> inner end


@dataclass(frozen=True)
class Eye:
    upper: np.ndarray  # (N, 3) upper lid, outer corner -> inner corner
    lower: np.ndarray  # (N, 3) lower lid, outer corner -> inner corner
    iris: np.ndarray   # (3,) iris centre (the pupil)
    iris_r: float


@dataclass(frozen=True)
class Nose:
    bridge: np.ndarray  # (N, 3) root between the eyes -> tip
    bottom: np.ndarray  # (N, 3) base line, image-left wing -> image-right wing
    wings: tuple[np.ndarray, np.ndarray]  # (N, 3) outer wing arcs, top -> bottom
    hull: np.ndarray    # (M, 3) points whose projected convex hull is the nose


@dataclass(frozen=True)
class Mouth:
    u: np.ndarray            # (N,) position across the mouth: -1 image-left corner .. +1 right corner
    upper_outer: np.ndarray  # (N, 3) all four curves run left corner -> right corner
    upper_inner: np.ndarray
    lower_inner: np.ndarray
    lower_outer: np.ndarray

    def at(self, curve: np.ndarray, u) -> np.ndarray:
        """Points of one of the curves at positions u across the mouth (linear in u)."""
        pos = (np.asarray(u, dtype=float) + 1.0) * 0.5 * (len(self.u) - 1)
        i = np.minimum(pos.astype(int), len(self.u) - 2)
        w = (pos - i)[:, None]
        return curve[i] * (1.0 - w) + curve[i + 1] * w


@dataclass(frozen=True)
class Curves:
    jaw: np.ndarray       # (N, 3) image-left cheek -> chin -> image-right cheek (silhouette)
    forehead: np.ndarray  # (M, 3) image-right temple -> over the top -> image-left temple (silhouette)
    ears: tuple[np.ndarray, np.ndarray]  # closed polygons (silhouette)
    brows: tuple[Brow, Brow]
    eyes: tuple[Eye, Eye]
    nose: Nose
    mouth: Mouth
    chin_y: float               # with the jaw dropped
    skull: tuple[float, float]  # half-width and half-height of the skull ellipse at SKULL_CY
    outline: np.ndarray         # (N, 3) closed face outline: jaw then forehead (silhouette)
    _profile: tuple[np.ndarray, np.ndarray] = field(repr=False, compare=False)

    def half_width(self, y):
        """Half-width of the face outline at heights y."""
        return np.interp(y, *self._profile)


def build_curves(p: FaceParams) -> Curves:
    s, a = p.shape, p.actions
    chin_y = s.chin_y + 0.6 * a.jaw_open
    jaw, profile = _jaw(p, chin_y)
    top = -1.24 - 0.05 * p.hair.volume if p.hair.bald else s.forehead_y
    forehead = _forehead(p, top)
    # Right half of the outline as y -> x (single-valued), for half_width.
    right = forehead[forehead[:, 0] > 0.0][::-1]
    profile = (np.concatenate([right[:, 1], profile[0]]), np.concatenate([right[:, 0], profile[1]]))
    return Curves(
        jaw=jaw, forehead=forehead, ears=tuple(_ear(p, profile, side) for side in SIDES),
        brows=tuple(_brow(p, side) for side in SIDES), eyes=tuple(_eye(p, side) for side in SIDES),
        nose=_nose(p), mouth=_mouth(p), chin_y=chin_y,
        skull=(s.face_w * 1.07 + 0.12 * p.hair.volume, 1.12 + 0.1 * p.hair.volume),
        outline=np.concatenate([jaw, forehead]), _profile=profile,
    )


def _cheek_profile(c: float, y: np.ndarray) -> np.ndarray:
    """Width factor: high cheekbones (c in 0..1) bulge below the eyes and hollow the cheeks."""
    return 1.0 + 0.05 * c * np.exp(-((y - 0.1) / 0.22) ** 2) - 0.035 * c * np.exp(-((y - 0.7) / 0.2) ** 2)


_THETA = np.linspace(0.0, np.pi / 2, 24)
_COS, _SIN = np.cos(_THETA), np.sin(_THETA)
_MIRROR = np.array([-1.0, 1.0, 1.0])


def _jaw(p: FaceParams, chin_y: float) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Lower outline (superellipse quarter per side, tapering to the chin) and its right-half profile."""
    s = p.shape
    e = 2.0 / s.jaw_square
    t = _SIN ** e
    y = Y_CHEEK + (chin_y - Y_CHEEK) * t
    x = s.face_w * _COS ** e * (1.0 - s.jaw_taper * t) * _cheek_profile(s.cheekbones, y)
    right = xyz(x, y, 0.3 * t ** 2)
    jaw = np.concatenate([right * _MIRROR, right[-2::-1]])
    return jaw, (y, x)


_PHI = np.linspace(0.0, np.pi, 27)[1:-1]
_PHI_C, _PHI_S = np.cos(_PHI), np.sin(_PHI)


def _forehead(p: FaceParams, top: float) -> np.ndarray:
    """Arc over the top of the face, excluding the cheek-level ends shared with the jaw."""
    s = p.shape
    y = Y_CHEEK - (Y_CHEEK - top) * _PHI_S ** 0.8
    x = s.face_w * np.sign(_PHI_C) * np.abs(_PHI_C) ** 0.8 * (1.0 - 0.06 * _PHI_S) * _cheek_profile(s.cheekbones, y)
    return xyz(x, y, 0.1 + 0.1 * _PHI_S)


def _ear(p: FaceParams, profile: tuple[np.ndarray, np.ndarray], side: float) -> np.ndarray:
    v = unit_grid(12)
    y = EAR_TOP + (EAR_BOTTOM - EAR_TOP) * v
    edge = np.interp(y, *profile)
    outer = side * (edge + p.shape.ear_w * np.sin(np.pi * v) ** 0.6 * (1.0 - 0.3 * v))
    return xyz(np.concatenate([outer, side * (edge[::-1] - 0.08)]), np.concatenate([y, y[::-1]]), -0.3)


def ear_lobe(p: FaceParams, c: Curves, side: float) -> np.ndarray:
    """(3,) bottom of the ear lobe, where earrings hang."""
    y = EAR_BOTTOM - 0.03
    return np.array([side * (float(c.half_width(y)) + 0.35 * p.shape.ear_w), y, -0.3])


def _brow(p: FaceParams, side: float) -> Brow:
    s, a = p.shape, p.actions
    v = unit_grid(14)  # outer tip -> inner end
    x_out = side * (s.eye_x + s.eye_w + 0.07)
    x_in = side * (s.eye_x - s.eye_w - 0.02 - 0.06 * a.brow_squeeze)
    x = x_out + (x_in - x_out) * v
    centre = (s.brow_y - s.brow_arch * np.sin(np.pi * v ** 0.75) - 0.1 * a.brow_raise
              - (0.09 * a.brow_inner - 0.04 * a.brow_squeeze) * v ** 2 + 0.025 * (1.0 - v) ** 2)
    half = 0.5 * s.brow_thick * np.sin(np.pi / 2 * np.minimum(1.0, v / 0.55)) ** 0.6
    z = 0.2 + 0.12 * v
    return Brow(upper=xyz(x, centre - half, z), lower=xyz(x, centre + half, z))


def _eye(p: FaceParams, side: float) -> Eye:
    s, a = p.shape, p.actions
    u = unit_grid(15)  # outer corner -> inner corner
    cx = side * s.eye_x
    x = cx + side * s.eye_w * (1.0 - 2.0 * u)
    base = -s.eye_tilt * s.eye_w * (1.0 - u) + 0.01 * u
    h_up = s.eye_h * a.eye_open * (1.0 - 0.35 * a.squint)
    h_low = 0.6 * s.eye_h * min(a.eye_open, 1.25) * (1.0 - 0.55 * a.squint)
    z = 0.16 + 0.14 * u + 0.08 * np.sin(np.pi * u)
    upper = xyz(x, base - h_up * np.sin(np.pi * u ** 0.9) ** 0.8, z)
    lower = xyz(x, base + h_low * np.sin(np.pi * u) ** 0.9, z)
    mid = -0.5 * s.eye_tilt * s.eye_w + 0.005 + 0.5 * (h_low - h_up)
    gx, gy = s.gaze
    # At the depth of the lids' middle, so the iris stays between the lids when the head turns.
    iris = np.array([cx + gx * 0.3 * s.eye_w, mid + gy * 0.25 * (h_up + h_low), 0.31])
    return Eye(upper=upper, lower=lower, iris=iris, iris_r=s.iris_r)


_HALF_TURN = np.linspace(-np.pi / 2, np.pi / 2, 9)
_RING = np.linspace(0.0, 2.0 * np.pi, 12, endpoint=False)
_SIDE_T = np.linspace(0.0, 1.0, 5)


def _nose(p: FaceParams) -> Nose:
    s = p.shape
    tip = np.array([0.0, s.nose_y, s.nose_proj])
    root = np.array([0.0, -0.03, 0.15])
    bridge = root + (tip - root) * unit_grid(9)[:, None]
    wing_r = 0.05 + 0.1 * (s.nose_w - 0.135)
    wing_x = s.nose_w - wing_r
    wing_y = s.nose_y + 0.015
    wings = tuple(xyz(side * (wing_x + wing_r * np.cos(_HALF_TURN)), wing_y + wing_r * np.sin(_HALF_TURN), 0.2)
                  for side in SIDES)
    bx = wing_x * (2.0 * unit_grid(9) - 1.0)
    bottom = xyz(bx, wing_y + wing_r, 0.22 + 0.15 * (1.0 - (bx / wing_x) ** 2))
    sy = -0.03 + (s.nose_y - 0.09) * _SIDE_T
    sides = [xyz(side * (0.04 + 0.025 * _SIDE_T), sy, 0.12 + 0.25 * (sy + 0.03)) for side in SIDES]
    # At the tip's depth, so the tip stays inside the ring (and the nose mask) when the head turns.
    ring = xyz(s.nose_tip_r * np.cos(_RING), s.nose_y + 0.9 * s.nose_tip_r * np.sin(_RING), s.nose_proj)
    hull = np.concatenate([*sides, *wings, bottom, ring])
    return Nose(bridge=bridge, bottom=bottom, wings=wings, hull=hull)


_MOUTH_U = np.linspace(-1.0, 1.0, 21)
_ACROSS = 1.0 - _MOUTH_U ** 2
_BOW = 1.0 - 0.3 * np.exp(-(_MOUTH_U / 0.13) ** 2)  # cupid's bow dip


def _mouth(p: FaceParams) -> Mouth:
    s, a = p.shape, p.actions
    u, across = _MOUTH_U, _ACROSS
    x = u * s.mouth_w * (1.0 + 0.1 * max(a.smile, 0.0) + 0.2 * a.mouth_stretch)
    lift_l = 0.085 * (a.smile + max(-a.smirk, 0.0))
    lift_r = 0.085 * (a.smile + max(a.smirk, 0.0))
    lift = np.where(u < 0.0, lift_l, lift_r) * u ** 2
    thin = 1.0 - 0.45 * a.lip_press
    raised = 0.06 * a.upper_lip_raise * across
    upper_inner = s.mouth_y - lift - raised
    lower_inner = s.mouth_y - lift + a.jaw_open * across ** 0.7
    upper_outer = upper_inner - s.lip_up * thin * across ** 0.5 * _BOW - 0.5 * raised
    lower_outer = lower_inner + s.lip_low * thin * across ** 0.55
    z = 0.42 + 0.12 * across
    return Mouth(u=u, upper_outer=xyz(x, upper_outer, z), upper_inner=xyz(x, upper_inner, z),
                 lower_inner=xyz(x, lower_inner, z), lower_outer=xyz(x, lower_outer, z))


def along(curve: np.ndarray, fractions) -> np.ndarray:
    """Points at the given fractions (0..1) of a polyline's arc length."""
    d = np.diff(curve, axis=0)
    s = np.empty(len(curve))
    s[0] = 0.0
    np.cumsum(np.sqrt((d * d).sum(axis=1)), out=s[1:])
    f = np.asarray(fractions, dtype=float) * s[-1]
    i = np.clip(np.searchsorted(s, f, side="right") - 1, 0, len(s) - 2)
    w = ((f - s[i]) / np.maximum(s[i + 1] - s[i], 1e-12))[:, None]
    return curve[i] * (1.0 - w) + curve[i + 1] * w


def convex_hull(pts: np.ndarray) -> np.ndarray:
    """(N, 2) points -> (M, 2) hull vertices (monotone chain)."""
    order = np.lexsort((pts[:, 1], pts[:, 0]))
    points = pts[order].tolist()

    def chain(seq: list[list[float]]) -> list[list[float]]:
        out: list[list[float]] = []
        for qx, qy in seq:
            while len(out) >= 2:
                (ax, ay), (bx, by) = out[-2], out[-1]
                if (bx - ax) * (qy - ay) - (by - ay) * (qx - ax) > 0:
                    break
                out.pop()
            out.append([qx, qy])
        return out

    lower, upper = chain(points), chain(points[::-1])
    return np.array(lower[:-1] + upper[:-1])
