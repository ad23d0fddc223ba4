import cv2
import numpy as np
import pytest

from farl_bench.data.crops import FARL_TEMPLATE_512, farl_template, make_crop
from farl_bench.errors import UserError
from farl_bench.tasks import CropSpec

LAPA_POINTS = [104, 105, 54, 84, 90]
H, W = 300, 400


def face_landmarks(scale: float = 0.45, angle: float = 0.2, shift=(90.0, 20.0), n: int = 106) -> np.ndarray:
    """106 landmarks whose 5 alignment points are the template under a known similarity."""
    rng = np.random.default_rng(1)
    pts = rng.uniform(50, 250, (n, 2))
    c, s = np.cos(angle), np.sin(angle)
    rot = scale * np.array([[c, -s], [s, c]])
    pts[LAPA_POINTS] = FARL_TEMPLATE_512 @ rot.T + np.asarray(shift)
    return pts


BOX = np.array([120.0, 60.0, 280.0, 250.0])
SPECS = {
    "resize": CropSpec(kind="resize"),
    "bbox": CropSpec(kind="bbox", zoom=1.25),
    "bbox_warp": CropSpec(kind="bbox", zoom=1.25, tanh_warp=0.5),
    "align5": CropSpec(kind="align5"),
    "align5_warp": CropSpec(kind="align5", tanh_warp=0.8),
}


def crop_for(name: str, size: int = 448):
    return make_crop(SPECS[name], size, (H, W), landmarks=face_landmarks(), bbox=BOX, alignment_points=LAPA_POINTS)


def label_blobs() -> np.ndarray:
    """H x W label map: background 0 and four large ellipses with ids 3, 5, 7, 10."""
    lab = np.zeros((H, W), np.uint8)
    for cls, centre, axes in [(3, (120, 100), (70, 50)), (5, (270, 110), (80, 60)),
                              (7, (150, 220), (90, 45)), (10, (300, 230), (60, 50))]:
        cv2.ellipse(lab, centre, axes, 30, 0, 360, cls, -1)
    return lab


@pytest.mark.parametrize("name", SPECS)
def test_points_round_trip_original_crop_original_within_a_hundredth_of_a_pixel(name):
    crop = crop_for(name)
    pts = np.random.default_rng(0).uniform([0, 0], [W - 1, H - 1], (500, 2))
    back = crop.points_to_original(crop.points_to_crop(pts))
    assert np.abs(back - pts).max() < 0.01


@pytest.mark.parametrize("name", SPECS)
def test_image_crop_reads_the_original_where_points_to_original_says(name):
    # A linear ramp is reproduced exactly by bilinear sampling, so pixel value = ramp(mapped point).
    def ramp(x, y):
        return 0.4 * x + 0.3 * y

    yy, xx = np.mgrid[0:H, 0:W]
    img = np.repeat(np.round(ramp(xx, yy)).astype(np.uint8)[..., None], 3, axis=2)
    crop = crop_for(name, size=128)
    out = crop.image(img)
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    grid = np.stack(np.meshgrid(np.arange(128), np.arange(128)), -1).reshape(-1, 2)
    src = crop.points_to_original(grid)
    inside = (src[:, 0] > 1) & (src[:, 0] < W - 2) & (src[:, 1] > 1) & (src[:, 1] < H - 2)
    got = out[..., 0].reshape(-1)[inside].astype(float)
    assert inside.sum() > 1000
    assert np.abs(got - ramp(src[inside, 0], src[inside, 1])).max() < 1.5


def test_farl_template_keeps_farl_511_over_512_scaling():
    np.testing.assert_allclose(farl_template(512), FARL_TEMPLATE_512 * 511 / 512)
    np.testing.assert_allclose(farl_template(256), FARL_TEMPLATE_512 * 255 / 512)


def test_align5_puts_the_five_points_of_a_template_placed_face_on_the_template():
    lm = face_landmarks()
    crop = make_crop(CropSpec(kind="align5"), 512, (H, W), landmarks=lm, alignment_points=LAPA_POINTS)
    np.testing.assert_allclose(crop.points_to_crop(lm[LAPA_POINTS]), farl_template(512), atol=1e-6)
    # A 448 network input is the 512 canvas resized (align_corners=False).
    crop448 = make_crop(CropSpec(kind="align5"), 448, (H, W), landmarks=lm, alignment_points=LAPA_POINTS)
    expected = (farl_template(512) + 0.5) * 448 / 512 - 0.5
    np.testing.assert_allclose(crop448.points_to_crop(lm[LAPA_POINTS]), expected, atol=1e-6)


def test_align5_zoom_above_one_shrinks_the_face_about_the_canvas_centre():
    lm = face_landmarks()
    crop = make_crop(CropSpec(kind="align5", zoom=2.0), 512, (H, W), landmarks=lm, alignment_points=LAPA_POINTS)
    centre = np.full(2, 511 / 2)
    np.testing.assert_allclose(crop.points_to_crop(lm[LAPA_POINTS]) - centre, (farl_template(512) - centre) / 2,
                               atol=1e-6)


def test_tanh_warp_is_the_identity_in_the_central_band_and_squeezes_the_outside():
    lm = face_landmarks()
    plain = make_crop(CropSpec(kind="align5"), 512, (H, W), landmarks=lm, alignment_points=LAPA_POINTS)
    warped = make_crop(CropSpec(kind="align5", tanh_warp=0.8), 512, (H, W), landmarks=lm,
                       alignment_points=LAPA_POINTS)
    # |c / 512 * 2 - 1| <= 0.2 on both axes is the linear band: c in [204.8, 307.2].
    centre = plain.points_to_original(np.array([[210.0, 220.0], [300.0, 256.0], [256.0, 305.0]]))
    np.testing.assert_allclose(warped.points_to_crop(centre), plain.points_to_crop(centre), atol=1e-9)
    # Far away (100 canvas widths out) still lands inside the canvas, just short of its edge.
    far = plain.points_to_original(np.array([[256.0 + 51200.0, 256.0]]))
    x = warped.points_to_crop(far)[0, 0]
    assert 511 < x <= 512


def test_bbox_crop_centres_the_box_and_spans_its_longer_side():
    box = np.array([100.0, 50.0, 300.0, 150.0])  # 200 wide, 100 tall
    crop = make_crop(CropSpec(kind="bbox"), 224, (H, W), bbox=box)
    np.testing.assert_allclose(crop.points_to_crop(np.array([[200.0, 100.0]])), [[111.5, 111.5]])
    # The square's edges land on the outer pixel borders of the crop.
    np.testing.assert_allclose(crop.points_to_crop(np.array([[100.0, 0.0], [300.0, 200.0]])),
                               [[-0.5, -0.5], [223.5, 223.5]])
    zoomed = make_crop(CropSpec(kind="bbox", zoom=2.0), 224, (H, W), bbox=box)
    np.testing.assert_allclose(zoomed.points_to_crop(np.array([[300.0, 100.0]])), [[167.5, 111.5]])


def test_resize_maps_the_image_corners_to_the_crop_corners():
    crop = make_crop(CropSpec(kind="resize"), 512, (H, W))
    corners = np.array([[-0.5, -0.5], [W - 0.5, H - 0.5]])
    np.testing.assert_allclose(crop.points_to_crop(corners), [[-0.5, -0.5], [511.5, 511.5]])


@pytest.mark.parametrize("name", SPECS)
def test_mask_crop_holds_only_label_values_of_the_original(name):
    lab = label_blobs()
    out = crop_for(name).mask(lab, fill=0)
    assert out.shape == (448, 448) and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 3, 5, 7, 10}
    assert len(np.unique(out)) >= 4


def test_image_crop_fills_every_channel_outside_the_image():
    img = np.full((H, W, 3), 10, np.uint8)
    out = make_crop(CropSpec(kind="bbox", zoom=3.0), 64, (H, W), bbox=BOX).image(img, fill=128)
    assert out[0, 0].tolist() == [128, 128, 128] and out[32, 32].tolist() == [10, 10, 10]


def test_mask_crop_fills_outside_the_image_with_the_ignore_index_by_default():
    out = make_crop(CropSpec(kind="bbox", zoom=3.0), 64, (H, W), bbox=BOX).mask(label_blobs())
    assert out[0, 0] == 255 and 255 in np.unique(out)


@pytest.mark.parametrize("name", SPECS)
def test_to_original_of_a_one_hot_crop_recovers_the_mask(name):
    lab = label_blobs()
    crop = crop_for(name)
    one_hot = np.eye(11, dtype=np.float32)[crop.mask(lab, fill=0)].transpose(2, 0, 1)
    probs = crop.to_original(one_hot, (H, W))
    assert probs.shape == (11, H, W)
    pred = probs.argmax(0)
    # Compare away from the image borders and from the crop's rim.
    yy, xx = np.mgrid[0:H, 0:W]
    pts = np.stack([xx.ravel(), yy.ravel()], 1).astype(float)
    in_crop = np.all((crop.points_to_crop(pts) > 4) & (crop.points_to_crop(pts) < 448 - 5), axis=1).reshape(H, W)
    valid = in_crop & (xx > 5) & (xx < W - 6) & (yy > 5) & (yy < H - 6)
    assert valid.sum() > 0.3 * H * W
    for cls in (0, 3, 5, 7, 10):
        a, b = (pred == cls) & valid, (lab == cls) & valid
        if b.sum() > 100:
            assert (a & b).sum() / (a | b).sum() > 0.95, cls


def test_to_original_gives_the_fill_where_the_crop_does_not_reach():
    crop = make_crop(CropSpec(kind="bbox"), 64, (H, W), bbox=np.array([150.0, 100.0, 200.0, 150.0]))
    fill = np.eye(3)[0]
    out = crop.to_original(np.full((3, 64, 64), 0.2, np.float32), (H, W), fill=fill)
    np.testing.assert_allclose(out[:, 10, 10], fill)
    np.testing.assert_allclose(out[:, 125, 175], 0.2, atol=1e-6)


def test_make_crop_says_what_is_missing():
    with pytest.raises(UserError, match="bbox"):
        make_crop(CropSpec(kind="bbox"), 224, (H, W))
    with pytest.raises(UserError, match="alignment_points"):
        make_crop(CropSpec(kind="align5"), 224, (H, W), landmarks=face_landmarks())
    with pytest.raises(UserError, match="do not fix a similarity"):
        make_crop(CropSpec(kind="align5"), 224, (H, W), landmarks=np.ones((106, 2)), alignment_points=LAPA_POINTS)
    with pytest.raises(UserError, match="tanh_warp"):
        make_crop(CropSpec(kind="align5", tanh_warp=1.5), 224, (H, W), landmarks=face_landmarks(),
                  alignment_points=LAPA_POINTS)
