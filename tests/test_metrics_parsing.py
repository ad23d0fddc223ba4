import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.metrics import f1_score

from farl_bench.families.metrics.parsing import ConfusionMatrix, confusion_matrix, f1_per_class, parsing_scores

LAPA_NAMES = ["background", "skin", "left eyebrow", "right eyebrow", "left eye", "right eye", "nose",
              "upper lip", "inner mouth", "lower lip", "hair"]


def blobby_masks(rng: np.random.Generator, n: int, n_classes: int, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Masks of 8 x 8 blocks (long runs of one label, like real parsing maps); pred is gt with a few blocks changed."""
    gt = rng.integers(0, n_classes, (n, size // 8, size // 8)).repeat(8, axis=1).repeat(8, axis=2)
    changed = rng.random((n, size // 8, size // 8)).repeat(8, axis=1).repeat(8, axis=2) < 0.2
    pred = np.where(changed, rng.integers(0, n_classes, gt.shape), gt)
    return gt.astype(np.uint8), pred.astype(np.uint8)


def test_confusion_matrix_counts_ground_truth_rows_and_predicted_columns():
    gt = np.array([[0, 1], [1, 2]])
    pred = np.array([[0, 2], [1, 2]])
    expected = np.array([[1, 0, 0],
                         [0, 1, 1],
                         [0, 0, 1]])
    hist = confusion_matrix(gt, pred, 3)
    np.testing.assert_array_equal(hist, expected)
    assert hist.dtype == np.int64


@pytest.mark.parametrize("dtype, ignore", [(np.uint8, 255), (np.int64, 255), (np.int64, -1), (np.int16, 3)])
def test_ground_truth_labels_outside_the_classes_are_not_counted(dtype, ignore):
    gt = np.array([[0, ignore, 1], [ignore, 2, 2]], dtype)
    pred = np.array([[0, 2, 1], [1, 2, 0]], np.uint8)
    expected = np.array([[1, 0, 0],
                         [0, 1, 0],
                         [1, 0, 1]])
    np.testing.assert_array_equal(confusion_matrix(gt, pred, 3), expected)


def test_predictions_outside_the_classes_are_refused():
    gt = np.zeros((2, 2), np.uint8)
    with pytest.raises(ValueError, match="pred holds labels outside"):
        confusion_matrix(gt, np.full((2, 2), 3), 3)
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(gt, np.zeros((2, 3), np.uint8), 3)


@pytest.mark.parametrize("blobby", [True, False])
@pytest.mark.parametrize("pred_dtype", [np.uint8, np.int64])
def test_confusion_matrix_matches_scikit_learn_on_random_masks(blobby, pred_dtype):
    rng = np.random.default_rng(0)
    n_classes = 19
    if blobby:  # long runs: the run-length path
        gt, pred = blobby_masks(rng, 3, n_classes)
    else:  # every pixel independent: the per-pixel path
        gt = rng.integers(0, n_classes, (3, 64, 64)).astype(np.uint8)
        pred = rng.integers(0, n_classes, (3, 64, 64)).astype(np.uint8)
    gt[:, :5] = 255
    hist = confusion_matrix(gt, pred.astype(pred_dtype), n_classes)
    keep = gt.ravel() != 255
    expected = sk_confusion_matrix(gt.ravel()[keep], pred.ravel()[keep], labels=range(n_classes))
    np.testing.assert_array_equal(hist, expected)


def test_f1_per_class_by_hand_in_percent_with_nan_for_a_class_absent_from_both():
    hist = np.array([[5, 1, 0],
                     [2, 3, 0],
                     [0, 0, 0]])
    # class 0: 2·5 / (pred 7 + gt 6); class 1: 2·3 / (pred 4 + gt 5); class 2: 0/0
    np.testing.assert_allclose(f1_per_class(hist), [100 * 10 / 13, 100 * 6 / 9, np.nan])


def test_f1_per_class_matches_scikit_learn_on_random_labels():
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 11, 5000)
    pred = np.where(rng.random(5000) < 0.7, gt, rng.integers(0, 11, 5000))
    expected = 100 * f1_score(gt, pred, labels=range(11), average=None)
    np.testing.assert_allclose(f1_per_class(confusion_matrix(gt, pred, 11)), expected)


def test_f1_mean_leaves_out_background_and_classes_absent_from_both():
    hist = np.array([[50, 0, 0, 0],
                     [0, 8, 2, 0],
                     [0, 0, 0, 0],
                     [10, 0, 0, 30]])
    metrics = parsing_scores(hist, ["background", "skin", "nose", "hair"])
    # skin 16/(8+10); nose predicted twice but never present: 0; hair 60/(30+40); background 100/(60+50)
    skin, nose, hair, background = 100 * 16 / 18, 0.0, 100 * 60 / 70, 100 * 100 / 110
    assert metrics["f1_mean"].value == pytest.approx((skin + nose + hair) / 3)
    assert metrics["f1/skin"].value == pytest.approx(skin)
    assert metrics["f1/nose"].value == 0.0
    assert metrics["f1_background"].value == pytest.approx(background)
    assert "f1/background" not in metrics
    assert all(m.unit == "%" and m.higher_is_better for m in metrics.values())

    hist[:, 2] = 0  # nose now absent from gt and pred: NaN, and out of the mean
    metrics = parsing_scores(hist, ["background", "skin", "nose", "hair"])
    assert np.isnan(metrics["f1/nose"].value)
    assert metrics["f1_mean"].value == pytest.approx((100 * 16 / 16 + hair) / 2)


def test_parsing_scores_name_every_lapa_class_but_background():
    hist = np.eye(11, dtype=np.int64) * 10
    metrics = parsing_scores(hist, LAPA_NAMES)
    assert set(metrics) == {"f1_mean", "f1_background"} | {f"f1/{name}" for name in LAPA_NAMES[1:]}
    assert metrics["f1_mean"].value == 100.0
    with pytest.raises(ValueError, match="label names"):
        parsing_scores(hist, LAPA_NAMES[:-1])


def test_merged_states_equal_one_state_over_all_masks():
    rng = np.random.default_rng(2)
    gt, pred = blobby_masks(rng, 9, 11)
    whole = ConfusionMatrix(11)
    parts = [ConfusionMatrix(11) for _ in range(3)]
    for i in range(9):
        whole.update(gt[i], pred[i])
        parts[i % 3].update(gt[i], pred[i])
    np.testing.assert_array_equal((parts[0] + parts[1] + parts[2]).hist, whole.hist)
    np.testing.assert_array_equal(parts[0].merge(parts[1]).merge(parts[2]).hist, whole.hist)
    np.testing.assert_array_equal(sum(parts).hist, whole.hist)
    assert parts[0].scores(LAPA_NAMES).keys() == parsing_scores(whole.hist, LAPA_NAMES).keys()
    with pytest.raises(ValueError, match="merge"):
        parts[0].merge(ConfusionMatrix(19))


def test_one_update_with_a_batch_equals_one_update_per_mask():
    rng = np.random.default_rng(3)
    gt, pred = blobby_masks(rng, 4, 19)
    batch, single = ConfusionMatrix(19), ConfusionMatrix(19)
    batch.update(gt, pred)
    for g, p in zip(gt, pred):
        single.update(g, p)
    np.testing.assert_array_equal(batch.hist, single.hist)
    assert batch.hist.sum() == gt.size
