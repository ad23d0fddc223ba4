"""The procedural face renderer: labels agree with the pixels, renders are deterministic, and the
label vocabularies are all covered."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest

from farl_bench.data.synthetic.face import (
    CELEBA_ATTRIBUTES, CELEBAMASK_PARTS, EXPRESSIONS, LAPA_FROM_PARTS, LAPA_LABELS, FaceParams,
    RenderedFace, render, sample_params,
)
from farl_bench.data.synthetic.params import Camera, Occluder

SIZE = 256
FRONTAL = Camera(yaw=0.0, roll=0.0, scale=1.0, shift_x=0.0, shift_y=0.0)
LAYOUT_SIZES = {"68": 68, "98": 98, "106": 106, "19": 19}


def draw(seed: int) -> FaceParams:
    return sample_params(np.random.default_rng(seed))


def unoccluded(seed: int) -> FaceParams:
    """A face with nothing in front of it, so every part it has is visible."""
    return dataclasses.replace(draw(seed), occluder=None)


def frontal(seed: int) -> FaceParams:
    return dataclasses.replace(draw(seed), occluder=None, camera=FRONTAL)


def find(predicate: Callable[[FaceParams], bool], count: int, start: int = 0) -> list[FaceParams]:
    """The first `count` unoccluded faces (by seed) whose parameters pass `predicate`."""
    found, seed = [], start
    while len(found) < count:
        params = unoccluded(seed)
        if predicate(params):
            found.append(params)
        seed += 1
    return found


def pixel(mask: np.ndarray, point: np.ndarray) -> bool:
    """Mask value at the pixel nearest to an (x, y) point (False outside the image)."""
    x, y = np.rint(point).astype(int)
    return bool(0 <= y < mask.shape[0] and 0 <= x < mask.shape[1] and mask[y, x])


@pytest.fixture(scope="module")
def faces() -> list[RenderedFace]:
    return [render(unoccluded(seed), SIZE) for seed in range(80)]


@pytest.fixture(scope="module")
def drawn() -> list[FaceParams]:
    return [draw(10_000 + seed) for seed in range(300)]


@pytest.mark.parametrize("layout, tip", [("68", 30), ("98", 54), ("106", 54)])
def test_nose_tip_landmark_lies_in_the_nose_mask(faces, layout, tip):
    assert all(pixel(f.parts["nose"], f.landmarks[layout][tip]) for f in faces)


@pytest.mark.parametrize("layout, left, right", [("106", 104, 105), ("98", 96, 97)])
def test_pupils_lie_in_the_matching_eye_masks(faces, layout, left, right):
    for f in faces:
        assert pixel(f.parts["l_eye"], f.landmarks[layout][left])
        assert pixel(f.parts["r_eye"], f.landmarks[layout][right])


def test_image_left_parts_are_named_left(faces):
    for f in faces:
        left_x = np.nonzero(f.parts["l_eye"])[1].mean()
        right_x = np.nonzero(f.parts["r_eye"])[1].mean()
        assert left_x < right_x
        assert f.landmarks["68"][36, 0] < f.landmarks["68"][45, 0]
        assert f.landmarks["19"][6, 0] < f.landmarks["19"][11, 0]


@pytest.mark.parametrize("attribute, part", [
    ("Eyeglasses", "eye_g"), ("Wearing_Hat", "hat"), ("Mouth_Slightly_Open", "mouth"),
])
def test_attribute_is_drawn_exactly_when_labelled(attribute, part):
    with_it = find(lambda p: p.attributes[attribute], 6)
    without = find(lambda p: not p.attributes[attribute], 6)
    assert all(render(p, SIZE).parts[part].any() for p in with_it)
    assert not any(render(p, SIZE).parts[part].any() for p in without)


def corner_lift(face: RenderedFace) -> float:
    """Rise of the mean mouth corner above the centre of the line between the lips, per unit of
    outer inter-ocular distance (frontal, unrolled faces)."""
    points = face.landmarks["68"]
    corners_y = 0.5 * (points[48, 1] + points[54, 1])
    return float((points[62, 1] - corners_y) / np.linalg.norm(points[36] - points[45]))


def test_smiling_faces_raise_their_mouth_corners_and_neutral_ones_do_not():
    smiling = find(lambda p: p.attributes["Smiling"], 20)
    neutral = find(lambda p: p.expression == "neutral" and not p.attributes["Smiling"], 40)
    lifts = [corner_lift(render(dataclasses.replace(p, camera=FRONTAL), SIZE)) for p in smiling]
    still = [corner_lift(render(dataclasses.replace(p, camera=FRONTAL), SIZE)) for p in neutral]
    assert min(lifts) > 0.015
    assert np.mean(np.asarray(still) > 0.015) < 0.1


def test_lapa_label_is_the_parts_painted_in_celebamask_order(faces):
    for f in faces:
        composed = np.zeros_like(f.lapa_label)
        for name in CELEBAMASK_PARTS:
            if name in LAPA_FROM_PARTS:
                composed[f.parts[name]] = LAPA_FROM_PARTS[name]
        np.testing.assert_array_equal(f.lapa_label, composed)
        assert f.lapa_label.max() < len(LAPA_LABELS)


def test_occluded_pixels_belong_to_no_part():
    params = next(p for p in (draw(seed) for seed in range(1000)) if p.occluder is not None)
    occluded = render(params, SIZE)
    clear = render(dataclasses.replace(params, occluder=None), SIZE)
    covered = np.any(occluded.image != clear.image, axis=-1) & ~np.any(
        [occluded.parts[n] for n in CELEBAMASK_PARTS], axis=0)
    assert covered.any()
    assert (occluded.lapa_label[covered] == 0).all()


def test_the_same_parameters_render_identical_bytes_and_labels():
    a, b = render(draw(7), 178, 218), render(draw(7), 178, 218)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.lapa_label, b.lapa_label)
    for name in CELEBAMASK_PARTS:
        np.testing.assert_array_equal(a.parts[name], b.parts[name])
    for layout in LAYOUT_SIZES:
        np.testing.assert_array_equal(a.landmarks[layout], b.landmarks[layout])
    assert (a.attributes, a.age, a.expression, a.flags, a.bbox) == (b.attributes, b.age, b.expression, b.flags, b.bbox)


def test_sample_params_depends_only_on_the_generator_and_different_seeds_differ():
    assert draw(3) == draw(3)
    assert draw(3) != draw(4)
    assert not np.array_equal(render(draw(3), 64).image, render(draw(4), 64).image)


@pytest.mark.parametrize("width, height", [(178, 218), (256, 256), (512, 512), (48, 48), (100, 100)])
def test_every_label_has_the_documented_shape_and_type(width, height):
    f = render(draw(11), width, height)
    assert f.image.shape == (height, width, 3) and f.image.dtype == np.uint8
    assert f.lapa_label.shape == (height, width) and f.lapa_label.dtype == np.uint8
    assert sorted(f.parts) == sorted(CELEBAMASK_PARTS)
    assert all(m.shape == (height, width) and m.dtype == bool for m in f.parts.values())
    assert {k: v.shape for k, v in f.landmarks.items()} == {k: (n, 2) for k, n in LAYOUT_SIZES.items()}
    assert f.visible19.shape == (19,) and f.visible19.dtype == bool
    assert sorted(f.attributes) == sorted(CELEBA_ATTRIBUTES)
    assert all(type(v) is bool for v in f.attributes.values())
    assert sorted(f.flags) == sorted(["pose", "expression", "illumination", "makeup", "occlusion", "blur"])
    assert all(type(v) is bool for v in f.flags.values())
    assert f.age_std > 0 and 0 <= f.age <= 90 and f.gender in (0, 1) and f.race in range(5)
    assert f.expression in EXPRESSIONS and 0.0 <= f.difficulty <= 1.0


@pytest.mark.parametrize("width, height", [(178, 218), (256, 256), (48, 48)])
def test_landmarks_of_frontal_faces_are_finite_and_inside_the_image(width, height):
    for seed in range(30):
        f = render(frontal(seed), width, height)
        for points in f.landmarks.values():
            assert np.isfinite(points).all()
            assert (points >= 0).all() and (points[:, 0] <= width - 1).all() and (points[:, 1] <= height - 1).all()


def test_landmarks_of_any_face_are_finite(faces):
    assert all(np.isfinite(points).all() for f in faces for points in f.landmarks.values())


def test_the_face_fills_about_half_the_width_near_the_centre():
    for seed in range(30):
        f = render(frontal(seed), 178, 218)
        x0, y0, x1, y1 = f.bbox
        assert 0.35 * 178 < x1 - x0 < 0.7 * 178
        assert abs((x0 + x1) / 2 - 89) < 0.1 * 178 and y0 < 109 < y1


def test_aflw19_points_are_visible_on_a_plain_frontal_face_and_hidden_under_an_occluder():
    plain = [dataclasses.replace(p, camera=FRONTAL)
             for p in find(lambda p: not p.hair.bangs and p.wear.hat is None, 10)]
    assert all(render(p, SIZE).visible19.all() for p in plain)
    patch = Occluder(kind="patch", x=0.0, y=plain[0].shape.nose_y, w=0.3, h=0.2, angle=0.0, colour=(10, 200, 10))
    visible = render(dataclasses.replace(plain[0], occluder=patch), SIZE).visible19
    assert not visible[13] and visible[[0, 5, 6, 11, 18]].all()


def test_all_40_attributes_occur_both_ways_over_300_draws(drawn):
    for name in CELEBA_ATTRIBUTES:
        values = [p.attributes[name] for p in drawn]
        assert any(values) and not all(values), name


def test_all_8_expressions_occur_over_300_draws(drawn):
    assert {p.expression for p in drawn} == set(EXPRESSIONS)


def test_beards_and_moustaches_are_drawn_on_men_only(drawn):
    for p in drawn:
        if not p.attributes["Male"]:
            assert p.look.beard == "none" and not p.look.mustache
