import math

import numpy as np
import pytest
from scipy.integrate import simpson, trapezoid

from farl_bench.families.metrics.landmarks import (
    ced, ced_auc_fr, ced_auc_fr_farl, exact_grid, farl_grid, landmark_scores, nme_per_image, normaliser,
    simps_avg,
)

IO_300W = {"type": "points", "a": [36], "b": [45]}
IP_300W = {"type": "points", "a": list(range(36, 42)), "b": list(range(42, 48))}


def random_faces(rng: np.random.Generator, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    gt = rng.uniform(0, 256, (n, k, 2))
    return gt + rng.normal(0, 3, gt.shape), gt


def test_nme_by_hand_is_a_fraction_of_the_normaliser():
    gt = np.zeros((1, 2, 2))
    pred = np.array([[[3.0, 4.0], [0.0, 0.0]]])  # errors 5 and 0
    np.testing.assert_allclose(nme_per_image(pred, gt, np.array([10.0])), [0.25])


def test_nme_matches_explicit_loops_on_random_points():
    rng = np.random.default_rng(0)
    pred, gt = random_faces(rng, 20, 19)
    norm = rng.uniform(50, 100, 20)
    expected = [sum(math.dist(pred[i, k], gt[i, k]) for k in range(19)) / 19 / norm[i] for i in range(20)]
    np.testing.assert_allclose(nme_per_image(pred, gt, norm), expected)


def test_nme_refuses_mismatched_shapes_and_empty_normalisers():
    pred, gt = np.zeros((2, 5, 2)), np.zeros((2, 5, 2))
    with pytest.raises(ValueError, match="N x K x 2"):
        nme_per_image(pred, np.zeros((2, 4, 2)), np.ones(2))
    with pytest.raises(ValueError, match="<= 0"):
        nme_per_image(pred, gt, np.array([1.0, 0.0]))


def test_nme_uses_outer_eye_corners_for_300w():
    gt = np.zeros((1, 68, 2))
    gt[0, 36] = [100, 120]
    gt[0, 45] = [160, 200]  # 60, 80 apart: 100 px
    gt[0, 39] = gt[0, 42] = [130, 160]  # inner corners do not matter for io
    np.testing.assert_allclose(normaliser(gt, None, IO_300W), [100.0])


def test_inter_pupil_normaliser_joins_the_eye_centres_for_300w():
    rng = np.random.default_rng(1)
    gt = rng.uniform(0, 10, (2, 68, 2))
    gt[:, 36:42] += [[40, 0]]  # left-eye ring centred near (45, 5)
    gt[:, 42:48] += [[100, 0]]
    expected = np.linalg.norm(gt[:, 36:42].mean(axis=1) - gt[:, 42:48].mean(axis=1), axis=1)
    np.testing.assert_allclose(normaliser(gt, None, IP_300W), expected)


def test_box_normalisers_use_square_root_of_area_and_diagonal():
    gt = np.zeros((2, 19, 2))
    boxes = np.array([[10, 20, 40, 60], [0, 0, 8, 2]], float)  # x_min, y_min, x_max, y_max
    np.testing.assert_allclose(normaliser(gt, boxes, {"type": "bbox_sqrt_area"}), [math.sqrt(30 * 40), 4.0])
    np.testing.assert_allclose(normaliser(gt, boxes, {"type": "bbox_diag"}), [50.0, math.sqrt(68)])


def test_normaliser_definitions_are_checked():
    gt = np.zeros((1, 68, 2))
    with pytest.raises(ValueError, match="unknown"):
        normaliser(gt, None, {"type": "max_side"})
    with pytest.raises(ValueError, match="needs boxes"):
        normaliser(gt, None, {"type": "bbox_diag"})
    with pytest.raises(ValueError, match="outside"):
        normaliser(gt, None, {"type": "points", "a": [36], "b": [98]})
    with pytest.raises(ValueError, match="'b'"):
        normaliser(gt, None, {"type": "points", "a": [36]})


def test_exact_grid_ends_at_the_threshold_and_farl_grid_one_step_past_it_at_0_07():
    assert len(exact_grid(0.07)) == 701 and exact_grid(0.07)[-1] == 0.07
    assert len(farl_grid(0.07)) == 702 and farl_grid(0.07)[-1] == pytest.approx(0.0701)
    assert len(exact_grid(0.10)) == len(farl_grid(0.10)) == 1001
    np.testing.assert_allclose(farl_grid(0.10), exact_grid(0.10), rtol=0, atol=1e-15)


def test_ced_is_the_share_of_faces_at_or_below_each_error():
    nme = np.array([0.02, 0.05, 0.05, 0.09, np.nan])
    np.testing.assert_allclose(ced(nme, np.array([0.0, 0.02, 0.049, 0.05, 1.0])), [0, 0.2, 0.2, 0.6, 0.8])


def test_auc_of_errors_spread_uniformly_is_half_below_the_threshold_and_a_quarter_over_twice_it():
    n = 200_000
    spread = (np.arange(n) + 0.5) / n
    # ced(x) = x / T on [0, T]: integral T/2, AUC 1/2, no failures
    auc, fr = ced_auc_fr(spread * 0.1, 0.1)
    assert auc == pytest.approx(0.5, abs=1e-4) and fr == 0.0
    # spread over [0, 2T]: ced(x) = x / 2T, AUC 1/4, half the faces fail
    auc, fr = ced_auc_fr(spread * 0.2, 0.1)
    assert auc == pytest.approx(0.25, abs=1e-4) and fr == 0.5


@pytest.mark.parametrize("c", [0.0123, 0.03, 0.0655])
def test_a_constant_error_gives_a_step_ced_and_auc_of_the_remaining_span(c):
    threshold, step = 0.07, 1e-4
    auc, fr = ced_auc_fr(np.full(50, c), threshold, step)
    assert auc == pytest.approx((threshold - c) / threshold, abs=2 * step / threshold)
    assert fr == 0.0
    assert ced_auc_fr(np.full(50, 0.08), threshold) == (0.0, 1.0)


def test_failure_rate_counts_faces_above_the_threshold_and_nan_as_failures():
    nme = np.array([0.01, 0.1, 0.10001, 0.5, np.nan, 0.0])
    assert ced_auc_fr(nme, 0.1)[1] == pytest.approx(3 / 6)
    assert ced_auc_fr(nme[:4], 0.1)[1] == pytest.approx(2 / 4)


def test_farl_variant_agrees_with_the_exact_grid_at_0_10():
    nme = np.random.default_rng(2).gamma(4, 0.012, 2500)
    exact, farl = ced_auc_fr(nme, 0.10), ced_auc_fr_farl(nme, 0.10)
    np.testing.assert_allclose(farl, exact, rtol=0, atol=1e-9)


def test_farl_variant_differs_at_0_07_and_reads_failures_at_0_0701():
    nme = np.random.default_rng(3).gamma(4, 0.012, 300)
    exact, farl = ced_auc_fr(nme, 0.07), ced_auc_fr_farl(nme, 0.07)
    assert abs(farl[0] - exact[0]) > 1e-4
    on_the_edge = np.array([0.01, 0.07005])  # fails at 0.07, passes at FaRL's 0.0701
    assert ced_auc_fr(on_the_edge, 0.07)[1] == 0.5
    assert ced_auc_fr_farl(on_the_edge, 0.07)[1] == 0.0


def test_simps_avg_reproduces_scipy_1_10_simps():
    # reference values printed by scipy 1.10.1's scipy.integrate.simps (default even='avg')
    x = [0.0, 0.5, 1.5, 2.0, 3.5, 4.0]
    y = [1.0, 3.0, 2.0, 5.0, 4.0, 0.0]
    assert simps_avg(y, x) == 14.916666666666664
    assert simps_avg(y[:5], x[:5]) == 14.569444444444443
    # y = x² on 4 points: (8/3 + 6.5 + 0.5 + 26/3) / 2 = 55/6, not the exact 9
    assert simps_avg([0.0, 1.0, 4.0, 9.0], [0.0, 1.0, 2.0, 3.0]) == pytest.approx(55 / 6, abs=1e-15)


def test_farl_variant_reproduces_farl_code_run_with_scipy_1_10():
    # FaRL's AUC_FR.finalize_evaluation run under scipy 1.10.1 on these errors gave these values
    nme = (np.arange(300) * 0.37 % 1.0) * 0.1
    assert ced_auc_fr_farl(nme, 0.07) == (0.3561035714285716, 0.29000000000000004)
    assert ced_auc_fr_farl(nme, 0.10) == (0.505058888888889, 0.0)


def test_simps_avg_averages_simpson_with_a_trapezoid_at_either_end():
    rng = np.random.default_rng(4)
    for n in (4, 10, 31):
        x, y = np.sort(rng.uniform(0, 3, n)), rng.random(n)
        if n % 2:
            expected = simpson(y, x=x)
        else:
            first = simpson(y[:-1], x=x[:-1]) + trapezoid(y[-2:], x[-2:])
            last = trapezoid(y[:2], x[:2]) + simpson(y[1:], x=x[1:])
            expected = (first + last) / 2
        assert simps_avg(y, x) == pytest.approx(expected, rel=1e-12)


def test_landmark_scores_are_named_with_normaliser_and_threshold_in_percent():
    rng = np.random.default_rng(5)
    pred, gt = random_faces(rng, 40, 68)
    boxes = np.concatenate([gt.min(axis=1), gt.max(axis=1)], axis=1)
    normalisers = {"io": IO_300W, "box": {"type": "bbox_sqrt_area"}}
    metrics = landmark_scores(pred, gt, boxes, normalisers, {"io": [0.08, 0.10], "box": 0.07})
    suffixes = ["0.08_io", "0.10_io", "0.07_box"]
    assert set(metrics) == {"nme_io", "nme_box"} | {f"{kind}@{s}{variant}" for kind in ("auc", "fr")
                                                    for s in suffixes for variant in ("", "_farl")}
    nme_box = nme_per_image(pred, gt, normaliser(gt, boxes, normalisers["box"]))
    assert metrics["nme_box"].value == pytest.approx(100 * nme_box.mean())
    assert metrics["auc@0.07_box"].value == pytest.approx(100 * ced_auc_fr(nme_box, 0.07)[0])
    assert metrics["fr@0.07_box_farl"].value == pytest.approx(100 * ced_auc_fr_farl(nme_box, 0.07)[1])
    assert all(m.unit == "%" for m in metrics.values())
    assert metrics["auc@0.10_io"].higher_is_better and not metrics["fr@0.10_io"].higher_is_better
    assert not metrics["nme_io"].higher_is_better


def test_thresholds_must_name_a_normaliser():
    pred, gt = random_faces(np.random.default_rng(6), 3, 68)
    with pytest.raises(ValueError, match="not normalisers"):
        landmark_scores(pred, gt, None, {"io": IO_300W}, {"ip": 0.08})
