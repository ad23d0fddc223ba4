"""Image loading and the crop + normalise step that turns a record into a network input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from farl_bench.data.records import FaceRecord
from farl_bench.errors import UserError


def load_rgb(path: Path) -> Image.Image:
    """Decode an image as RGB; a missing or undecodable file is a UserError naming it."""
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except FileNotFoundError:
        raise UserError(f"image {path} is missing: check the dataset tree (farl-bench datasets verify)") from None
    except (UnidentifiedImageError, OSError) as err:
        raise UserError(f"image {path} cannot be decoded ({err}): replace the file or re-download") from None


class CroppedFaces(Dataset):
    """Records -> normalised CHW float tensors at `size` x `size`.

    Only the `resize` crop (the whole image) is supported here; the face crops of the dense
    tasks come with their families.
    """

    def __init__(self, records: list[FaceRecord], size: int, mean: tuple[float, ...], std: tuple[float, ...],
                 crop: str = "resize"):
        if crop != "resize":
            raise UserError(f"crop {crop!r} is not supported yet for pooled features; use crop.kind=resize")
        self.records = records
        self.size = size
        self.mean = np.asarray(mean, np.float32) * 255
        self.std = np.asarray(std, np.float32) * 255

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> torch.Tensor:
        img = load_rgb(self.records[i].image).resize((self.size, self.size), Image.BILINEAR)
        arr = (np.asarray(img, np.float32) - self.mean) / self.std
        return torch.from_numpy(arr.transpose(2, 0, 1).copy())
