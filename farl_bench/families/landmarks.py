"""Face alignment (300W, WFLW, AFLW-19): per-point heatmaps decoded by soft-argmax (a spatial
softmax); loss = mean point distance + a heatmap term against Gaussians (FaRL's two terms; the
heatmap term is the softmax's cross-entropy, see `heatmap_cross_entropy`). Predictions return to
original pixels for NME."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from farl_bench.backbones import FeatureSpec
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.families.base import Family, Metric, Scorer, numbers
from farl_bench.families.heads import DenseHead, LinearDenseHead
from farl_bench.families.metrics.landmarks import landmark_scores, threshold_text
from farl_bench.registry import FAMILIES


def soft_argmax(heatmaps: torch.Tensor) -> torch.Tensor:
    """N x K x h x w heatmap logits -> N x K x 2 expected (x, y) under their spatial softmax, in crop units.

    Crop units: 0 and 1 are the crop's outer edges, so crop pixel = unit * size - 0.5.
    """
    n, k, h, w = heatmaps.shape
    # A spatial softmax, not normalised sigmoids: a sigmoid's flat background would pull every
    # point towards the crop centre until the background is driven far negative.
    prob = heatmaps.float().flatten(2).softmax(dim=2)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=prob.dtype, device=prob.device),
                            torch.arange(w, dtype=prob.dtype, device=prob.device), indexing="ij")
    x = (prob * xs.flatten()).sum(dim=2)
    y = (prob * ys.flatten()).sum(dim=2)
    return torch.stack([(x + 0.5) / w, (y + 0.5) / h], dim=2)


def gaussian_heatmaps(points: torch.Tensor, h: int, w: int, radius: float) -> torch.Tensor:
    """N x K x 2 points in crop units -> N x K x h x w Gaussians, peak 1 (sigma = radius / 3 cells)."""
    px = points[..., 0] * w - 0.5
    py = points[..., 1] * h - 0.5
    xs = torch.arange(w, dtype=points.dtype, device=points.device)
    ys = torch.arange(h, dtype=points.dtype, device=points.device)
    sigma = max(radius / 3.0, 1e-3)
    gx = torch.exp(-0.5 * ((xs[None, None] - px[..., None]) / sigma) ** 2)
    gy = torch.exp(-0.5 * ((ys[None, None] - py[..., None]) / sigma) ** 2)
    return gy[..., :, None] * gx[..., None, :]


def heatmap_cross_entropy(heatmaps: torch.Tensor, points: torch.Tensor, radius: float) -> torch.Tensor:
    """Mean over faces and points of the cross-entropy between each normalised Gaussian target and
    the spatial softmax of its N x K x h x w logits; points N x K x 2 in crop units.

    FaRL scores sigmoid heatmaps with BCE, which fits its decoder (normalised sigmoids). Under a
    spatial softmax the BCE optimum (logit = log(g / (1 - g))) puts almost all mass on the cell
    nearest each point, so soft-argmax snaps to cell centres and its gradient vanishes; the
    cross-entropy's optimum is the normalised Gaussian itself, whose mean is the point.
    """
    h, w = heatmaps.shape[-2:]
    target = gaussian_heatmaps(points.float(), h, w, radius).flatten(2)
    target = target / target.sum(dim=2, keepdim=True).clamp_min(1e-12)
    return -(target * heatmaps.float().flatten(2).log_softmax(dim=2)).sum(dim=2).mean()


class LandmarkScorer(Scorer):
    state = ("pred", "gt", "boxes")

    def __init__(self, meta: dict[str, Any], thresholds: dict[str, float]):
        self.meta, self.thresholds = meta, thresholds
        self.pred: list[np.ndarray] = []
        self.gt: list[np.ndarray] = []
        self.boxes: list[np.ndarray] = []
        self._stacked: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # for the bootstrap's resamples

    def update(self, predictions: list[Any], targets: list[dict[str, Any]]) -> None:
        for pred, target in zip(predictions, targets):
            self.pred.append(np.asarray(pred, np.float64))
            self.gt.append(target["landmarks"])
            self.boxes.append(target["bbox"])

    def compute(self) -> dict[str, Metric]:
        return self.resample(np.arange(len(self.pred)))

    def resample(self, rows: np.ndarray) -> dict[str, Metric]:
        if self._stacked is None or len(self._stacked[0]) != len(self.pred):
            self._stacked = np.stack(self.pred), np.stack(self.gt), np.stack(self.boxes)
        pred, gt, boxes = self._stacked
        return landmark_scores(pred[rows], gt[rows], boxes[rows], self.meta["normalisers"], self.thresholds)


@FAMILIES.register("landmarks")
class Landmarks(Family):
    """Options: thresholds {normaliser: T} for AUC/FR (WFLW {io: 0.10}, AFLW-19 {box: 0.07});
    heatmap_radius (Gaussian radius in heatmap cells; FaRL: 5 on a 128 map); head_channels;
    heatmap_weight (of the heatmap term beside the point distance)."""

    name = "landmarks"
    dense = True
    prediction_field = "landmarks"  # K x [x, y] in original-image pixels

    def parse_prediction(self, value: Any, base_dir: Any, meta: dict[str, Any]) -> np.ndarray:
        n = self.num_outputs(meta)
        points = numbers(value, f"{n} [x, y] pairs")
        if points.shape != (n, 2):
            raise ValueError(f"expected {n} [x, y] pairs, got an array of shape {points.shape}")
        return points

    def __init__(self, thresholds: dict[str, float | list[float]] | None = None, heatmap_radius: float = 1.5,
                 head_channels: int = 128, heatmap_weight: float = 1.0):
        self.thresholds = dict(thresholds or {})
        self.radius, self.head_channels, self.heatmap_weight = heatmap_radius, head_channels, heatmap_weight

    def selection_key(self, meta: dict[str, Any]) -> str:
        return f"nme_{next(iter(meta['normalisers']))}"

    def num_outputs(self, meta: dict[str, Any]) -> int:
        return int(meta["num_landmarks"])

    def target(self, record: FaceRecord, data: DatasetSplits) -> dict[str, np.ndarray]:
        box = record.bbox if record.bbox is not None else np.full(4, np.nan)
        return {"landmarks": np.asarray(record.landmarks, np.float64), "bbox": np.asarray(box, np.float64)}

    def train_target(self, record: FaceRecord, crop: Any, data: DatasetSplits,
                     image_hw: tuple[int, int]) -> np.ndarray:
        """Points in crop units (see soft_argmax), so the loss is independent of the input size."""
        points = crop.points_to_crop(np.asarray(record.landmarks, np.float64))
        return ((points + 0.5) / crop.size).astype(np.float32)

    def build_head(self, spec: FeatureSpec, meta: dict[str, Any], linear: bool) -> nn.Module:
        k = self.num_outputs(meta)
        return LinearDenseHead(spec, k) if linear else DenseHead(spec, k, self.head_channels)

    def augmentation(self, meta: dict[str, Any], seed: int) -> Any:
        from farl_bench.data.augment import build_augment

        augment = build_augment("landmarks", seed=seed)

        def apply(image: np.ndarray, points: np.ndarray, item_seed: int) -> tuple[np.ndarray, np.ndarray]:
            size = image.shape[0]
            out = augment(image, keypoints=points * size - 0.5, seed=seed * 7919 + item_seed)
            return out[0], ((np.asarray(out[2], np.float32) + 0.5) / size).astype(np.float32)

        return apply

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean point distance (in units of the crop side) + the heatmap cross-entropy."""
        distance = (soft_argmax(outputs) - targets).norm(dim=2).mean()
        return distance + self.heatmap_weight * heatmap_cross_entropy(outputs, targets, self.radius)

    def decode(self, outputs: torch.Tensor, crops: list[Any], shapes: list[tuple[int, int]]) -> list[Any]:
        units = soft_argmax(outputs).cpu().numpy().astype(np.float64)
        return [crop.points_to_original(u * crop.size - 0.5) for u, crop in zip(units, crops)]

    def scorer(self, meta: dict[str, Any]) -> Scorer:
        return LandmarkScorer(meta, self.thresholds)

    def metric_names(self, meta: dict[str, Any] | None) -> list[str]:
        names = [f"nme_{norm}" for norm in (meta["normalisers"] if meta else [*self.thresholds, "*"])]
        for norm, thresholds in self.thresholds.items():
            for threshold in np.atleast_1d(thresholds):
                names += [f"{kind}@{threshold_text(float(threshold))}_{norm}{variant}"
                          for kind in ("auc", "fr") for variant in ("", "_farl")]
        return names
