import numpy as np
import pytest

from farl_bench.data.augment import Augment, AugmentRecipe, build_augment
from farl_bench.errors import UserError

SIZE = 192
#: The landmarks recipe's geometry without the occlusion and noise that could hide a dot.
LANDMARKS_GEOMETRY = AugmentRecipe(shift=0.05, rotate=0.174, scale=0.1, normal=False)
NO_GEOMETRY = AugmentRecipe(shift=0.0, rotate=0.0, scale=0.0, normal=False)


def dotted_image(points: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Black SIZE x SIZE RGB image with a Gaussian dot centred on each (sub-pixel) point."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    img = np.zeros((SIZE, SIZE), np.float64)
    for x, y in points:
        img += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))
    return np.repeat((np.clip(img, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2)


def dot_centre(img: np.ndarray, near: np.ndarray, radius: int = 6) -> np.ndarray:
    """Intensity-weighted centroid of the image in a window about `near` (x, y)."""
    x0, y0 = np.round(near).astype(int)
    win = img[y0 - radius:y0 + radius + 1, x0 - radius:x0 + radius + 1].max(axis=2).astype(float)
    yy, xx = np.mgrid[y0 - radius:y0 + radius + 1, x0 - radius:x0 + radius + 1]
    return np.array([(win * xx).sum(), (win * yy).sum()]) / win.sum()


def grid_points() -> np.ndarray:
    g = np.linspace(50, SIZE - 50, 4)
    offsets = np.random.default_rng(0).uniform(-0.5, 0.5, (16, 2))
    return np.stack(np.meshgrid(g, g), -1).reshape(-1, 2) + offsets


@pytest.mark.parametrize("make", [lambda s: build_augment("parsing", seed=s),
                                  lambda s: Augment(LANDMARKS_GEOMETRY, seed=s)], ids=["parsing", "landmarks"])
def test_keypoints_stay_on_the_image_features_they_mark(make):
    pts = grid_points()
    img = dotted_image(pts)
    checked = 0
    for seed in range(6):
        out_img, _, out_pts = make(seed)(img, keypoints=pts)
        assert out_pts.shape == pts.shape
        for p in out_pts:
            if np.all((p > 10) & (p < SIZE - 11)):
                # A half-pixel convention slip would show as 0.5 px.
                assert np.linalg.norm(dot_centre(out_img, p) - p) < 0.25
                checked += 1
    assert checked > 50


def test_mask_moves_with_the_keypoints():
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[40:80, 30:70], mask[100:150, 110:170] = 4, 9
    pts = np.array([[49.5, 59.5], [139.5, 124.5]])
    for seed in range(8):
        _, out_mask, out_pts = build_augment("parsing", seed=seed)(dotted_image(pts), mask, pts)
        x, y = np.round(out_pts).astype(int).T
        assert out_mask[y, x].tolist() == [4, 9]


def test_pixels_from_outside_the_crop_get_the_ignore_index():
    mask = np.ones((SIZE, SIZE), np.uint8)
    grown = Augment(AugmentRecipe(shift=0.0, rotate=0.5, scale=0.0, normal=False), seed=0)
    _, out_mask, _ = grown(dotted_image(np.zeros((0, 2))), mask)
    assert set(np.unique(out_mask)) == {1, 255}


def test_flip_hands_a_left_point_to_the_right_index_on_the_right():
    # index 0: left eye (image left), 1: right eye, 2: nose; the dataset swaps 0 and 1 on a flip.
    pts = np.array([[60.0, 80.0], [130.0, 82.0], [95.0, 120.0]])
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[70:90, 50:70] = 4  # left eye class
    flip = Augment(NO_GEOMETRY, hflip=1.0, flip_permutation=[1, 0, 2],
                   mask_flip_permutation=[0, 1, 3, 2, 5, 4, 6, 7, 8, 9, 10], seed=0)
    img, out_mask, out = flip(dotted_image(pts), mask, pts)
    np.testing.assert_allclose(out[1], [SIZE - 1 - 60.0, 80.0], atol=1e-4)  # was left eye, now right eye
    np.testing.assert_allclose(out[0], [SIZE - 1 - 130.0, 82.0], atol=1e-4)
    np.testing.assert_allclose(out[2], [SIZE - 1 - 95.0, 120.0], atol=1e-4)
    assert out[1, 0] > SIZE / 2 > out[0, 0]
    for p in out:
        assert np.linalg.norm(dot_centre(img, p) - p) < 0.25
    assert set(np.unique(out_mask[70:90, SIZE - 70:SIZE - 50])) == {5}
    assert 4 not in np.unique(out_mask)


def test_no_flip_unless_asked_for():
    pts = np.array([[60.0, 80.0], [130.0, 82.0], [95.0, 120.0]])
    aug = build_augment("landmarks", flip_permutation=[1, 0, 2], seed=0)
    for _ in range(20):
        _, _, out = aug(dotted_image(pts), keypoints=pts)
        assert out[0, 0] < out[1, 0]


def test_the_same_seed_gives_the_same_augmentations_and_another_seed_others():
    pts = grid_points()
    img = dotted_image(pts)
    mask = (img[..., 0] > 100).astype(np.uint8)
    a, b, c = (build_augment("landmarks", seed=s) for s in (3, 3, 4))
    for _ in range(3):
        out_a, out_b, out_c = a(img, mask, pts), b(img, mask, pts), c(img, mask, pts)
        assert out_a[0].dtype == np.uint8 and out_a[0].shape == img.shape and out_a[1].shape == mask.shape
        for x, y in zip(out_a, out_b):
            np.testing.assert_array_equal(x, y)
        assert not np.array_equal(out_a[0], out_c[0])


def test_a_per_call_seed_does_not_depend_on_earlier_calls():
    pts = grid_points()
    img = dotted_image(pts)
    aug = build_augment("parsing", seed=0)
    first = aug(img, keypoints=pts, seed=11)
    aug(img, keypoints=pts)
    np.testing.assert_array_equal(aug(img, keypoints=pts, seed=11)[2], first[2])


def test_augment_arguments_are_checked():
    with pytest.raises(UserError, match="known: parsing, landmarks"):
        build_augment("age")
    with pytest.raises(UserError, match="flip_permutation"):
        build_augment("landmarks", hflip=0.5)
    with pytest.raises(UserError, match="permutation of 0..2"):
        build_augment("landmarks", hflip=0.5, flip_permutation=[0, 0, 2])
    flip_points_only = build_augment("parsing", hflip=1.0, flip_permutation=[1, 0])
    with pytest.raises(UserError, match="mask_flip_permutation"):
        flip_points_only(dotted_image(np.zeros((0, 2))), np.zeros((SIZE, SIZE), np.uint8))
