"""What decides one synthetic face: the parameter dataclasses and their random draw.

Lengths are in face units (1 = half the face width of an average adult; x to the image right, y down,
the eye line at y = 0); angles in radians; colours are RGB tuples of 0..255 ints. Every label
(attributes, age, expression, ...) is decided here together with the drawing controls that show it,
so the renderer only has to follow the parameters.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .labels import CELEBA_ATTRIBUTES, EXPRESSIONS

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Shape:
    """Geometry of the face itself (face units)."""

    face_w: float        # half-width of the outline at the cheeks
    chin_y: float        # y of the chin bottom (mouth closed)
    forehead_y: float    # y of the outline top (negative)
    jaw_square: float    # superellipse exponent of the lower outline: 2 round .. 3.2 square
    jaw_taper: float     # narrowing toward the chin
    cheekbones: float    # 0..1 bulge high on the cheeks
    double_chin: bool
    eye_x: float         # distance of each eye centre from the midline
    eye_w: float         # half-width of an eye
    eye_h: float         # height of the upper lid above the corner line
    eye_tilt: float      # rise of the outer corner, in eye half-widths
    iris_r: float
    gaze: tuple[float, float]  # iris offset, fractions of the eye half-width / opening
    brow_y: float        # height of the brows' centre line (negative: above the eyes)
    brow_thick: float
    brow_arch: float
    nose_y: float        # y of the nose tip
    nose_w: float        # half-width at the nostril wings
    nose_proj: float     # depth of the nose tip (pointy noses stick out)
    nose_tip_r: float
    mouth_y: float       # y of the line between the lips
    mouth_w: float       # half-width of the mouth
    lip_up: float        # thickness of the upper lip at the centre
    lip_low: float       # thickness of the lower lip at the centre
    ear_w: float
    neck_w: float


@dataclass(frozen=True)
class Actions:
    """Expression muscles: 0 is the resting face."""

    brow_raise: float       # raises both brows (+) or lowers them (-)
    brow_inner: float       # raises the inner brow ends (+, sad / fear) or lowers them (-, anger)
    brow_squeeze: float     # pulls the inner brow ends together
    eye_open: float         # multiplier of the eye opening
    squint: float           # 0..1 raises the lower lids
    smile: float            # raises (+) or lowers (-) both mouth corners
    smirk: float            # raises one corner: + the image-right one, - the image-left one
    jaw_open: float         # gap between the lips at the centre; 0 = closed
    mouth_stretch: float    # widens (+) or purses (-) the mouth
    lip_press: float        # 0..1 thins the lips
    upper_lip_raise: float  # 0..1 (disgust)
    nose_wrinkle: float     # 0..1 (disgust)
    teeth: bool             # teeth show in the open mouth


@dataclass(frozen=True)
class Hair:
    colour: RGB
    length: float      # y where the hair ends (short hair ends above the ears)
    volume: float      # 0..1 extra width and height
    wave: float        # amplitude of waves (0 = straight)
    curl: bool         # tight, high-frequency waves
    hairline_y: float  # y of the hairline at the midline
    receding: float    # 0..1 recession at the temples
    bald: bool
    bangs: bool


@dataclass(frozen=True)
class Look:
    """Colours, make-up, facial hair and age marks."""

    skin: RGB
    lips: RGB
    iris: RGB
    brow: RGB
    eye_shadow: RGB | None
    eyeliner: bool
    blush: float         # 0..1 strength of the rosy cheeks
    beard: str           # "none", "stubble", "goatee" or "full"
    mustache: bool
    sideburns: bool
    beard_colour: RGB
    wrinkles: float      # 0..1
    bags: float          # 0..1 bags under the eyes


@dataclass(frozen=True)
class Glasses:
    frame: RGB
    thickness: float   # frame width (face units)
    squareness: float  # lens superellipse exponent: 2 round .. 5 rectangular
    sun: bool          # dark lenses


@dataclass(frozen=True)
class Hat:
    kind: str          # "beanie", "cap" or "brim"
    colour: RGB
    bottom_y: float    # y of the hat's lower edge on the forehead


@dataclass(frozen=True)
class Wear:
    cloth: RGB
    cloth_dark: RGB
    neckline: str              # "round", "v" or "collar"
    necktie: RGB | None
    necklace: RGB | None
    earrings: RGB | None
    earring_kind: str          # "stud", "hoop" or "drop"
    glasses: Glasses | None
    hat: Hat | None


@dataclass(frozen=True)
class Camera:
    yaw: float       # turn: + moves the features toward the image right
    roll: float      # in-plane rotation, + clockwise on screen
    scale: float     # face size relative to the default framing
    shift_x: float   # face offset, fraction of the image width
    shift_y: float   # face offset, fraction of the image height


@dataclass(frozen=True)
class Effects:
    background: tuple[RGB, RGB]
    light_angle: float     # direction the light comes from
    light: float           # strength of the illumination gradient
    brightness: float      # global gain
    tint: tuple[float, float, float]  # per-channel gain
    blur: float            # Gaussian sigma of the optical blur (face units)
    noise: float           # sensor noise sigma (0..255 grey levels)


@dataclass(frozen=True)
class Occluder:
    kind: str              # "bar", "blob" or "patch"
    x: float               # centre (face units)
    y: float
    w: float               # size (face units)
    h: float
    angle: float
    colour: RGB


@dataclass(frozen=True)
class FaceParams:
    """Everything that decides one face; `render` draws it and reports the labels."""

    seed: int                       # seeds the render-time texture details
    age: float                      # years
    age_std: float                  # apparent-age spread, years
    gender: int                     # 0 male, 1 female
    race: int                       # 0..4 White, Black, Asian, Indian, Others
    expression: str
    intensity: float                # 0..1 strength of the expression
    difficulty: float               # 0 easy .. 1 hard
    attributes: dict[str, bool]     # the 40 CelebA labels (weak ones carry label noise)
    shape: Shape
    actions: Actions
    hair: Hair
    look: Look
    wear: Wear
    camera: Camera
    effects: Effects
    occluder: Occluder | None


_RACE_P = (0.5, 0.16, 0.16, 0.11, 0.07)
_EXPRESSION_P = (0.24, 0.42, 0.06, 0.08, 0.05, 0.05, 0.05, 0.05)
_SKIN = ((226, 189, 165), (112, 76, 56), (228, 192, 158), (168, 118, 86), (190, 146, 112))
_IRIS = ((92, 58, 32), (48, 32, 22), (78, 118, 168), (92, 122, 78), (120, 92, 52))
_HAIR = {
    "black": (24, 20, 18), "brown": (98, 62, 36), "blond": (212, 176, 116),
    "gray": (178, 176, 172), "dark": (58, 40, 30), "auburn": (136, 64, 36),
}
_LIPSTICK = ((182, 28, 44), (208, 70, 110), (134, 34, 60), (198, 104, 96), (226, 60, 60))
_SHADOW = ((112, 78, 140), (70, 90, 130), (150, 100, 80), (90, 70, 60), (60, 110, 100))
_METAL = ((212, 175, 55), (196, 198, 204), (190, 40, 60), (40, 120, 200))


class _Labeler:
    """Turns drawn quantities into labels with annotator noise that grows with difficulty.

    Continuous cues are thresholded after adding noise (ambiguous near the threshold); boolean
    cues are flipped both ways at rates that keep their base rate.
    """

    def __init__(self, rng: np.random.Generator, difficulty: float):
        self.rng = rng
        self.sigma = 0.15 + 0.5 * difficulty
        self.flip = 0.04 + 0.25 * difficulty

    def above(self, z: float, threshold: float, scale: float = 1.0) -> bool:
        """z (spread about `scale`) beyond threshold, seen through noise."""
        return bool(z + self.rng.normal(0.0, self.sigma * scale) > threshold)

    def seen(self, value: bool, prior: float) -> bool:
        """A boolean cue with balanced flips (prior = the cue's base rate)."""
        p = self.flip * ((1.0 - prior) if value else prior)
        return bool(value) != bool(self.rng.random() < p)


def sample_params(rng: np.random.Generator) -> FaceParams:
    """Draw one face; depends only on `rng`."""
    difficulty = float(rng.beta(1.4, 2.6))
    label = _Labeler(rng, difficulty)
    male = bool(rng.random() < 0.42)
    age = _sample_age(rng)
    race = int(rng.choice(5, p=_RACE_P))
    expression = EXPRESSIONS[int(rng.choice(len(EXPRESSIONS), p=_EXPRESSION_P))]
    intensity = 0.0 if expression == "neutral" else float(rng.uniform(0.3, 1.0))
    actions = _sample_actions(rng, expression, intensity)
    attrs: dict[str, bool] = {"Male": male, "Young": label.above(36.0 - age, 0.0, 10.0),
                              "Smiling": _mean_corner_lift(actions) > 0.35,
                              "Mouth_Slightly_Open": actions.jaw_open > 0.0}
    shape = _sample_shape(rng, label, male, age, race, actions, attrs)
    hair = _sample_hair(rng, label, male, age, race, attrs)
    look = _sample_look(rng, label, male, age, race, hair, attrs)
    wear = _sample_wear(rng, male, age, attrs)
    camera = _sample_camera(rng, difficulty)
    effects = _sample_effects(rng, label, difficulty, attrs)
    occluder = _sample_occluder(rng, difficulty)
    attrs["Attractive"] = _attractive(rng, attrs)
    return FaceParams(
        seed=int(rng.integers(0, 2**31 - 1)), age=age,
        age_std=float(1.5 + 0.06 * age + 3.0 * difficulty * rng.random()),
        gender=0 if male else 1, race=race, expression=expression, intensity=intensity,
        difficulty=difficulty, attributes={name: attrs[name] for name in CELEBA_ATTRIBUTES},
        shape=shape, actions=actions, hair=hair, look=look, wear=wear, camera=camera,
        effects=effects, occluder=occluder,
    )


def _sample_age(rng: np.random.Generator) -> float:
    """Years, 0..90: mostly young adults, as in celebrity photos, with children and elders."""
    low, high = [(1, 13), (13, 20), (20, 36), (36, 56), (56, 90)][
        int(rng.choice(5, p=(0.07, 0.1, 0.6, 0.15, 0.08)))]
    return float(rng.uniform(low, high))


def _mean_corner_lift(actions: Actions) -> float:
    """Mean rise of the two mouth corners, in units of a full smile."""
    return actions.smile + 0.5 * abs(actions.smirk)


_ACTION_PROFILES = {
    # brow_raise, brow_inner, brow_squeeze, eye_open-1, squint, smile, smirk, stretch, press, lip_raise, wrinkle
    "neutral": (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    "happiness": (0.1, 0, 0, -0.1, 0.6, 1.0, 0, 0.3, 0, 0, 0),
    "sadness": (0, 1.0, 0.4, -0.15, 0, -0.7, 0, -0.1, 0.3, 0, 0),
    "surprise": (1.0, 0.2, 0, 0.5, 0, 0, 0, -0.4, 0, 0, 0),
    "fear": (0.6, 0.7, 0.7, 0.45, 0, -0.35, 0, 0.45, 0, 0, 0),
    "disgust": (-0.5, 0, 0.5, -0.2, 0.6, -0.4, 0, 0, 0.2, 1.0, 1.0),
    "anger": (-0.7, -0.8, 1.0, -0.1, 0.3, -0.2, 0, 0, 0.6, 0, 0.3),
    "contempt": (0, 0, 0, -0.05, 0.15, 0.05, 1.0, 0, 0.2, 0, 0),
}
# P(mouth open), gap range (face units) at full intensity, and P(teeth show) when open.
_MOUTH = {
    "neutral": (0.3, 0.04, 0.07, 0.1), "happiness": (0.65, 0.05, 0.2, 0.85),
    "sadness": (0.15, 0.04, 0.08, 0.1), "surprise": (1.0, 0.14, 0.32, 0.2),
    "fear": (0.8, 0.06, 0.18, 0.6), "disgust": (0.3, 0.04, 0.1, 0.8),
    "anger": (0.3, 0.05, 0.14, 0.9), "contempt": (0.05, 0.04, 0.06, 0.1),
}


def _sample_actions(rng: np.random.Generator, expression: str, intensity: float) -> Actions:
    base = np.asarray(_ACTION_PROFILES[expression], dtype=float) * intensity
    if rng.random() < 0.5:  # real faces often blend in a weaker second expression
        other = EXPRESSIONS[int(rng.integers(len(EXPRESSIONS)))]
        base += np.asarray(_ACTION_PROFILES[other], dtype=float) * max(intensity, 0.3) * rng.uniform(0.0, 0.4)
    raise_, inner, squeeze, eye_open, squint, smile, smirk, stretch, press, lip_raise, wrinkle = (
        base + rng.normal(0.0, 0.1, size=base.size))
    smirk *= rng.choice((-1.0, 1.0))
    p_open, gap_lo, gap_hi, p_teeth = _MOUTH[expression]
    gap = 0.0
    if rng.random() < p_open:
        gap = gap_lo + (gap_hi - gap_lo) * rng.random() * max(intensity, 0.3)
    return Actions(
        brow_raise=float(raise_), brow_inner=float(inner), brow_squeeze=float(max(squeeze, 0.0)),
        eye_open=float(np.clip(1.0 + eye_open, 0.6, 1.6)), squint=float(np.clip(squint, 0.0, 1.0)),
        smile=float(smile), smirk=float(smirk), jaw_open=float(gap), mouth_stretch=float(stretch),
        lip_press=float(np.clip(press, 0.0, 0.8)), upper_lip_raise=float(np.clip(lip_raise, 0.0, 1.0)),
        nose_wrinkle=float(np.clip(wrinkle, 0.0, 1.0)), teeth=bool(gap > 0 and rng.random() < p_teeth),
    )


def _sample_shape(rng: np.random.Generator, label: _Labeler, male: bool, age: float, race: int,
                  actions: Actions, attrs: dict[str, bool]) -> Shape:
    n = rng.normal
    child = float(np.clip((15.0 - age) / 13.0, 0.0, 1.0))
    old = float(np.clip((age - 40.0) / 40.0, 0.0, 1.0))
    sex = 1.0 if male else -1.0
    chubby = n() + 0.9 * old + 0.2 * male
    oval = n() - 0.3 * male - 0.3 * max(chubby, 0.0)
    double = 0.6 * chubby + 0.8 * n() + 1.2 * old
    cheek = n()
    narrow = n() + 0.9 * (race == 2)
    bushy = n() + 1.0 * male
    arch = n() + 1.0 * (not male) - 0.3 * male
    big_nose = n() + 0.5 * male + 0.6 * old + 0.5 * (race == 1) - 1.0 * child
    pointy = n() + 0.4 * (not male) - 0.4 * max(big_nose, 0.0)
    lips = n() + 0.8 * (race == 1) + 0.3 * (not male) - 0.6 * old
    smiling = attrs["Smiling"]
    eye_h = 0.078 * (1.0 - 0.1 * narrow) * (1.0 + 0.15 * child)
    opening = eye_h * actions.eye_open * (1.0 - 0.35 * actions.squint)
    double_chin = double > 2.2
    attrs.update({
        "Chubby": label.above(chubby, 2.0), "Double_Chin": label.seen(double_chin, 0.05),
        "Oval_Face": label.above(oval, 0.65), "High_Cheekbones": label.above(cheek + 1.3 * smiling, 0.8),
        "Bushy_Eyebrows": label.above(bushy, 1.8), "Arched_Eyebrows": label.above(arch, 1.2),
        "Big_Nose": label.above(big_nose, 1.15), "Pointy_Nose": label.above(pointy, 0.7),
        "Big_Lips": label.above(lips, 1.0), "Narrow_Eyes": label.above(-opening, -0.0545, 0.006),
    })
    nose_y = 0.47 + 0.025 * n() + 0.02 * big_nose - 0.08 * child
    lip_up = max(0.05 + 0.012 * lips, 0.025)
    chin_y = 1.28 + 0.04 * n() + 0.07 * max(oval, 0.0) - 0.2 * child
    mouth_y = max(0.8 + 0.025 * n() + 0.3 * (chin_y - 1.28) - 0.06 * child, nose_y + 0.2 + lip_up)
    return Shape(
        face_w=1.0 + 0.03 * n() + 0.06 * max(chubby, 0.0) - 0.04 * max(oval, 0.0),
        chin_y=chin_y, forehead_y=-1.0 - 0.04 * n() - 0.1 * child,
        jaw_square=float(np.clip(2.25 + 0.25 * sex + 0.12 * n() + 0.2 * max(chubby, 0.0), 1.8, 3.2)),
        jaw_taper=float(np.clip(0.2 - 0.06 * sex + 0.04 * n() + 0.06 * max(oval, 0.0), 0.02, 0.4)),
        cheekbones=float(np.clip(0.5 + 0.35 * cheek, 0.0, 1.0)), double_chin=double_chin,
        eye_x=0.4 + 0.015 * n(), eye_w=0.165 + 0.008 * n() + 0.02 * child, eye_h=eye_h,
        eye_tilt=0.05 * n() + 0.12 * (race == 2), iris_r=0.068 + 0.004 * n() + 0.008 * child,
        gaze=(float(np.clip(0.3 * n(), -0.8, 0.8)), float(np.clip(0.2 * n(), -0.5, 0.5))),
        brow_y=-0.25 + 0.018 * n() + 0.02 * male - 0.02 * child,
        brow_thick=float(np.clip(0.046 + 0.011 * bushy, 0.025, 0.09)),
        brow_arch=float(np.clip(0.03 + 0.016 * arch, 0.0, 0.08)),
        nose_y=nose_y, nose_w=float(np.clip(0.135 + 0.02 * big_nose - 0.02 * child, 0.09, 0.2)),
        nose_proj=float(np.clip(0.45 + 0.06 * pointy, 0.3, 0.6)),
        nose_tip_r=float(np.clip(0.05 - 0.008 * pointy + 0.006 * big_nose, 0.03, 0.075)),
        mouth_y=mouth_y, mouth_w=0.26 + 0.018 * n() + 0.01 * male - 0.04 * child,
        lip_up=lip_up, lip_low=max(0.068 + 0.016 * lips, 0.035),
        ear_w=0.13 + 0.015 * n(), neck_w=0.42 + 0.06 * male + 0.025 * n() + 0.05 * max(chubby, 0.0),
    )


def _sample_hair(rng: np.random.Generator, label: _Labeler, male: bool, age: float, race: int,
                 attrs: dict[str, bool]) -> Hair:
    older = age > 35
    bald = male and older and rng.random() < 0.17
    receding = 0.0 if bald else float(rng.beta(1.2, 6.0) + (0.25 * male * older) * rng.random())
    lengths = (0.75, 0.2, 0.05) if male else (0.1, 0.25, 0.65)
    kind = int(rng.choice(3, p=lengths))
    length = float(rng.uniform(*((-0.1, 0.35), (0.6, 1.4), (1.6, 3.0))[kind]))
    texture = int(rng.choice(3, p=(0.1, 0.1, 0.8) if kind == 0 else (0.35, 0.45, 0.2)))
    gray = not bald and rng.random() < (0.45 if age > 50 else 0.06 if age > 40 else 0.003)
    name = "gray" if gray else _hair_colour_name(rng, male, race)
    colour = np.asarray(_HAIR[name], dtype=float) + rng.normal(0.0, 10.0, 3)
    if name not in ("gray", "blond") and age > 40:
        colour += (np.asarray(_HAIR["gray"]) - colour) * min((age - 40.0) / 120.0, 0.35)
    bangs = not bald and receding < 0.3 and rng.random() < (0.08 if male else 0.22)
    attrs.update({
        "Bald": bald, "Receding_Hairline": label.above(receding, 0.42, 0.25), "Gray_Hair": gray,
        "Black_Hair": not bald and name == "black", "Blond_Hair": not bald and name == "blond",
        "Brown_Hair": label.seen(not bald and name == "brown", 0.2),
        "Straight_Hair": label.seen(not bald and texture == 0, 0.21),
        "Wavy_Hair": label.seen(not bald and texture == 1, 0.32), "Bangs": bangs,
    })
    return Hair(
        colour=_rgb(colour), length=length, volume=float(rng.random()),
        wave=float(0.0 if texture == 0 else rng.uniform(0.05, 0.11) if texture == 1 else 0.03),
        curl=texture == 2, hairline_y=float(-0.64 + 0.04 * rng.normal()),
        receding=min(receding * 1.3, 1.0), bald=bald, bangs=bangs,
    )


def _hair_colour_name(rng: np.random.Generator, male: bool, race: int) -> str:
    names = ("black", "brown", "blond", "dark", "auburn")
    if race == 0:
        p = (0.1, 0.38, 0.18 if male else 0.3, 0.22, 0.1)
    elif race == 4:
        p = (0.3, 0.3, 0.08, 0.27, 0.05)
    else:
        p = (0.55, 0.1, 0.01, 0.33, 0.01)
    p = np.asarray(p) / np.sum(p)
    return names[int(rng.choice(5, p=p))]


def _sample_look(rng: np.random.Generator, label: _Labeler, male: bool, age: float, race: int,
                 hair: Hair, attrs: dict[str, bool]) -> Look:
    old = float(np.clip((age - 40.0) / 40.0, 0.0, 1.0))
    skin = np.asarray(_SKIN[race], dtype=float) + rng.normal(0.0, 9.0, 3)
    pale = rng.normal() - (0.0 if race in (0, 2) else 2.0)
    skin += (np.asarray((246, 232, 224)) - skin) * float(np.clip(0.35 * (pale - 1.2), 0.0, 0.75))
    female_adult = not male and age > 14
    lipstick = female_adult and age < 70 and rng.random() < 0.88
    heavy = lipstick and rng.random() < 0.75
    blush = float(np.clip(0.1 + 0.12 * rng.normal() + 0.1 * heavy - 0.08 * male, 0.0, 0.6))
    lips = skin * 0.72 + np.asarray((176, 72, 80)) * 0.28
    if lipstick:
        lips += (np.asarray(_LIPSTICK[int(rng.integers(len(_LIPSTICK)))]) - lips) * rng.uniform(0.6, 0.95)
    beard, mustache, sideburns = "none", False, False
    if male and age > 16:
        beard = str(rng.choice(("none", "stubble", "goatee", "full"), p=(0.52, 0.22, 0.15, 0.11)))
        mustache = rng.random() < {"none": 0.02, "stubble": 0.03, "goatee": 0.35, "full": 0.6}[beard]
        sideburns = not hair.bald and rng.random() < (0.6 if beard == "full" else 0.05)
    bags = rng.normal() + 1.4 * old + 0.3 * male
    attrs.update({
        "Pale_Skin": label.above(pale, 1.75), "Wearing_Lipstick": lipstick,
        "Heavy_Makeup": label.seen(heavy, 0.39), "Rosy_Cheeks": label.above(blush, 0.3, 0.12),
        "5_o_Clock_Shadow": label.seen(beard == "stubble", 0.1), "Goatee": beard == "goatee",
        "Mustache": mustache, "No_Beard": beard in ("none", "stubble") and not mustache,
        "Sideburns": label.seen(sideburns, 0.05), "Bags_Under_Eyes": label.above(bags, 1.4),
    })
    brow = np.asarray(hair.colour, dtype=float) * 0.7 if not hair.bald else rng.uniform(40, 90, 3)
    return Look(
        skin=_rgb(skin), lips=_rgb(lips), iris=_rgb(np.asarray(_IRIS[_iris_index(rng, race)]) + rng.normal(0, 8, 3)),
        brow=_rgb(brow), eye_shadow=_SHADOW[int(rng.integers(len(_SHADOW)))] if heavy else None,
        eyeliner=heavy and rng.random() < 0.8, blush=blush, beard=beard, mustache=mustache,
        sideburns=sideburns, beard_colour=_rgb(np.asarray(hair.colour) * 0.85),
        wrinkles=float(np.clip((age - 30.0) / 45.0, 0.0, 1.0) * rng.uniform(0.6, 1.2)),
        bags=float(np.clip(0.25 * (bags - 0.6), 0.0, 1.0)),
    )


def _iris_index(rng: np.random.Generator, race: int) -> int:
    if race == 0:
        return int(rng.choice(5, p=(0.35, 0.1, 0.3, 0.15, 0.1)))
    return int(rng.choice((0, 1, 4), p=(0.4, 0.5, 0.1)))


def _sample_wear(rng: np.random.Generator, male: bool, age: float, attrs: dict[str, bool]) -> Wear:
    adult = age > 14
    glasses = None
    if rng.random() < 0.04 + 0.08 * (age > 45) + 0.015 * male:
        dark_frame = rng.random() < 0.7
        glasses = Glasses(
            frame=_rgb(rng.uniform(0, 60, 3) if dark_frame else rng.uniform(60, 220, 3)),
            thickness=float(rng.uniform(0.018, 0.04)), squareness=float(rng.uniform(2.0, 5.0)),
            sun=bool(rng.random() < 0.2))
    hat = None
    if rng.random() < 0.05:
        hat = Hat(kind=str(rng.choice(("beanie", "cap", "brim"))), colour=_rgb(rng.uniform(20, 230, 3)),
                  bottom_y=float(rng.uniform(-0.64, -0.5)))
    earrings = adult and rng.random() < (0.02 if male else 0.32)
    necklace = adult and rng.random() < (0.02 if male else 0.2)
    necktie = adult and rng.random() < (0.16 if male else 0.005)
    attrs.update({"Eyeglasses": glasses is not None, "Wearing_Hat": hat is not None,
                  "Wearing_Earrings": earrings, "Wearing_Necklace": necklace, "Wearing_Necktie": necktie})
    cloth = rng.uniform(10, 235, 3)
    return Wear(
        cloth=_rgb(cloth), cloth_dark=_rgb(cloth * 0.7),
        neckline="collar" if necktie else str(rng.choice(("round", "v"), p=(0.6, 0.4))),
        necktie=_rgb(rng.uniform(20, 200, 3)) if necktie else None,
        necklace=_METAL[int(rng.integers(2))] if necklace else None,
        earrings=_METAL[int(rng.integers(len(_METAL)))] if earrings else None,
        earring_kind=str(rng.choice(("stud", "hoop", "drop"))), glasses=glasses, hat=hat,
    )


def _sample_camera(rng: np.random.Generator, difficulty: float) -> Camera:
    yaw = np.clip(rng.normal(0.0, np.radians(6.0 + 24.0 * difficulty)), -np.radians(42), np.radians(42))
    roll = np.clip(rng.normal(0.0, np.radians(3.0 + 13.0 * difficulty)), -np.radians(32), np.radians(32))
    spread = 0.5 + difficulty
    return Camera(
        yaw=float(yaw), roll=float(roll), scale=float(np.clip(1.0 + 0.06 * spread * rng.normal(), 0.85, 1.15)),
        shift_x=float(np.clip(0.02 * spread * rng.normal(), -0.05, 0.05)),
        shift_y=float(np.clip(0.015 * spread * rng.normal(), -0.04, 0.04)),
    )


def _sample_effects(rng: np.random.Generator, label: _Labeler, difficulty: float,
                    attrs: dict[str, bool]) -> Effects:
    blur = float(rng.uniform(0.008, 0.07)) if rng.random() < 0.03 + 0.25 * difficulty else 0.0
    attrs["Blurry"] = label.above(blur, 0.04, 0.01)
    return Effects(
        background=(_rgb(rng.uniform(0, 255, 3)), _rgb(rng.uniform(0, 255, 3))),
        light_angle=float(rng.uniform(0.0, 2.0 * np.pi)),
        light=float(rng.uniform(0.0, 0.15) + 0.6 * difficulty * rng.random()),
        brightness=float(np.clip(1.0 + 0.1 * (0.5 + difficulty) * rng.normal(), 0.6, 1.4)),
        tint=tuple(float(t) for t in 1.0 + rng.normal(0.0, 0.035, 3)),
        blur=blur, noise=float(rng.uniform(0.5, 3.0) + 14.0 * difficulty * rng.random()),
    )


def _sample_occluder(rng: np.random.Generator, difficulty: float) -> Occluder | None:
    if rng.random() >= 0.04 + 0.35 * difficulty:
        return None
    return Occluder(
        kind=str(rng.choice(("bar", "blob", "patch"))), x=float(rng.uniform(-0.7, 0.7)),
        y=float(rng.uniform(-0.3, 1.2)), w=float(rng.uniform(0.25, 0.6)), h=float(rng.uniform(0.15, 0.5)),
        angle=float(rng.uniform(0.0, np.pi)), colour=_rgb(rng.uniform(0, 255, 3)),
    )


def _attractive(rng: np.random.Generator, attrs: dict[str, bool]) -> bool:
    """CelebA's most subjective label: correlated with youth, make-up and smiling, mostly random."""
    logit = (1.2 * attrs["Young"] - 0.9 * attrs["Male"] + 0.7 * attrs["Heavy_Makeup"]
             + 0.4 * attrs["Smiling"] - 1.0 * attrs["Chubby"] - 0.6 * attrs["Bags_Under_Eyes"]
             - 0.8 * attrs["Bald"] + 0.3 * attrs["Oval_Face"] - 0.6 + rng.normal(0.0, 0.8))
    return bool(logit > 0.0)


def _rgb(values: np.ndarray) -> RGB:
    r, g, b = np.clip(np.rint(values), 0, 255).astype(int)
    return int(r), int(g), int(b)
