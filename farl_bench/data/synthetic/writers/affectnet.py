"""AffectNet (manually annotated): `Manually_Annotated_file_lists/{training,validation}.csv` with
header `subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,
valence,arousal` (landmarks: one `;`-separated string x0;y0;..;x67;y67 in 0-based pixels; box in
whole pixels) and images `Manually_Annotated_Images/<subdir>/<56 hex>.jpg` (220..340 px).
Expression ids 0..7 follow EXPRESSIONS (neutral, happy, sad, surprise, fear, disgust, anger,
contempt); every NON_EMOTION_EVERY-th row of a split is 8 none, 9 uncertain or 10 no-face in turn.
No-face rows show a smooth noise image; uncertain and no-face rows have valence = arousal = -2,
as the release marks them."""
from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

import numpy as np
from PIL import Image

from ..face import EXPRESSIONS
from .common import DatasetWriter, RunSamples, Stage, draw_face, save_image, save_text, split_blocks

SIZE = (220, 340)  # px, inclusive range of width and of height
NON_EMOTION_EVERY = 8
HEADER = ("subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,"
          "expression,valence,arousal")
#: Typical (valence, arousal) of each expression, in EXPRESSIONS order (circumplex model).
AFFECT = ((0.0, 0.0), (0.7, 0.3), (-0.6, -0.3), (0.2, 0.7), (-0.6, 0.7), (-0.6, 0.3), (-0.6, 0.6), (-0.4, 0.2))
AFFECT_NOISE = 0.15
NONE, UNCERTAIN, NO_FACE = 8, 9, 10


def _noise(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A smooth random colour field, H x W x 3 uint8 (a non-face image that compresses well)."""
    coarse = Image.fromarray(rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8))
    return np.asarray(coarse.resize((width, height), Image.BILINEAR))


def _sample(stage: Stage, job: tuple[int, int | None]) -> str:
    index, forced = job
    rng = stage.rng(index)
    path = f"{int(rng.integers(1, 1001))}/{hashlib.sha224(f'{stage.seed}-{index}'.encode()).hexdigest()}.jpg"
    width, height = (int(v) for v in rng.integers(SIZE[0], SIZE[1] + 1, size=2))
    rendered = draw_face(rng, width, height)
    label = EXPRESSIONS.index(rendered.expression) if forced is None else forced
    affect = np.clip(np.array(AFFECT[EXPRESSIONS.index(rendered.expression)]) + rng.normal(0, AFFECT_NOISE, 2), -1, 1)
    if label in (UNCERTAIN, NO_FACE):
        affect = np.array([-2.0, -2.0])
    image = _noise(rng, width, height) if label == NO_FACE else rendered.image
    save_image(stage.root / "Manually_Annotated_Images" / path, image)
    x0, y0, x1, y1 = rendered.bbox
    box = (math.floor(x0), math.floor(y0), round(x1 - x0), round(y1 - y0))
    points = ";".join(f"{v:.2f}" for v in rendered.landmarks["68"].reshape(-1))
    return ",".join([path, *map(str, box), points, str(label), f"{affect[0]:.6g}", f"{affect[1]:.6g}"])


def write(stage: Stage, counts: Mapping[str, int], run: RunSamples) -> int:
    jobs, splits, seen = [], split_blocks(counts), dict.fromkeys(counts, 0)
    for index, split in enumerate(splits):
        local = seen[split]
        seen[split] += 1
        turn = local // NON_EMOTION_EVERY
        forced = NONE + turn % 3 if local % NON_EMOTION_EVERY == NON_EMOTION_EVERY - 1 else None
        jobs.append((index, forced))
    rows = run(_sample, jobs)
    for split in counts:
        save_text(stage.root / "Manually_Annotated_file_lists" / f"{split}.csv",
                  [HEADER, *(row for s, row in zip(splits, rows) if s == split)])
    return len(jobs)


WRITER = DatasetWriter(
    key="affectnet", folder="AffectNet", number=10,
    counts={"small": {"training": 40, "validation": 24},
            "medium": {"training": 560, "validation": 160}},
    write=write,
)
