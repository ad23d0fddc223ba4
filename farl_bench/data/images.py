"""Image decoding with errors that name the file."""
from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

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
