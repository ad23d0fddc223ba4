"""Procedural face renderer: one parameter draw gives an image and every label computed from it.

CONTRACT (other modules rely on these names; keep them stable):

    sample_params(rng: np.random.Generator) -> FaceParams
    render(params: FaceParams, width: int, height: int | None = None) -> RenderedFace

All coordinates are 0-based pixels (x, y) of the rendered image; pixel centres at integers.

Left and right: "l_" / "left" always means the part on the IMAGE-left side (CelebAMask-HQ's l_eye,
LaPa's left_eye = id 4, the first eye of every landmark layout, ...). The landmark layouts are
documented in `landmarks.py`.

Labels:
- parts: every CelebAMask-HQ part as it is visible. The face is drawn with PIL polygons into the
  colour image and, with the same polygons, into an id image (one part per pixel, painter's order),
  so the masks are disjoint and agree with the pixels. The exception is eye_g: glasses are
  see-through, so the eyes and skin under them keep their own masks. l_lip is the lower lip,
  u_lip the upper one, mouth the inner mouth (non-empty exactly when Mouth_Slightly_Open).
- lapa_label: the parts painted in CELEBAMASK_PARTS order with LAPA_FROM_PARTS (`labels.py`):
  ears are skin; neck, cloth, hat and jewellery are background; glasses are not labelled.
- An occluder (a bar, blob or patch in front of the face) hides what is under it: its pixels are
  background everywhere; landmarks keep their true positions and visible19 marks them hidden.
- visible19: inside the image, not under hair, hat or occluder, and not behind the turned head.
- bbox: box of the face outline (forehead to chin, cheek to cheek), clipped to the image.
- attributes: the strongly drawn ones are exact; the subtle ones (face shape, nose, lips, brows,
  skin, hair texture, ...) carry difficulty-scaled annotator noise, as CelebA's do.
- flags (WFLW): pose |yaw| > 25 deg or |roll| > 20 deg; expression intensity > 0.85; illumination
  strong light gradient or exposure; make-up (eye make-up); occlusion (occluder or sunglasses);
  blur (optical blur above the Blurry level).

Modules: `labels` (vocabularies), `params` (FaceParams and its random draw), `geometry` (face
curves and the projection), `landmarks`, `canvas` / `draw_face` / `draw_wear` (painting),
`effects` (background, blur, light, noise).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .canvas import OCCLUDER, PART_ID, Canvas
from .draw_face import (
    draw_brows, draw_ears, draw_eyes, draw_facial_hair, draw_marks, draw_mouth, draw_nose, draw_skin,
)
from .draw_wear import (
    draw_back_hair, draw_cloth, draw_earrings, draw_front_hair, draw_glasses, draw_hair_texture,
    draw_hat, draw_neck, draw_necklace, draw_occluder,
)
from .effects import background, finish
from .geometry import SILHOUETTE, View, build_curves
from .labels import CELEBA_ATTRIBUTES, CELEBAMASK_PARTS, EXPRESSIONS, LAPA_FROM_PARTS, LAPA_LABELS
from .landmarks import landmark_sets
from .params import FaceParams, sample_params

__all__ = [
    "CELEBA_ATTRIBUTES", "CELEBAMASK_PARTS", "EXPRESSIONS", "LAPA_FROM_PARTS", "LAPA_LABELS",
    "FaceParams", "RenderedFace", "render", "sample_params",
]


@dataclass
class RenderedFace:
    image: np.ndarray                 # H x W x 3 uint8 RGB
    parts: dict[str, np.ndarray]      # CELEBAMASK_PARTS name -> H x W bool (absent part: all False)
    lapa_label: np.ndarray            # H x W uint8, values 0..10 in LAPA_LABELS order
    landmarks: dict[str, np.ndarray]  # "68" (300W), "98" (WFLW), "19" (AFLW-19), "106" (LaPa): K x 2 float
    visible19: np.ndarray             # (19,) bool: AFLW-19 visibility (False when occluded / turned away)
    bbox: tuple[float, float, float, float]  # face box x_min, y_min, x_max, y_max
    attributes: dict[str, bool]       # all 40 CELEBA_ATTRIBUTES
    age: float                        # years (true age)
    age_std: float                    # apparent-age spread in years (> 0)
    gender: int                       # 0 male, 1 female (UTKFace convention)
    race: int                         # 0..4 White, Black, Asian, Indian, Others
    expression: str                   # one of EXPRESSIONS
    flags: dict[str, bool]            # WFLW flags: pose, expression, illumination, makeup, occlusion, blur
    difficulty: float                 # 0 (easy) .. 1 (hard)


_LAPA_LUT = [LAPA_FROM_PARTS.get(name, 0) for name in ("background", *CELEBAMASK_PARTS)]
_LAPA_LUT += [0] * (256 - len(_LAPA_LUT))
_PART_IDS = np.array([PART_ID[name] for name in CELEBAMASK_PARTS], dtype=np.uint8)[:, None, None]
# AFLW-19 points that the head hides when it turns far enough toward the other side:
# (index, side of the face it is on, |yaw| in radians beyond which it is hidden).
_SELF_OCCLUDED = ((0, -1, 0.6), (6, -1, 0.62), (12, -1, 0.45), (5, 1, 0.6), (11, 1, 0.62), (14, 1, 0.45))
# Id-image values that hide a landmark under them.
_HIDING = np.array([PART_ID["hair"], PART_ID["hat"], OCCLUDER])


def render(params: FaceParams, width: int, height: int | None = None, zoom: float = 1.0) -> RenderedFace:
    """Draw the face at width x height pixels (square if height is None) with all its labels;
    `zoom` > 1 frames it tighter (see _framing)."""
    height = width if height is None else height
    p = params
    view = _framing(p, width, height, zoom)
    curves = build_curves(p)
    rng = np.random.default_rng(p.seed)
    cv = Canvas(background(rng, width, height, p.effects.background), view)
    # Painter's order, back to front.
    for draw in (draw_back_hair, draw_neck, draw_cloth, draw_ears, draw_skin, draw_marks,
                 draw_facial_hair, draw_brows, draw_eyes, draw_nose, draw_mouth, draw_front_hair,
                 draw_earrings, draw_necklace, draw_glasses, draw_hat):
        draw(cv, p, curves)
    draw_occluder(cv, p)
    draw_hair_texture(cv, p, curves, rng)
    image = finish(cv.img, p.effects, view.scale, rng)
    ids = np.asarray(cv.ids)
    landmarks = landmark_sets(curves, view)
    return RenderedFace(
        image=image, parts=_parts(ids, cv.glasses if p.wear.glasses is not None else None),
        lapa_label=np.array(cv.ids.point(_LAPA_LUT)),
        landmarks=landmarks, visible19=_visible19(landmarks["19"], ids, p.camera.yaw),
        bbox=_face_box(curves.outline, view, width, height), attributes=dict(p.attributes),
        age=p.age, age_std=p.age_std, gender=p.gender, race=p.race, expression=p.expression,
        flags=_wflw_flags(p), difficulty=p.difficulty,
    )


def _framing(p: FaceParams, width: int, height: int, zoom: float) -> View:
    """CelebA-like framing at zoom 1: eye line near mid-height, face about half the image width.
    Larger zooms frame tighter about the eyes-to-mouth centre, as the expression datasets' crops."""
    cam = p.camera
    return View(yaw=cam.yaw, roll=cam.roll, scale=0.25 * zoom * min(width, height) * cam.scale,
                cx=width * (0.5 + cam.shift_x), cy=height * (0.49 - 0.19 * (zoom - 1.0) + cam.shift_y))


def _parts(ids: np.ndarray, glasses: Image.Image | None) -> dict[str, np.ndarray]:
    """One mask per part (views of one (18, H, W) array, compared in a single pass)."""
    planes = ids[None] == _PART_IDS
    parts = dict(zip(CELEBAMASK_PARTS, planes))
    if glasses is None:
        parts["eye_g"] = np.zeros_like(ids, dtype=bool)
    else:
        parts["eye_g"] = (np.asarray(glasses) > 0) & (ids != OCCLUDER) & ~parts["hat"]
    return parts


def _visible19(points: np.ndarray, ids: np.ndarray, yaw: float) -> np.ndarray:
    """Inside the image, not under hair / hat / occluder, and not behind the turned head."""
    h, w = ids.shape
    xy = np.rint(points).astype(int)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    under = ids[np.clip(xy[:, 1], 0, h - 1), np.clip(xy[:, 0], 0, w - 1)]
    visible = inside & ~np.isin(under, _HIDING)
    for index, side, limit in _SELF_OCCLUDED:
        if side * yaw > limit:  # + yaw turns the features to the image right, hiding that side
            visible[index] = False
    return visible


def _face_box(outline: np.ndarray, view: View, width: int, height: int) -> tuple[float, float, float, float]:
    """Box of the face outline (forehead to chin, cheek to cheek), clipped to the image."""
    px = view.project(outline, SILHOUETTE)
    x0, y0 = np.maximum(px.min(axis=0), 0.0)
    x1, y1 = np.minimum(px.max(axis=0), (width - 1.0, height - 1.0))
    return float(x0), float(y0), float(x1), float(y1)


def _wflw_flags(p: FaceParams) -> dict[str, bool]:
    fx = p.effects
    return {
        "pose": bool(abs(p.camera.yaw) > np.radians(25) or abs(p.camera.roll) > np.radians(20)),
        "expression": p.intensity > 0.85,
        "illumination": fx.light > 0.35 or abs(fx.brightness - 1.0) > 0.2,
        "makeup": p.look.eye_shadow is not None,
        "occlusion": p.occluder is not None or (p.wear.glasses is not None and p.wear.glasses.sun),
        "blur": fx.blur > 0.035,
    }
