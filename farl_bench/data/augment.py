"""Training augmentation of face crops: FaRL's recipe on albumentations, mask- and keypoint-aware.

Source of the recipe: FaRL's public augmenters (``farl/experiments/face_*/augmenters/train.yaml``
and blueprint's ``UpdateRandomTransformMatrix``, ``RandomGray``, ``RandomGamma``, ``RandomBlur``,
``RandomOcclusion``, ``NoiseFusion``):

- parsing: random similarity about the crop centre, shift U(±1%) of the short side per axis,
  rotation N(0, 0.314 rad), scale N(1, 0.1); then gray (p 0.1), gamma, blur.
- landmarks (alignment): shift U(±5%), rotation U(±0.174 rad), scale U(1 ± 0.1); then one black
  occlusion rectangle, uniform-noise blending (p 0.5), gray, gamma, blur.
- gamma: one of {0.5, 1, 2} with equal odds; blur: a box blur of side int(mean(h, w) * U(0, 0.01)),
  applied when that side is above 1.
- No horizontal flip unless asked for (FaRL uses none).

Differences from FaRL, on purpose: the similarity acts on the finished crop, whereas FaRL folds it
into the crop matrix before the tanh-warp (identical when the crop has no warp, up to
resampling); the occlusion is albumentations' CoarseDropout (one hole, 10-40% of each side,
kept inside the image) rather than FaRL's centre-anywhere rectangle clipped by the border; FaRL
draws the alignment scale as U(0.8 ± 0.1) with 0.8 its zoom, i.e. ±12.5% about the crop, where
the recipe here says ±10% (PROTOCOLS.md).

Seeding: albumentations 2.x gives every transform of a Compose its own generator seeded with the
same value, which correlates their coin flips; here all transforms share one generator pair.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Sequence

import albumentations as A
import cv2
import numpy as np

from farl_bench.errors import UserError


@dataclass(frozen=True)
class AugmentRecipe:
    """The random similarity and the extra corruptions of one task family.

    shift: largest shift per axis, as a fraction of the crop's short side (always uniform).
    rotate (rad) and scale: standard deviations of N(0, rotate) and N(1, scale) when `normal`,
    else half-widths of U(-rotate, rotate) and U(1 - scale, 1 + scale).
    """

    shift: float
    rotate: float
    scale: float
    normal: bool
    occlusion: bool = False
    noise: bool = False


RECIPES: dict[str, AugmentRecipe] = {
    "parsing": AugmentRecipe(shift=0.01, rotate=0.314, scale=0.1, normal=True),
    "landmarks": AugmentRecipe(shift=0.05, rotate=0.174, scale=0.1, normal=False, occlusion=True, noise=True),
}


class RandomSimilarity(A.DualTransform):
    """Rotation, isotropic scale and shift about the image centre ((w - 1) / 2, (h - 1) / 2), as FaRL.

    Image bilinear, mask nearest; pixels from outside get `fill` / `fill_mask`.
    """

    def __init__(self, recipe: AugmentRecipe, fill: float = 0.0, fill_mask: int = 255, p: float = 1.0):
        super().__init__(p=p)
        self.recipe = recipe
        self.fill = fill
        self.fill_mask = fill_mask

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        h, w = params["shape"][:2]
        r, rng = self.recipe, self.py_random
        dx, dy = (rng.uniform(-r.shift, r.shift) * min(h, w) for _ in range(2))
        if r.normal:
            angle, scale = rng.gauss(0.0, r.rotate), rng.gauss(1.0, r.scale)
        else:
            angle, scale = rng.uniform(-r.rotate, r.rotate), rng.uniform(1.0 - r.scale, 1.0 + r.scale)
        cos, sin = scale * np.cos(angle), scale * np.sin(angle)
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
        matrix = np.array([[cos, -sin, cx - cos * cx + sin * cy + dx],
                           [sin, cos, cy - sin * cx - cos * cy + dy]])
        return {"matrix": matrix}

    def apply(self, img: np.ndarray, matrix: np.ndarray, **params: Any) -> np.ndarray:
        h, w = img.shape[:2]
        return cv2.warpAffine(img, matrix, (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(float(self.fill),) * 4)

    def apply_to_mask(self, mask: np.ndarray, matrix: np.ndarray, **params: Any) -> np.ndarray:
        h, w = mask.shape[:2]
        return cv2.warpAffine(mask, matrix, (w, h), flags=cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=self.fill_mask)

    def apply_to_keypoints(self, keypoints: np.ndarray, matrix: np.ndarray, **params: Any) -> np.ndarray:
        out = keypoints.copy()
        out[:, :2] = keypoints[:, :2] @ matrix[:, :2].T + matrix[:, 2]
        return out

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("recipe", "fill", "fill_mask")


class NoiseBlend(A.ImageOnlyTransform):
    """FaRL's NoiseFusion on uint8 images: (1 - a) * image + a * uniform noise, a ~ U(0, max_alpha)."""

    def __init__(self, max_alpha: float = 0.5, p: float = 0.5):
        super().__init__(p=p)
        self.max_alpha = max_alpha

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        return {"alpha": self.py_random.uniform(0.0, self.max_alpha),
                "noise": self.random_generator.integers(0, 256, params["shape"], dtype=np.uint8)}

    def apply(self, img: np.ndarray, alpha: float, noise: np.ndarray, **params: Any) -> np.ndarray:
        return cv2.addWeighted(img, 1.0 - alpha, noise, alpha, 0.0)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("max_alpha",)


class RelativeBoxBlur(A.ImageOnlyTransform):
    """FaRL's RandomBlur: box blur of side int(mean(h, w) * U(0, max_ratio)), applied when above 1."""

    def __init__(self, max_ratio: float = 0.01, p: float = 1.0):
        super().__init__(p=p)
        self.max_ratio = max_ratio

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        h, w = params["shape"][:2]
        return {"ksize": int((h + w) / 2 * self.py_random.uniform(0.0, self.max_ratio))}

    def apply(self, img: np.ndarray, ksize: int, **params: Any) -> np.ndarray:
        return cv2.blur(img, (ksize, ksize)) if ksize > 1 else img

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("max_ratio",)


def _check_permutation(perm: Sequence[int] | None, what: str) -> np.ndarray | None:
    if perm is None:
        return None
    arr = np.asarray(perm, np.int64)
    if arr.ndim != 1 or sorted(arr.tolist()) != list(range(len(arr))):
        raise UserError(f"{what} must be a permutation of 0..{len(arr) - 1}, got {list(perm)}")
    return arr


class Augment:
    """Random training augmentation of one crop: ``augment(image, mask, keypoints)``.

    image: H x W x 3 uint8. mask: H x W uint8 label map or None. keypoints: K x 2 float crop px
    (pixel centres at integers) or None; points leaving the image are kept, never dropped.
    Returns (image, mask, keypoints) with None where None came in.

    Deterministic: the same `seed` gives the same sequence of augmentations. DataLoader workers
    each hold a copy of the generator, so pass a per-sample ``seed=`` (e.g. from run seed, epoch
    and sample index) to make results independent of the worker layout.

    Horizontal flip (probability `hflip`) runs after the rest: x -> (w - 1) - x, then landmark i
    takes the flipped point flip_permutation[i], and mask class c becomes mask_flip_permutation[c]
    (ids beyond the permutation, such as the ignore index 255, are kept).
    """

    def __init__(self, recipe: AugmentRecipe, hflip: float = 0.0, flip_permutation: Sequence[int] | None = None,
                 mask_flip_permutation: Sequence[int] | None = None, seed: int = 0, mask_fill: int = 255):
        if not 0.0 <= hflip <= 1.0:
            raise UserError(f"hflip is a probability in [0, 1], got {hflip}")
        if hflip > 0 and flip_permutation is None and mask_flip_permutation is None:
            raise UserError("hflip > 0 needs flip_permutation (landmarks) and/or mask_flip_permutation (masks): "
                            "a flip without them would swap left and right labels")
        self.hflip = hflip
        self.flip_permutation = _check_permutation(flip_permutation, "flip_permutation")
        mask_perm = _check_permutation(mask_flip_permutation, "mask_flip_permutation")
        self._class_lut = None
        if mask_perm is not None:
            if len(mask_perm) > 256:
                raise UserError(f"mask_flip_permutation has {len(mask_perm)} classes; uint8 masks hold at most 256")
            self._class_lut = np.arange(256, dtype=np.uint8)
            self._class_lut[:len(mask_perm)] = mask_perm
        steps: list[A.BasicTransform] = [RandomSimilarity(recipe, fill_mask=mask_fill)]
        if recipe.occlusion:
            steps.append(A.CoarseDropout(num_holes_range=(1, 1), hole_height_range=(0.1, 0.4),
                                         hole_width_range=(0.1, 0.4), fill=0, p=1.0))
        if recipe.noise:
            steps.append(NoiseBlend(max_alpha=0.5, p=0.5))
        steps += [
            A.ToGray(num_output_channels=3, p=0.1),
            # FaRL: sqrt, identity or square, one third each.
            A.OneOf([A.RandomGamma(gamma_limit=(50, 50), p=1.0), A.RandomGamma(gamma_limit=(200, 200), p=1.0)],
                    p=2 / 3),
            RelativeBoxBlur(max_ratio=0.01, p=1.0),
        ]
        self._compose = A.Compose(steps, keypoint_params=A.KeypointParams(format="xy", remove_invisible=False))
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Restart the random stream from `seed` (one generator pair shared by all transforms)."""
        self._py_random = random.Random(seed)
        self._compose.set_random_state(np.random.default_rng(seed), self._py_random)

    def __call__(self, image: np.ndarray, mask: np.ndarray | None = None, keypoints: np.ndarray | None = None,
                 seed: int | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        if seed is not None:
            self.reseed(seed)
        data: dict[str, Any] = {"image": image}
        if mask is not None:
            data["mask"] = mask
        if keypoints is not None:
            data["keypoints"] = np.asarray(keypoints, np.float32).reshape(-1, 2)
        out = self._compose(**data)
        image, mask = out["image"], out.get("mask")
        if keypoints is not None:
            keypoints = np.asarray(out["keypoints"], np.float64)[:, :2]
        if self.hflip > 0 and self._py_random.random() < self.hflip:
            image, mask, keypoints = self._flip(image, mask, keypoints)
        return image, mask, keypoints

    def _flip(self, image: np.ndarray, mask: np.ndarray | None,
              keypoints: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        if mask is not None and self._class_lut is None:
            raise UserError("flipping a mask needs mask_flip_permutation (class id after a horizontal flip)")
        if keypoints is not None and self.flip_permutation is None:
            raise UserError("flipping landmarks needs flip_permutation (the dataset meta's)")
        image = np.ascontiguousarray(image[:, ::-1])
        if mask is not None:
            mask = self._class_lut[mask[:, ::-1]]
        if keypoints is not None:
            if len(self.flip_permutation) != len(keypoints):
                raise ValueError(f"flip_permutation has {len(self.flip_permutation)} entries "
                                 f"but {len(keypoints)} keypoints came in")
            keypoints = keypoints[self.flip_permutation]
            keypoints[:, 0] = image.shape[1] - 1 - keypoints[:, 0]
        return image, mask, keypoints


def build_augment(family: str, flip_permutation: Sequence[int] | None = None,
                  mask_flip_permutation: Sequence[int] | None = None, seed: int = 0,
                  hflip: float = 0.0, mask_fill: int = 255) -> Augment:
    """FaRL's training augmentation for `family` (a key of RECIPES: parsing, landmarks).

    hflip > 0 enables a random horizontal flip with that probability and then needs the
    permutations of the targets you pass: flip_permutation (the dataset meta's, landmark index
    after the flip) for keypoints, mask_flip_permutation (class id after the flip) for masks.
    mask_fill labels pixels brought in from outside the crop: 255 = the loss's ignore index.
    """
    if family not in RECIPES:
        raise UserError(f"no augmentation recipe for family {family!r} (known: {', '.join(RECIPES)})")
    return Augment(RECIPES[family], hflip, flip_permutation, mask_flip_permutation, seed, mask_fill)
