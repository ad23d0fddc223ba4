"""Records -> network inputs: crop, optional augmentation, normalise; with the family's crop-space target.

data/ never imports the backbones (they import data/, e.g. `backbones.tools.embed`): the normalisation
comes in as any object with a backbone `Preprocess`'s three fields."""
from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from farl_bench.data.crops import Crop, make_crop
from farl_bench.data.images import load_rgb
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.errors import UserError
from farl_bench.tasks import CropSpec


class InputNorm(Protocol):
    """What a sample needs of the network's input (`backbones.Preprocess` is one): RGB in [0, 1]
    resized to input_size x input_size, then (x - mean) / std."""

    @property
    def mean(self) -> tuple[float, float, float]: ...

    @property
    def std(self) -> tuple[float, float, float]: ...

    @property
    def input_size(self) -> int: ...


#: (image, target, seed) -> (image, target): joint augmentation of a crop and its crop-space target.
Augment = Callable[[np.ndarray, Any, int], tuple[np.ndarray, Any]]


class FaceSamples(Dataset):
    """One item per record: {"image": 3 x S x S float, "target": the family's train target, "index": int}.

    `family` is None for feature extraction (no targets). Crops are recomputed from the record on
    demand (`crop_of`), so decoding in the main process needs nothing from the worker processes.
    """

    def __init__(self, records: list[FaceRecord], data: DatasetSplits, crop: CropSpec, preprocess: InputNorm,
                 family: Any = None, augment: Augment | None = None):
        self.records, self.data, self.crop_spec, self.family, self.augment = records, data, crop, family, augment
        self.epoch = 0  # set by the trainer: part of each item's augmentation seed
        self.size = preprocess.input_size
        self.mean = (np.asarray(preprocess.mean, np.float32) * 255).reshape(3, 1, 1)
        self.std = (np.asarray(preprocess.std, np.float32) * 255).reshape(3, 1, 1)

    def __len__(self) -> int:
        return len(self.records)

    def _crop(self, record: FaceRecord, hw: tuple[int, int]) -> Crop:
        try:
            return make_crop(self.crop_spec, self.size, hw, landmarks=record.landmarks, bbox=record.bbox,
                             alignment_points=self.data.meta.get("alignment_points"))
        except ValueError as err:
            raise UserError(f"cannot crop {record.image} ({self.crop_spec.kind}): {err}") from None

    def crop_of(self, i: int) -> tuple[Crop, tuple[int, int]]:
        """The crop of item i and its original (H, W), from the image header alone."""
        record = self.records[i]
        with Image.open(record.image) as img:
            hw = (img.height, img.width)
        return self._crop(record, hw), hw

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.item(i, i)

    def item(self, i: int, draw: int) -> dict[str, Any]:
        """Item i, augmented with the seed of (epoch, `draw`): repeated copies of one face in an
        epoch (FaRL's low-data rule) pass different `draw`s and so get different augmentations."""
        record = self.records[i]
        image = np.asarray(load_rgb(record.image))
        crop = self._crop(record, image.shape[:2])
        pixels = crop.image(image)
        item: dict[str, Any] = {"index": i}
        if self.family is not None:
            target = self.family.train_target(record, crop, self.data, image.shape[:2])
            if self.augment is not None:
                # One seed per (epoch, draw): worker processes hold copies of any shared generator.
                pixels, target = self.augment(pixels, target, self.epoch * 1_000_003 + draw)
            item["target"] = torch.as_tensor(np.asarray(target))
        # one converting copy into CHW, then in place: ~15x faster than four passes, same values
        arr = np.ascontiguousarray(pixels.transpose(2, 0, 1), np.float32)
        arr -= self.mean
        arr /= self.std
        item["image"] = torch.from_numpy(arr)
        return item
