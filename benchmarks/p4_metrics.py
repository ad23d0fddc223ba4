"""P4: the suite's metrics on their own. Parsing F1 (the parsing scorer: a confusion matrix per
image, as the bootstrap keeps them) over 2,000 masks of 512 x 512: <= 1 s. NME + AUC + FR at 0.10
(exact and FaRL's, `landmark_scores`) over 10,000 faces of 98 points: <= 0.05 s.
The goals are absolute: the number printed is seconds."""
from __future__ import annotations

import cv2
import numpy as np

from _common import report, seconds
from farl_bench.families.metrics.landmarks import landmark_scores
from farl_bench.families.parsing import ParsingScorer

N_MASKS, SIDE, CLASSES, N_FACES, POINTS = 2000, 512, 11, 10_000, 98
DISTINCT = 200  # distinct masks, reused: more would only cost generation time, fewer would sit in cache


def face_masks(rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(ground truth, prediction) label maps: nested ellipses for the parts; the prediction is the
    truth shifted by a few pixels with some parts mislabelled, so runs and errors look like a model's."""
    gts, preds = [], []
    for _ in range(DISTINCT):
        gt = np.zeros((SIDE, SIDE), np.uint8)
        for label in range(1, CLASSES):
            centre = tuple(int(v) for v in rng.integers(100, SIDE - 100, 2))
            axes = tuple(int(v) for v in rng.integers(10, 200 // label + 20, 2))
            cv2.ellipse(gt, centre, axes, float(rng.uniform(0, 180)), 0, 360, label, -1)
        pred = np.roll(gt, tuple(rng.integers(-4, 5, 2)), axis=(0, 1))
        pred[pred == rng.integers(1, CLASSES)] = rng.integers(0, CLASSES)
        gts.append(gt)
        preds.append(pred)
    return gts, preds


def main() -> None:
    rng = np.random.default_rng(0)
    gts, preds = face_masks(rng)
    names = [f"class{i}" for i in range(CLASSES)]

    def parsing() -> None:
        scorer = ParsingScorer(names)
        for i in range(N_MASKS):
            scorer.update([preds[i % DISTINCT]], [gts[i % DISTINCT]])
        scorer.compute()

    parsing_s = min(seconds(parsing) for _ in range(3))
    report("P4-parsing", parsing_s, 1.0, False, f"seconds for F1 over {N_MASKS} masks of {SIDE}^2")

    gt = rng.uniform(0, 256, (N_FACES, POINTS, 2))
    pred = gt + rng.normal(0, 3, gt.shape)
    boxes = np.concatenate([gt.min(1), gt.max(1)], axis=1)
    normalisers = {"io": {"type": "points", "a": [60], "b": [72]}}

    def landmarks() -> None:
        landmark_scores(pred, gt, boxes, normalisers, {"io": 0.10})

    landmarks_s = min(seconds(landmarks) for _ in range(5))
    report("P4-landmarks", landmarks_s, 0.05, False, f"seconds for NME, AUC and FR over {N_FACES} faces")


if __name__ == "__main__":
    main()
