"""Drawing of the face itself: ears, skin, marks, facial hair, brows, eyes, nose and mouth."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .canvas import PART_ID, Canvas, shade
from .geometry import SIDES, SILHOUETTE, Curves, convex_hull, unit_grid, xyz
from .params import FaceParams

_SCLERA = (236, 232, 226)
_PUPIL = (14, 12, 12)
_LASH = (30, 24, 24)
_MOUTH_INSIDE = (78, 26, 32)
_TEETH = (236, 230, 216)
_UP = np.array([0.0, 1.0, 0.0])
_ANGLES = {n: np.linspace(0.0, 2.0 * np.pi, n, endpoint=False) for n in (8, 10, 12, 14, 16, 20, 24)}


def ellipse_pts(cx: float, cy: float, rx: float, ry: float, z: float, n: int = 16) -> np.ndarray:
    """(n, 3) points around an axis-aligned ellipse in face units (n in 8, 10, 12, 14, 16, 20, 24)."""
    a = _ANGLES[n]
    return xyz(cx + rx * np.cos(a), cy + ry * np.sin(a), z)


def draw_ears(cv: Canvas, p: FaceParams, c: Curves) -> None:
    tone = shade(p.look.skin, 0.62, 150)
    for ear, part in zip(c.ears, ("l_ear", "r_ear")):
        cv.part(cv.to_px(ear, SILHOUETTE), shade(p.look.skin, 0.86), part)
        rim = ear[1:len(ear) // 2 - 1] * np.array([0.97, 1.0, 1.0]) + 0.02 * _UP
        cv.line(cv.to_px(rim, SILHOUETTE), tone, cv.width(0.018))


def draw_skin(cv: Canvas, p: FaceParams, c: Curves) -> None:
    """Face outline (skin), with a double chin below it and soft shading toward the edges."""
    skin = p.look.skin
    if p.shape.double_chin:
        lobe = ellipse_pts(0.0, c.chin_y - 0.04, 0.45, 0.17, 0.3)
        cv.part(cv.to_px(lobe, SILHOUETTE), shade(skin, 0.88), "skin")
    cv.part(cv.to_px(c.outline, SILHOUETTE), shade(skin, 0.88), "skin")
    centre = np.array([0.0, 0.2, 0.0])
    for factor, tone in ((0.92, 0.95), (0.8, 1.0)):
        inner = centre + (c.outline - centre) * np.array([factor, factor, 1.0])
        cv.paint(cv.to_px(inner, SILHOUETTE), shade(skin, tone))
    if p.shape.double_chin:
        crease = c.jaw[np.abs(c.jaw[:, 0]) < 0.35] + 0.07 * _UP
        cv.line(cv.to_px(crease, SILHOUETTE), shade(skin, 0.6, 120), cv.width(0.015))


_FOREHEAD_X = np.linspace(-0.42, 0.42, 9)
_FOLD_T = unit_grid(8)


def draw_marks(cv: Canvas, p: FaceParams, c: Curves) -> None:
    """Blush, eye make-up, wrinkles, expression lines and bags under the eyes (colour only)."""
    look, a, s = p.look, p.actions, p.shape
    dark = shade(look.skin, 0.55)
    thin = cv.width(0.012)
    if look.blush > 0.02:
        for side in SIDES:
            cv.paint(cv.to_px(ellipse_pts(side * 0.56, 0.4, 0.2, 0.12, 0.3)), (232, 92, 104, int(150 * look.blush)))
    if look.eye_shadow is not None:
        for eye in c.eyes:
            lift = 0.015 + 0.06 * np.sin(np.pi * unit_grid(len(eye.upper)))
            lifted = eye.upper - lift[:, None] * _UP
            cv.paint(cv.to_px(np.concatenate([eye.upper, lifted[::-1]])), (*look.eye_shadow, 120))
    forehead = max(look.wrinkles, 0.7 * a.brow_raise)
    if forehead > 0.05:
        for k in range(3):
            line = xyz(_FOREHEAD_X, s.brow_y - 0.2 - 0.09 * k - 0.03 * np.cos(_FOREHEAD_X * 2.5), 0.2)
            cv.line(cv.to_px(line), (*dark, int(min(90.0, 90 * forehead))), thin)
    if a.brow_squeeze > 0.2:
        for side in SIDES:
            line = np.array([[side * 0.05, -0.22, 0.2], [side * 0.07, -0.1, 0.2]])
            cv.line(cv.to_px(line), (*dark, int(min(110.0, 110 * a.brow_squeeze))), thin)
    fold = 0.6 * look.wrinkles + 0.7 * max(a.smile, 0.0)
    if fold > 0.08:  # nasolabial folds: age and smiles
        t = _FOLD_T
        for side in SIDES:
            line = xyz(side * (s.nose_w + 0.03 + (s.mouth_w - s.nose_w + 0.05) * t ** 1.3),
                       s.nose_y - 0.02 + (s.mouth_y - s.nose_y + 0.08) * t, 0.35)
            cv.line(cv.to_px(line), (*dark, int(min(110.0, 110 * fold))), cv.width(0.014))
    if look.wrinkles > 0.2:  # crow's feet
        for eye, side in zip(c.eyes, SIDES):
            start = eye.upper[0] + np.array([side * 0.02, 0.0, 0.0])
            for angle in (-0.4, 0.0, 0.4):
                end = eye.upper[0] + np.array([side * 0.09 * np.cos(angle), 0.09 * np.sin(angle), 0.0])
                cv.line(cv.to_px(np.stack([start, end])), (*dark, int(90 * look.wrinkles)), cv.width(0.01))
    if look.bags > 0.05:
        for eye in c.eyes:
            bag = eye.lower + 0.055 * _UP
            cv.paint(cv.to_px(np.concatenate([eye.lower[2:-2], bag[-3:1:-1]])),
                     (*shade(look.skin, 0.7), int(110 * look.bags)))
            cv.line(cv.to_px(bag[3:-3]), (*dark, int(140 * look.bags)), thin)


def draw_facial_hair(cv: Canvas, p: FaceParams, c: Curves) -> None:
    """Stubble, goatee, full beard and moustache, always inside the face outline (skin)."""
    look, s, m = p.look, p.shape, c.mouth
    colour = look.beard_colour
    jaw = cv.to_px(c.jaw, SILHOUETTE)
    if look.beard in ("stubble", "full"):
        cheek = 0.3 if look.beard == "full" else 0.45
        keep = c.jaw[:, 1] > cheek
        top = s.nose_y + 0.09
        x = np.array([0.66, 0.42, s.nose_w + 0.06])
        inner = xyz(np.concatenate([x, -x[::-1]]), [cheek, cheek + 0.08, top, top, cheek + 0.08, cheek], 0.35)
        cv.paint(np.concatenate([jaw[keep], cv.to_px(inner)]), (*colour, 235 if look.beard == "full" else 60))
    if look.beard == "goatee":
        keep = np.abs(c.jaw[:, 0]) < 0.3
        corners = xyz([-s.mouth_w - 0.04, s.mouth_w + 0.04], s.mouth_y + 0.02, 0.4)
        cv.paint(np.concatenate([jaw[keep][::-1], cv.to_px(corners)]), (*colour, 225))
    if look.mustache:
        edge = m.upper_outer[2:-2] - 0.005 * _UP
        band = m.upper_outer[2:-2] - 0.06 * _UP
        ends = xyz([s.mouth_w + 0.04, -s.mouth_w - 0.04], s.mouth_y + 0.04, 0.4)
        poly = np.concatenate([edge, ends[:1], band[::-1], ends[1:]])
        cv.paint(cv.to_px(poly), (*colour, 230))


def draw_brows(cv: Canvas, p: FaceParams, c: Curves) -> None:
    colour = shade(p.look.brow, 0.8) if p.look.eye_shadow is not None else p.look.brow
    for brow, part in zip(c.brows, ("l_brow", "r_brow")):
        cv.part(cv.to_px(np.concatenate([brow.upper, brow.lower[::-1]])), colour, part)


def draw_eyes(cv: Canvas, p: FaceParams, c: Curves) -> None:
    lash = cv.width(0.02 + (0.02 if p.look.eyeliner else 0.0))
    lid = shade(p.look.skin, 0.5, 110)
    for eye, part in zip(c.eyes, ("l_eye", "r_eye")):
        upper = cv.to_px(eye.upper)
        cv.part(np.concatenate([upper, cv.to_px(eye.lower[::-1])]), _SCLERA, part)
        _iris(cv, cv.to_px(eye.iris[None])[0], cv.px(eye.iris_r), p.look.iris, part)
        cv.line(upper, _LASH, lash)
        cv.line(cv.to_px(eye.lower[1:-1]), lid, cv.width(0.01))


def _iris(cv: Canvas, centre: np.ndarray, r: float, colour: tuple[int, int, int], part: str) -> None:
    """Iris, pupil and catch-light, clipped to the eye's visible opening."""
    w, h = cv.img.size
    x0, y0 = max(int(centre[0] - r) - 1, 0), max(int(centre[1] - r) - 1, 0)
    x1, y1 = min(int(centre[0] + r) + 2, w), min(int(centre[1] + r) + 2, h)
    if x1 <= x0 or y1 <= y0:
        return
    box = (x0, y0, x1, y1)
    inside = np.asarray(cv.ids.crop(box)) == PART_ID[part]
    crop = np.array(cv.img.crop(box))
    dx = np.arange(x0, x1) - centre[0]
    dy = (np.arange(y0, y1) - centre[1])[:, None]
    d = np.sqrt(dx * dx + dy * dy) / max(r, 0.5)
    rim = np.clip((d - 0.55) / 0.45, 0.0, 1.0)[..., None]
    iris = (np.asarray(colour, dtype=np.float32) * (1.0 - 0.45 * rim)).astype(np.uint8)
    disc = inside & (d <= 1.0)
    crop[disc] = iris[disc]
    crop[inside & (d <= 0.42)] = _PUPIL
    gx, gy = dx + 0.3 * r, dy + 0.3 * r
    crop[inside & (gx * gx + gy * gy <= max(0.17 * r, 0.5) ** 2)] = (250, 250, 250)
    cv.img.paste(Image.fromarray(crop), box[:2])


def draw_nose(cv: Canvas, p: FaceParams, c: Curves) -> None:
    """Nose region (convex hull of the nose, lighter than the cheeks), ridge shadow, wings, nostrils."""
    skin, n, a = p.look.skin, c.nose, p.actions
    hull = convex_hull(cv.to_px(n.hull))
    cv.part(hull, shade(skin, 1.04), "nose")
    dark = shade(skin, 0.55)
    side = 1.0 if np.cos(p.effects.light_angle) < 0 else -1.0  # shadow away from the light
    ridge = n.bridge[1:-2] + np.array([side * 0.045, 0.0, -0.02])
    cv.line(cv.to_px(ridge), (*dark, 80), cv.width(0.025))
    for wing in n.wings:
        cv.line(cv.to_px(wing[1:]), (*dark, 130), cv.width(0.016))
    wing_x, y = float(n.bottom[-1, 0]), float(n.bottom[0, 1]) - 0.022
    for sd in SIDES:
        cv.paint(cv.to_px(ellipse_pts(sd * wing_x * 0.55, y, 0.034, 0.016, 0.3, 10)), shade(skin, 0.35))
    tip = n.bridge[-1]
    cv.paint(cv.to_px(ellipse_pts(tip[0] - 0.01, tip[1] - 0.02, 0.025, 0.018, tip[2], 8)), (255, 255, 255, 60))
    if a.nose_wrinkle > 0.2:
        for k in range(3):
            yy = 0.06 + 0.045 * k
            line = np.array([[-0.06, yy, 0.3], [0.0, yy - 0.012, 0.33], [0.06, yy, 0.3]])
            cv.line(cv.to_px(line), (*dark, int(120 * a.nose_wrinkle)), cv.width(0.01))


def draw_mouth(cv: Canvas, p: FaceParams, c: Curves) -> None:
    """Lips; when the jaw is open the inner mouth (with teeth) is painted last, between them."""
    m, lips = c.mouth, p.look.lips
    upper_inner, lower_inner = cv.to_px(m.upper_inner), cv.to_px(m.lower_inner)
    cv.part(np.concatenate([cv.to_px(m.upper_outer), upper_inner[::-1]]), shade(lips, 0.88), "u_lip")
    cv.part(np.concatenate([lower_inner, cv.to_px(m.lower_outer[::-1])]), lips, "l_lip")
    if p.actions.jaw_open > 0.0:
        inside = np.concatenate([upper_inner, lower_inner[::-1]])
        cv.part(inside, _MOUTH_INSIDE, "mouth")
        if p.actions.teeth:
            _teeth(cv, p, c, inside)
    else:
        cv.line(upper_inner, shade(lips, 0.45), cv.width(0.012))
    low = m.at(m.lower_outer, [0.0])[0] - 0.03 * _UP
    cv.paint(cv.to_px(ellipse_pts(low[0], low[1], 0.07, 0.014, low[2], 10)), (255, 255, 255, 45))


def _teeth(cv: Canvas, p: FaceParams, c: Curves, inside: np.ndarray) -> None:
    """Upper (and for wide mouths lower) teeth, clipped to the inner mouth."""
    m = c.mouth
    w, h = cv.img.size
    x0, y0 = np.maximum(np.floor(inside.min(axis=0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(inside.max(axis=0)).astype(int) + 2, (w, h))
    if x1 <= x0 or y1 <= y0:
        return
    band = Image.new("L", (int(x1 - x0), int(y1 - y0)), 0)
    draw = ImageDraw.Draw(band)
    rows = [(m.upper_inner, 0.05)]
    if p.actions.jaw_open > 0.12:
        rows.append((m.lower_inner, -0.035))
    for edge, depth in rows:
        poly = np.concatenate([cv.to_px(edge), cv.to_px(edge + depth * _UP)[::-1]]) - (x0, y0)
        draw.polygon(poly.ravel().tolist(), fill=255)
    box = (int(x0), int(y0), int(x1), int(y1))
    mask = (np.asarray(band) > 0) & (np.asarray(cv.ids.crop(box)) == PART_ID["mouth"])
    crop = np.array(cv.img.crop(box))
    crop[mask] = _TEETH
    cv.img.paste(Image.fromarray(crop), box[:2])
