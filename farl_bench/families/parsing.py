"""Face parsing (LaPa, CelebAMask-HQ): per-pixel classes from a pyramid head, cross-entropy, and F1
from one confusion matrix over all test pixels in the ORIGINAL image space."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from farl_bench.backbones import FeatureSpec
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.errors import UserError
from farl_bench.families.base import Family, Scorer
from farl_bench.families.heads import DenseHead, LinearDenseHead
from farl_bench.families.metrics.parsing import confusion_matrix, parsing_scores
from farl_bench.registry import FAMILIES

#: Crop pixels outside the original image carry this label and are left out of the loss.
IGNORE = 255


class ParsingScorer(Scorer):
    """One confusion matrix per image, kept so that a bootstrap over images re-sums them exactly."""

    state = ("per_image",)

    def __init__(self, label_names: list[str]):
        self.names = label_names
        self.per_image: list[np.ndarray] = []  # C*C int64 each
        self._stacked: np.ndarray | None = None

    def update(self, predictions: list[np.ndarray], targets: list[np.ndarray]) -> None:
        for pred, gt in zip(predictions, targets):
            if pred.shape != gt.shape:  # e.g. CelebAMask-HQ: 1024 px images, 512 px masks
                pred = cv2.resize(pred, gt.shape[::-1], interpolation=cv2.INTER_NEAREST)
            self.per_image.append(confusion_matrix(gt, pred, len(self.names)).ravel())

    def compute(self):
        return self.resample(np.arange(len(self.per_image)))

    def resample(self, rows: np.ndarray):
        n = len(self.names)
        if self._stacked is None or len(self._stacked) != len(self.per_image):
            self._stacked = np.stack(self.per_image) if self.per_image else np.zeros((0, n * n), np.int64)
        counts = np.bincount(rows, minlength=len(self.per_image))
        return parsing_scores((counts @ self._stacked).reshape(n, n), self.names)


def _checked_mask(record: FaceRecord, data: DatasetSplits) -> np.ndarray:
    """The record's label map; an id beyond the dataset's classes is refused here, naming the file,
    since the loss and the confusion matrices would otherwise fail far from the cause."""
    mask = data.load_mask(record)
    n = len(data.meta["label_names"])
    if mask.size and mask.max() >= n:
        bad = np.unique(mask[mask >= n])[:5].tolist()
        raise UserError(f"mask {record.mask} holds label id(s) {bad}, outside 0..{n - 1} "
                        f"({', '.join(data.meta['label_names'][:3])}, ...): fix or remove the file")
    return mask


def _png_label_map(path: Path) -> np.ndarray:
    """H x W class ids of a one-channel PNG (8/16-bit grey or palette indices); colours are refused."""
    with Image.open(path) as img:
        if img.mode not in ("L", "P", "I", "I;16"):
            raise ValueError(f"{path.name} has image mode {img.mode}; expected one channel of class ids "
                             "(an 8-bit grey or palette PNG), not colours")
        return np.asarray(img)


def _rle_label_map(value: dict[str, Any], n_classes: int) -> np.ndarray:
    """{"<class id>": COCO RLE} painted in key order onto background 0; all masks one size."""
    from pycocotools import mask as rle

    label, first = None, ""
    for cls, encoded in value.items():
        if not (str(cls).isdecimal() and int(cls) < n_classes):
            raise ValueError(f"class id {cls!r} is not one of 0..{n_classes - 1}")
        if not isinstance(encoded, dict) or not {"size", "counts"} <= encoded.keys():
            raise ValueError(f"class {cls}: expected a COCO RLE {{'size': [h, w], 'counts': ...}}")
        if isinstance(encoded["counts"], str):
            encoded = {**encoded, "counts": encoded["counts"].encode()}
        binary = rle.decode(encoded).astype(bool)
        if label is None:
            label, first = np.zeros(binary.shape, np.uint8), cls
        elif binary.shape != label.shape:
            raise ValueError(f"RLE masks of different sizes: class {first} is {label.shape[1]} x "
                             f"{label.shape[0]} px, class {cls} is {binary.shape[1]} x {binary.shape[0]} px")
        label[binary] = int(cls)
    return label


@FAMILIES.register("parsing")
class Parsing(Family):
    """Options: head_channels (width of the pyramid head; FaRL uses 768)."""

    name = "parsing"
    selection_metric = "f1_mean"
    dense = True
    prediction_field = "mask"  # a label-map PNG path, or {class id: COCO RLE}

    def parse_prediction(self, value: Any, base_dir: Any, meta: dict[str, Any]) -> np.ndarray:
        """A one-channel label-map PNG (path relative to the predictions file) or {"<class id>": COCO
        RLE, ...} painted in key order onto background 0; every label a class id of the dataset."""
        n = self.num_outputs(meta)
        if isinstance(value, str):
            label = _png_label_map(Path(base_dir) / value)
        elif isinstance(value, dict) and value:
            label = _rle_label_map(value, n)
        else:
            raise ValueError("mask must be a PNG path or a mapping of class id to COCO RLE")
        outside = (label < 0) | (label >= n)
        if outside.any():
            raise ValueError(f"label id(s) {np.unique(label[outside])[:5].tolist()} outside 0..{n - 1}")
        return label

    def format_prediction(self, prediction: np.ndarray, target: np.ndarray) -> dict[str, Any]:
        """{"<class id>": COCO RLE} of every class present, at the ground truth's size (where the
        scorer resizes a prediction, so the file holds what was scored)."""
        from pycocotools import mask as rle

        if prediction.shape != target.shape:
            prediction = cv2.resize(prediction, target.shape[::-1], interpolation=cv2.INTER_NEAREST)
        out = {}
        for cls in np.unique(prediction).tolist():
            encoded = rle.encode(np.asfortranarray(prediction == cls, dtype=np.uint8))
            out[str(cls)] = {"size": list(encoded["size"]), "counts": encoded["counts"].decode()}
        return out

    def check_prediction(self, prediction: np.ndarray, target: np.ndarray) -> None:
        if prediction.shape != target.shape:  # scored as given: a resize would choose for the user
            raise ValueError(f"label map {prediction.shape[1]} x {prediction.shape[0]} px, expected "
                             f"{target.shape[1]} x {target.shape[0]} px (the dataset's label maps)")

    def __init__(self, head_channels: int = 128):
        self.head_channels = head_channels

    def num_outputs(self, meta: dict[str, Any]) -> int:
        return len(meta["label_names"])

    def target(self, record: FaceRecord, data: DatasetSplits) -> np.ndarray:
        return _checked_mask(record, data)

    def train_target(self, record: FaceRecord, crop: Any, data: DatasetSplits,
                     image_hw: tuple[int, int]) -> np.ndarray:
        mask = _checked_mask(record, data)
        if mask.shape != tuple(image_hw):  # masks stored at another resolution than the image
            mask = cv2.resize(mask, image_hw[::-1], interpolation=cv2.INTER_NEAREST)
        return crop.mask(mask, fill=IGNORE)

    def build_head(self, spec: FeatureSpec, meta: dict[str, Any], linear: bool) -> nn.Module:
        n = self.num_outputs(meta)
        return LinearDenseHead(spec, n) if linear else DenseHead(spec, n, self.head_channels)

    def augmentation(self, meta: dict[str, Any], seed: int) -> Any:
        from farl_bench.data.augment import build_augment

        augment = build_augment("parsing", seed=seed)
        return lambda image, mask, item_seed: augment(image, mask=mask, seed=seed * 7919 + item_seed)[:2]

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = F.interpolate(outputs, size=targets.shape[-2:], mode="bilinear", align_corners=False)
        return F.cross_entropy(logits, targets.long(), ignore_index=IGNORE)

    def loss_terms(self, targets: torch.Tensor) -> int:
        return int((targets != IGNORE).sum())  # the pixels inside the crop

    def decode(self, outputs: torch.Tensor, crops: list[Any], shapes: list[tuple[int, int]]) -> list[Any]:
        """Per face: class probabilities resized to the crop, warped back to the original image, argmax."""
        out = []
        for logits, crop, hw in zip(outputs, crops, shapes):
            probs = F.interpolate(logits[None].float(), size=(crop.size, crop.size), mode="bilinear",
                                  align_corners=False)[0].softmax(dim=0).cpu().numpy()
            fill = np.zeros(len(probs))
            fill[0] = 1.0  # outside the crop: background
            out.append(crop.to_original(probs, hw, fill=fill).argmax(axis=0).astype(np.uint8))
        return out

    def scorer(self, meta: dict[str, Any]) -> Scorer:
        return ParsingScorer(meta["label_names"])

    def metric_names(self, meta: dict[str, Any] | None) -> list[str]:
        classes = meta["label_names"][1:] if meta else ["*"]  # every class but the background
        return ["f1_mean", "f1_background", *(f"f1/{name}" for name in classes)]
