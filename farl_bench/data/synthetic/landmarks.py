"""Landmark layouts of the synthetic faces, sampled from the same curves that are drawn.

"Left" is the IMAGE-left part throughout; every layout lists image-left parts first and runs
left to right where the real dataset does:

- "68"  300W / iBUG: 0-16 jaw (image-left to right via the chin, 8 = chin), 17-21 left brow
  (outer -> inner), 22-26 right brow (inner -> outer), 27-30 nose bridge (30 = tip), 31-35 nose
  base (left -> right), 36-41 left eye (36 outer corner, 39 inner, clockwise), 42-47 right eye
  (42 inner, 45 outer corner), 48-59 outer lip (48 left corner, 51 top centre, 54 right corner,
  57 bottom centre), 60-67 inner lip (60 left inner corner, 64 right inner corner).
- "98"  WFLW: 0-32 jaw, 33-41 left brow (33 outer tip, 33-37 upper edge to the inner end, 38-41
  lower edge back out), 42-50 right brow (42-46 upper edge inner -> outer tip, 47-50 lower edge
  back in), 51-54 bridge (54 = tip), 55-59 nose base, 60-67 left eye (60 outer corner, 64 inner),
  68-75 right eye (68 inner, 72 outer corner), 76-87 outer lip, 88-95 inner lip, 96/97 pupils.
- "106" LaPa (WFLW-like order): 0-32 jaw, 33-41 / 42-50 brows as WFLW, 51-54 bridge (54 = tip),
  55-57 left nose wing (top -> bottom), 58-62 nose base (left -> right), 63-65 right nose wing
  (bottom -> top), 66-73 left eye (66 outer corner, 70 inner), 74 left eye centre (between the
  lids), 75-82 right eye (75 inner, 79 outer corner), 83 right eye centre, 84-95 outer lip
  (84 / 90 corners), 96-103 inner lip, 104/105 pupils. FaRL aligns on [104, 105, 54, 84, 90].
- "19"  AFLW-19 (AFLW's 21 points less the ears): 0-2 left brow (outer, centre, inner), 3-5 right
  brow (inner, centre, outer), 6-8 left eye (outer corner, pupil, inner corner), 9-11 right eye
  (inner corner, pupil, outer corner), 12 nose left wing, 13 nose tip, 14 nose right wing,
  15 mouth left corner, 16 mouth centre, 17 mouth right corner, 18 chin. So g6-g11 is the outer
  inter-ocular distance and g7-g10 the inter-pupil distance.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .geometry import SILHOUETTE, Curves, View, along

_Q = (0.0, 0.25, 0.5, 0.75, 1.0)                 # brow edges, nose base
_E = (0.0, 1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 4, 1.0)  # eyelids: quarters and thirds
_JAW = np.linspace(0.0, 1.0, 33)                 # jaw: even arc-length steps


def _across(*u: float) -> tuple[float, ...]:
    """Mouth positions -1 (image-left corner) .. +1 -> curve fractions."""
    return tuple((v + 1.0) / 2.0 for v in u)


# Feature curves and the fractions of their parameter where landmarks sit (all curves are sampled
# evenly in their parameter: x across brows, eyes and mouth, angle around the nose wings).
_SAMPLES = (
    _Q, _Q, _Q, _Q,                       # brows: left upper, left lower, right upper, right lower
    _E, _E, _E, _E,                       # eyes: left upper, left lower, right upper, right lower
    (0.0, 1 / 3, 2 / 3, 1.0), _Q,         # nose bridge (root -> tip), nose base
    (0.25, 0.5, 0.75), (0.25, 0.5, 0.75),  # nose wings (top -> bottom)
    _across(-1.0, -0.6, -0.27, 0.0, 0.27, 0.6, 1.0),  # upper lip outer edge
    _across(0.6, 0.27, 0.0, -0.27, -0.6),               # lower lip outer edge
    _across(-0.95, -0.45, 0.0, 0.45, 0.95),             # upper lip inner edge
    _across(-0.95, 0.45, 0.0, -0.45, 0.95),             # lower lip inner edge
    (0.0, 1.0),                           # pupils
)


def landmark_sets(c: Curves, view: View) -> dict[str, np.ndarray]:
    """Every layout as (K, 2) float pixel coordinates."""
    (b0, b1), (e0, e1), nose, m = c.brows, c.eyes, c.nose, c.mouth
    curves = (b0.upper, b0.lower, b1.upper, b1.lower, e0.upper, e0.lower, e1.upper, e1.lower,
              nose.bridge, nose.bottom, nose.wings[0], nose.wings[1], m.upper_outer, m.lower_outer,
              m.upper_inner, m.lower_inner, np.stack([e0.iris, e1.iris]))
    i, w, cuts = _table(tuple(len(k) for k in curves))
    stacked = np.concatenate(curves)
    pts = view.project(stacked[i] * (1.0 - w) + stacked[i + 1] * w)
    (lbu, lbl, rbu, rbl, leu, lel, reu, rel, bridge, base, lwing, rwing,
     outer_up, outer_low, inner_up, inner_low, pupils) = np.split(pts, cuts)
    inner_corners = 0.5 * (inner_up[[0, 4]] + inner_low[[0, 4]])
    mouth = np.concatenate([outer_up, outer_low, inner_corners[:1], inner_up[1:4], inner_corners[1:],
                            inner_low[1:4]])
    jaw = view.project(along(c.jaw, _JAW), SILHOUETTE)
    left_brow = np.concatenate([lbu, lbl[[4, 3, 2, 1]]])
    right_brow = np.concatenate([rbu[::-1], rbl[1:]])
    left_eye = np.concatenate([leu[[0, 1, 3, 5, 6]], lel[[5, 3, 1]]])
    right_eye = np.concatenate([reu[[6, 5, 3, 1, 0]], rel[[1, 3, 5]]])
    eye_centres = 0.5 * np.stack([leu[3] + lel[3], reu[3] + rel[3]])
    brow_mid = 0.5 * np.stack([lbu[2] + lbl[2], lbu[4] + lbl[4], rbu[4] + rbl[4], rbu[2] + rbl[2]])
    return {
        "68": np.concatenate([
            jaw[::2], lbu, rbu[::-1], bridge, base, leu[[0, 2, 4, 6]], lel[[4, 2]],
            reu[[6, 4, 2, 0]], rel[[2, 4]], mouth,
        ]),
        "98": np.concatenate([jaw, left_brow, right_brow, bridge, base, left_eye, right_eye, mouth, pupils]),
        "106": np.concatenate([
            jaw, left_brow, right_brow, bridge, lwing, base, rwing[::-1], left_eye, eye_centres[:1],
            right_eye, eye_centres[1:], mouth, pupils,
        ]),
        "19": np.concatenate([
            lbu[:1], brow_mid, rbu[:1], leu[:1], pupils[:1], leu[6:], reu[6:], pupils[1:], reu[:1],
            lwing[1:2], bridge[3:], rwing[1:2], mouth[[0]], 0.5 * (mouth[[14]] + mouth[[18]]), mouth[[6]],
            jaw[16:17],
        ]),
    }


@lru_cache(maxsize=4)
def _table(lengths: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row index i and weight w (rows i, i + 1 of the stacked curves) of every sample; group cuts."""
    index, weight = [], []
    start = 0
    for n, fractions in zip(lengths, _SAMPLES):
        pos = np.asarray(fractions) * (n - 1)
        i = np.minimum(pos.astype(int), n - 2)
        index.append(start + i)
        weight.append(pos - i)
        start += n
    cuts = np.cumsum([len(f) for f in _SAMPLES])[:-1]
    return np.concatenate(index), np.concatenate(weight)[:, None], cuts
