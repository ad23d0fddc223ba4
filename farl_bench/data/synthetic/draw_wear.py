"""Drawing around the face: hair, neck, clothes, jewellery, glasses, hats and occluders."""
from __future__ import annotations

import numpy as np
from PIL import ImageDraw

from .canvas import OCCLUDER, Canvas, mix, shade
from .draw_face import ellipse_pts
from .geometry import BODY, EAR_TOP, SIDES, SILHOUETTE, SKULL_CY, Curves, View, ear_lobe, unit_grid, xyz
from .params import FaceParams

_Y_TEMPLE = -0.2  # where the front hair meets the sides of the face
_STRANDS = 30


def _skull_arc(c: Curves, y_end: float, scale: float = 1.0, n: int = 25) -> np.ndarray:
    """(n, 2) upper skull ellipse, image-left -> over the top -> image-right, ending at height y_end."""
    hw, hh = c.skull[0] * scale, c.skull[1] * scale
    delta = np.arcsin(min(max((SKULL_CY - y_end) / hh, -1.0), 1.0))
    phi = np.pi + delta + (np.pi - 2.0 * delta) * unit_grid(n)
    out = np.empty((n, 2))
    out[:, 0] = hw * np.cos(phi)
    out[:, 1] = SKULL_CY + hh * np.sin(phi)
    return out


def _flat(xy: np.ndarray, z: float) -> np.ndarray:
    """(N, 2) x, y in face units -> (N, 3) at depth z."""
    return xyz(xy[:, 0], xy[:, 1], z)


def draw_back_hair(cv: Canvas, p: FaceParams, c: Curves) -> None:
    """Hair behind the head and face; long hair hangs to `length` and spreads at the ends."""
    h = p.hair
    colour = shade(h.colour, 0.78)
    if h.bald:
        for side in SIDES:  # the fringe left above and behind the ears
            fringe = ellipse_pts(side * 0.92 * p.shape.face_w, -0.08, 0.2, 0.3, -0.3)
            cv.part(cv.to_px(fringe, SILHOUETTE), colour, "hair")
        return
    hw, hh = c.skull
    length = max(h.length, EAR_TOP + 0.1)
    t = unit_grid(14)
    y = SKULL_CY + (length - SKULL_CY) * t
    if length < 0.4:
        x = hw * np.sqrt(np.maximum(1.0 - ((y - SKULL_CY) / hh) ** 2, 0.0))
    else:
        x = hw + (0.1 + 0.25 * h.volume) * t ** 1.5
    period = 0.16 if h.curl else 0.45
    x = x + h.wave * np.sin(2.0 * np.pi * y / period + 7.0 * h.volume) * t
    right = xyz(x, y, -0.3)
    top = _flat(_skull_arc(c, SKULL_CY), -0.3)
    poly = np.concatenate([(right * [-1.0, 1.0, 1.0])[::-1], top, right])
    cv.part(cv.to_px(poly, SILHOUETTE), colour, "hair")


def draw_neck(cv: Canvas, p: FaceParams, c: Curves) -> None:
    w, skin, y = p.shape.neck_w, p.look.skin, c.chin_y
    xs = np.array([w, w * 1.05, w * 1.4, w * 1.4])
    ys = np.array([0.3, y + 0.3, y + 0.9, 8.0])
    poly = xyz(np.concatenate([-xs, xs[::-1]]), np.concatenate([ys, ys[::-1]]), 0.0)
    cv.part(cv.to_px(poly, SILHOUETTE), shade(skin, 0.84), "neck")
    cv.paint(cv.to_px(c.jaw + np.array([0.0, 0.07, 0.0]), SILHOUETTE), shade(skin, 0.5, 60))  # chin shadow


def draw_cloth(cv: Canvas, p: FaceParams, c: Curves) -> None:
    wear = p.wear
    top = c.chin_y + 0.42
    half = p.shape.neck_w * 1.3
    x = half * (2.0 * unit_grid(13) - 1.0)
    depth = {"round": 0.2, "v": 0.5, "collar": 0.06}[wear.neckline]
    if wear.neckline == "v":
        dip = depth * (1.0 - np.abs(x) / half)
    else:
        dip = depth * np.sqrt(np.maximum(1.0 - (x / half) ** 2, 0.0))
    side_x = np.array([-4.5, -4.5, -1.5])
    side_y = np.array([top + 8.0, top + 1.0, top + 0.28])
    poly = xyz(np.concatenate([side_x, x, -side_x[::-1]]), np.concatenate([side_y, top + dip, side_y[::-1]]), 0.0)
    cv.part(cv.to_px(poly, BODY), wear.cloth, "cloth")
    for sd in SIDES:  # shoulder seams
        seam = xyz([sd * 1.5, sd * 4.5], [top + 0.28, top + 1.0], 0.0)
        cv.line(cv.to_px(seam, BODY), (*wear.cloth_dark, 120), cv.width(0.05))
    if wear.neckline == "collar":
        for sd in SIDES:
            flap = xyz([sd * half, sd * 0.04, sd * half * 0.55], [top - 0.03, top + 0.2, top + 0.34], 0.0)
            cv.part(cv.to_px(flap, BODY), (236, 236, 230), "cloth")
    if wear.necktie is not None:
        blade = xyz([-0.05, 0.05, 0.12, 0.0, -0.12], top + np.array([0.18, 0.18, 0.95, 1.1, 0.95]), 0.0)
        knot = xyz([-0.07, 0.07, 0.05, -0.05], top + np.array([0.05, 0.05, 0.18, 0.18]), 0.0)
        cv.part(cv.to_px(blade, BODY), wear.necktie, "cloth")
        cv.part(cv.to_px(knot, BODY), shade(wear.necktie, 0.8), "cloth")


def draw_front_hair(cv: Canvas, p: FaceParams, c: Curves) -> None:
    """Hair over the forehead (hairline, bangs, receding temples) and sideburns."""
    h = p.hair
    if h.bald:
        return
    temple = float(c.half_width(_Y_TEMPLE))
    x = temple * (1.0 - 2.0 * unit_grid(23))
    ax = np.abs(x) / temple
    if h.bangs:
        bang = p.shape.brow_y - 0.1
        y = bang + 0.03 * np.abs(np.sin(11.0 * x + 5.0 * h.volume)) + (_Y_TEMPLE - bang) * ax ** 6
    else:
        y = (h.hairline_y + (_Y_TEMPLE - h.hairline_y) * ax ** 3
             - h.receding * (0.22 * np.exp(-((np.abs(x) - 0.45) / 0.18) ** 2) + 0.06))
    cap = np.concatenate([_flat(_skull_arc(c, _Y_TEMPLE), 0.1), xyz(x, y, 0.1)])
    cv.part(cv.to_px(cap, SILHOUETTE), h.colour, "hair")
    if p.look.sideburns:
        ys = _Y_TEMPLE - 0.02 + 0.54 * unit_grid(8)
        edge = c.half_width(ys)
        for sd in SIDES:
            strip = xyz(sd * np.concatenate([edge, edge[::-1] - 0.1]), np.concatenate([ys, ys[::-1]]), 0.05)
            cv.part(cv.to_px(strip, SILHOUETTE), h.colour, "hair")


def draw_hair_texture(cv: Canvas, p: FaceParams, c: Curves, rng: np.random.Generator) -> None:
    """Strands from the crown and a sheen, painted only where hair is visible."""
    h = p.hair
    hw, hh = c.skull
    k = np.arange(_STRANDS)
    side = np.where(k % 2, -1.0, 1.0)
    reach = rng.uniform(0.15, 1.0, _STRANDS)
    temple = float(c.half_width(_Y_TEMPLE))
    end_x = side * temple * reach
    end_y = h.hairline_y + (_Y_TEMPLE - h.hairline_y) * reach ** 3
    if h.length > 0.4:  # every third strand runs down the long hair at the sides
        down = k % 3 == 0
        end_x = np.where(down, side * (hw + rng.uniform(-0.2, 0.25, _STRANDS)), end_x)
        end_y = np.where(down, min(h.length, 3.0) * reach, end_y)
    t = unit_grid(14)[None, :]
    start_x, start_y = 0.25 * (rng.random() - 0.5), SKULL_CY - 0.95 * hh
    xs = start_x + (end_x[:, None] - start_x) * t + side[:, None] * 0.25 * np.sin(np.pi * t) * reach[:, None]
    xs += 0.6 * h.wave * np.sin(np.pi * t * (6.0 if h.curl else 3.0) + k[:, None])
    ys = start_y + (end_y[:, None] - start_y) * t
    px = cv.to_px(xyz(xs.ravel(), ys.ravel(), 0.1), SILHOUETTE).reshape(_STRANDS, -1)
    layer = cv.img.copy()
    draw = ImageDraw.Draw(layer, "RGBA")
    light, dark, width = shade(h.colour, 1.45, 70), shade(h.colour, 0.55, 90), cv.width(0.012)
    for i in range(_STRANDS):
        draw.line(px[i].tolist(), fill=light if i % 4 == 0 else dark, width=width, joint="curve")
    sheen = cv.to_px(_flat(_skull_arc(c, -0.6, 0.8, 12) + [0.0, 0.1], 0.1), SILHOUETTE)
    draw.line(sheen.ravel().tolist(), fill=shade(h.colour, 1.6, 60), width=cv.width(0.06), joint="curve")
    cv.img.paste(layer, mask=cv.mask_of("hair"))


def draw_earrings(cv: Canvas, p: FaceParams, c: Curves) -> None:
    """Earrings hang from the ear lobes that are not hidden behind the turned head."""
    colour, kind = p.wear.earrings, p.wear.earring_kind
    if colour is None:
        return
    flat = View(yaw=cv.view.yaw, roll=0.0, scale=cv.view.scale, cx=0.0, cy=0.0)
    for side in SIDES:
        lobe = ear_lobe(p, c, side)
        edge = np.array([[side * float(c.half_width(lobe[1])), lobe[1], 0.03]])
        gap = side * (flat.project(lobe[None], SILHOUETTE) - flat.project(edge, SILHOUETTE))[0, 0]
        if gap < cv.px(0.02):
            continue
        if kind == "stud":
            cv.part(cv.to_px(ellipse_pts(lobe[0], lobe[1], 0.032, 0.032, lobe[2], 10), SILHOUETTE), colour, "ear_r")
        elif kind == "hoop":
            ring = ellipse_pts(lobe[0], lobe[1] + 0.07, 0.06, 0.07, lobe[2], 14)
            cv.line(cv.to_px(np.concatenate([ring, ring[:1]]), SILHOUETTE), colour, cv.width(0.018), "ear_r")
        else:
            drop = np.stack([lobe, lobe + [0.0, 0.1, 0.0]])
            cv.line(cv.to_px(drop, SILHOUETTE), colour, cv.width(0.015), "ear_r")
            gem = ellipse_pts(lobe[0], lobe[1] + 0.13, 0.035, 0.045, lobe[2], 10)
            cv.part(cv.to_px(gem, SILHOUETTE), shade(colour, 0.8), "ear_r")


def draw_necklace(cv: Canvas, p: FaceParams, c: Curves) -> None:
    colour = p.wear.necklace
    if colour is None:
        return
    half = p.shape.neck_w * 1.02
    x = half * (2.0 * unit_grid(15) - 1.0)
    y = c.chin_y + 0.25 + 0.32 * (1.0 - (x / half) ** 2)
    cv.line(cv.to_px(xyz(x, y, 0.0), SILHOUETTE), colour, cv.width(0.028), "neck_l")
    pendant = ellipse_pts(0.0, float(y[7]) + 0.04, 0.035, 0.045, 0.0, 10)
    cv.part(cv.to_px(pendant, SILHOUETTE), shade(colour, 0.85), "neck_l")


_LENS_ANGLES = np.linspace(0.0, 2.0 * np.pi, 24, endpoint=False)


def draw_glasses(cv: Canvas, p: FaceParams, c: Curves) -> None:
    """Lenses (tinted), frames, bridge and temples; all of it goes to the eye_g mask."""
    g, s = p.wear.glasses, p.shape
    if g is None:
        return
    gw, gh = s.eye_w * 1.4, s.eye_w * 0.95
    width = cv.width(g.thickness)
    e = 2.0 / g.squareness
    cos, sin = np.cos(_LENS_ANGLES), np.sin(_LENS_ANGLES)
    ux, uy = np.sign(cos) * np.abs(cos) ** e, np.sign(sin) * np.abs(sin) ** e
    tint = (22, 22, 30, 215) if g.sun else (205, 225, 235, 30)
    for side in SIDES:
        px = cv.to_px(xyz(side * s.eye_x + gw * ux, -0.01 + gh * uy, 0.55))
        cv.glasses_part(poly=px)
        cv.paint(px, tint)
        ring = np.concatenate([px, px[:1]])
        temple = np.concatenate([cv.to_px(xyz(side * (s.eye_x + gw), -0.03, 0.5)),
                                 cv.to_px(xyz(side * float(c.half_width(-0.03)), -0.03, 0.0), SILHOUETTE)])
        for line in (ring, temple):
            cv.line(line, g.frame, width)
            cv.glasses_part(line=line, width=width)
    bx = s.eye_x - gw
    bridge = cv.to_px(xyz([-bx, 0.0, bx], [-0.04, -0.07, -0.04], [0.55, 0.6, 0.55]))
    cv.line(bridge, g.frame, width)
    cv.glasses_part(line=bridge, width=width)


def draw_hat(cv: Canvas, p: FaceParams, c: Curves) -> None:
    hat = p.wear.hat
    if hat is None:
        return
    y = hat.bottom_y

    def fill(xy: np.ndarray, tone: float = 1.0) -> None:
        cv.part(cv.to_px(_flat(xy, 0.1), SILHOUETTE), shade(hat.colour, tone), "hat")

    if hat.kind == "brim":
        fill(ellipse_pts(0.0, y, 1.7, 0.2, 0.0, 24)[:, :2], 0.85)
        fill(np.array([[-0.85, y], [-0.78, -1.5], [-0.55, -1.62], [0.55, -1.62], [0.78, -1.5], [0.85, y]]))
        band = np.array([[-0.84, y - 0.02], [-0.82, y - 0.2], [0.82, y - 0.2], [0.84, y - 0.02]])
        cv.paint(cv.to_px(_flat(band, 0.1), SILHOUETTE), shade(hat.colour, 0.45))
        return
    dome = _skull_arc(c, y, 1.06)
    rim_x = dome[::-1, 0]
    edge = np.stack([rim_x, y + 0.03 * (1.0 - (rim_x / dome[-1, 0]) ** 2)], -1)
    fill(np.concatenate([dome, edge]))
    if hat.kind == "beanie":
        band_top = _skull_arc(c, y - 0.18, 1.06)[[0, -1]]
        cv.paint(cv.to_px(_flat(np.concatenate([band_top, edge[[0, -1]]]), 0.1), SILHOUETTE),
                 shade(hat.colour, 0.75))
    else:
        fill(ellipse_pts(0.0, y, c.skull[0] * 0.98, 0.15, 0.0, 24)[:12, :2], 0.8)


def draw_occluder(cv: Canvas, p: FaceParams) -> None:
    """A bar, blob or patch in front of the face; its pixels are labelled background."""
    o = p.occluder
    if o is None:
        return
    if o.kind == "blob":
        shape = ellipse_pts(0.0, 0.0, o.w / 2, o.h / 2, 0.0, 20)[:, :2]
        colour = p.look.skin if o.colour[0] > 200 else o.colour  # sometimes a hand-like skin blob
    else:
        w, h = (0.9 + o.w, 0.06 + 0.25 * o.h) if o.kind == "bar" else (o.w, o.h)
        shape = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
        colour = o.colour
    rot = np.array([[np.cos(o.angle), -np.sin(o.angle)], [np.sin(o.angle), np.cos(o.angle)]])
    pts = shape @ rot.T + np.array([o.x, o.y])
    cv.part(cv.to_px(_flat(pts, 0.9)), colour, OCCLUDER)
    mid = pts.mean(axis=0)
    cv.paint(cv.to_px(_flat(0.55 * (pts - mid) + mid, 0.9)), mix(colour, (255, 255, 255), 0.2))
