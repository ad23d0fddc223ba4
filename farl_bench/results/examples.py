"""A few decoded test predictions of each dense run (masks, landmarks), kept beside the records so the
report can draw them without the dataset: `examples/<key>.npz` holds, per face, a small JPEG of
the original image, the prediction and the ground truth, scaled to that image."""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from farl_bench.data.records import FaceRecord

N_EXAMPLES = 3
MAX_SIDE = 192  # px: enough to see a mask or a landmark set, small enough to inline in a page


@dataclass
class Example:
    id: str
    image: np.ndarray   # H x W x 3 uint8
    prediction: np.ndarray  # H x W label map, or K x 2 points in this image's pixels
    target: np.ndarray


def example_rows(records: list[FaceRecord], n: int = N_EXAMPLES) -> list[int]:
    """Rows of the n faces whose sha256('examples:<id>') ranks lowest: the same faces in every run."""
    return sorted(range(len(records)), key=lambda i: hashlib.sha256(f"examples:{records[i].id}".encode()).hexdigest())[:n]


def _shrink(example: Example, kind: str) -> Example:
    h, w = example.image.shape[:2]
    scale = min(1.0, MAX_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))

    def fit(array: np.ndarray) -> np.ndarray:
        if kind == "mask":  # masks may come at another resolution than the image (CelebAMask-HQ)
            return np.asarray(Image.fromarray(np.asarray(array, np.uint8)).resize(size, Image.NEAREST))
        return ((np.asarray(array, np.float64) + 0.5) * scale - 0.5).astype(np.float32)  # pixel centres

    image = np.asarray(Image.fromarray(example.image).resize(size, Image.BILINEAR))
    return Example(example.id, image, fit(example.prediction), fit(example.target))


def encode_examples(kind: str, examples: list[Example], labels: list[str] | None = None) -> bytes:
    """The bytes of a run's examples side file (store.examples_file); `kind`: 'mask' or 'landmarks';
    `labels`: the class names of mask ids, for the report's colour legend."""
    arrays: dict[str, np.ndarray] = {"kind": np.asarray(kind), "ids": np.asarray([e.id for e in examples])}
    if labels:
        arrays["labels"] = np.asarray(labels)
    for j, example in enumerate(_shrink(e, kind) for e in examples):
        jpeg = io.BytesIO()
        Image.fromarray(example.image).save(jpeg, format="JPEG", quality=90)
        arrays.update({f"image{j}": np.frombuffer(jpeg.getvalue(), np.uint8), f"prediction{j}": example.prediction,
                       f"target{j}": example.target})
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def load_examples(path: Path) -> tuple[str, list[Example], list[str] | None]:
    """(kind, examples, class names or None) from a side file made by `encode_examples`."""
    with np.load(path) as npz:
        ids = npz["ids"].tolist()
        examples = [Example(i, np.asarray(Image.open(io.BytesIO(npz[f"image{j}"].tobytes())).convert("RGB")),
                            npz[f"prediction{j}"], npz[f"target{j}"]) for j, i in enumerate(ids)]
        return str(npz["kind"]), examples, npz["labels"].tolist() if "labels" in npz else None
