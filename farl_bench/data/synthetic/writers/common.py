"""Helpers shared by the synthetic dataset writers: sample streams, face drawing, file saving,
split assignment and the staged (all-or-nothing) dataset folder."""
from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from farl_bench.data.synthetic import face

#: Stream id of a dataset's layout draws; sample indices never reach it.
LAYOUT_STREAM = 2**32 - 1
JPEG_QUALITY = 90
#: Name of the per-dataset marker file written last, read by `is_complete`.
MARKER = ".synthetic.json"


@dataclass(frozen=True)
class Stage:
    """Where one dataset is being built and which random streams it draws from (picklable)."""

    root: Path    # the staging folder; becomes <out>/<folder> when complete
    seed: int
    number: int   # the dataset's fixed stream id

    def rng(self, index: int) -> np.random.Generator:
        """The stream of sample `index`: independent of scale and of the other datasets."""
        return np.random.default_rng([self.seed, self.number, index])

    def layout_rng(self) -> np.random.Generator:
        """The stream for dataset-level choices (permutations, id assignment)."""
        return np.random.default_rng([self.seed, self.number, LAYOUT_STREAM])


class RunSamples(Protocol):
    """Map `fn(stage, job)` over jobs (maybe in worker processes); results in job order."""

    def __call__(self, fn: Callable[[Stage, Any], Any], jobs: Sequence[Any]) -> list[Any]: ...


@dataclass(frozen=True)
class DatasetWriter:
    """One dataset format: where it goes, how many faces per split and scale, and how to write it."""

    key: str
    folder: str
    number: int                                    # stream id: fixed forever, never reused
    counts: Mapping[str, Mapping[str, int]]        # scale -> split -> faces
    write: Callable[[Stage, Mapping[str, int], RunSamples], int]  # -> images written


def split_blocks(counts: Mapping[str, int]) -> list[str]:
    """Split name of each sample index: contiguous blocks in the order of `counts`."""
    return [split for split, n in counts.items() for _ in range(n)]


def draw_face(rng: np.random.Generator, width: int, height: int | None = None,
              accept: Callable[[face.RenderedFace], bool] | None = None,
              tries: int = 200, zoom: float = 1.0) -> face.RenderedFace:
    """Render faces from `rng` until one passes `accept` (rejection keeps the stream deterministic)."""
    for _ in range(tries):
        rendered = face.render(face.sample_params(rng), width, height, zoom)
        if accept is None or accept(rendered):
            return rendered
    raise RuntimeError(f"no rendered face passed the acceptance test in {tries} draws")


def save_image(path: Path, pixels: np.ndarray) -> None:
    """Save H x W (grey or label) or H x W x 3 uint8 pixels; JPEG or PNG from the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))
    if path.suffix.lower() in (".jpg", ".jpeg"):
        image.save(path, format="JPEG", quality=JPEG_QUALITY)
    else:
        image.save(path, format="PNG")


def save_text(path: Path, lines: Sequence[str]) -> None:
    """Write lines with Unix newlines (the trailing newline included)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8", newline="\n")


def save_mat(path: Path, arrays: Mapping[str, Any]) -> None:
    """MATLAB v5 file; the header's creation time is fixed so the bytes are reproducible."""
    from scipy.io import savemat

    buffer = io.BytesIO()
    savemat(buffer, dict(arrays), format="5", do_compression=False)
    data = bytearray(buffer.getvalue())
    text = b"MATLAB 5.0 MAT-file, written by farl_bench.data.synthetic"
    data[:116] = text.ljust(116, b" ")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))


@contextmanager
def staged(target: Path) -> Iterator[Path]:
    """Yield an empty sibling folder of `target`; on success it replaces `target` by renames,
    on any failure it is removed, so `target` is never half-written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not (target / MARKER).is_file():
        raise FileExistsError(
            f"{target} exists but is not a synthetic dataset (no {MARKER} inside); "
            "move it away or choose another output folder")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the published folder should not be
        yield tmp
        if target.exists():
            old = tmp.with_name(tmp.name + ".old")
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
