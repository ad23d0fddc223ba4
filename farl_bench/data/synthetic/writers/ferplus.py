"""FER2013 + FERPlus: `fer2013.csv` (`emotion,pixels,Usage`; 48 x 48 grey pixels as space-separated
text, row-major; Usage Training / PublicTest / PrivateTest in that order; emotion 0 angry 1 disgust
2 fear 3 happy 4 sad 5 surprise 6 neutral) and `fer2013new.csv` (`Usage,Image name,neutral,happiness,
surprise,sadness,anger,disgust,fear,contempt,unknown,NF`, same rows in the same order, 10 votes each,
most on the drawn expression). Every NOT_FACE_EVERY-th row of a split is a not-a-face row, as the
release has: smooth noise pixels, a random FER2013 emotion, all 10 votes on NF and an empty Image
name. Other rows are named `fer<row:07d>.png` by their 0-based row (the release's numbering has gaps,
so readers should pair the two files by row order). No contempt faces are drawn."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from PIL import Image

from .common import DatasetWriter, RunSamples, Stage, draw_face, save_text, split_blocks

SIZE = 48  # px, square, grey
FER_EMOTIONS = {"anger": 0, "disgust": 1, "fear": 2, "happiness": 3, "sadness": 4, "surprise": 5, "neutral": 6}
VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
#: Relative chance of a stray vote going to each column (the drawn expression's is excluded).
STRAY_WEIGHTS = np.array([1, 1, 1, 1, 1, 1, 1, 0.5, 1, 0.1])
VOTES = 10
NOT_FACE_EVERY = 40
FER_HEADER = "emotion,pixels,Usage"
PLUS_HEADER = "Usage,Image name," + ",".join(VOTE_COLUMNS)


def _votes(rng: np.random.Generator, column: int) -> np.ndarray:
    """10 votes: 5..10 on `column`, the rest spread over the other columns."""
    votes = np.zeros(len(VOTE_COLUMNS), dtype=np.int64)
    votes[column] = int(rng.integers(5, VOTES + 1))
    weights = STRAY_WEIGHTS.copy()
    weights[column] = 0
    votes += rng.multinomial(VOTES - votes[column], weights / weights.sum())
    return votes


def _sample(stage: Stage, job: tuple[int, str, bool]) -> tuple[str, str]:
    index, usage, not_face = job
    rng = stage.rng(index)
    if not_face:
        emotion = int(rng.integers(len(FER_EMOTIONS)))
        coarse = Image.fromarray(rng.integers(0, 256, size=(4, 4), dtype=np.uint8))
        grey = np.asarray(coarse.resize((SIZE, SIZE), Image.BILINEAR))
        votes, name = np.eye(len(VOTE_COLUMNS), dtype=np.int64)[-1] * VOTES, ""
    else:
        rendered = draw_face(rng, SIZE, accept=lambda f: f.expression in FER_EMOTIONS)
        emotion = FER_EMOTIONS[rendered.expression]
        grey = np.asarray(Image.fromarray(rendered.image).convert("L"))
        votes, name = _votes(rng, VOTE_COLUMNS.index(rendered.expression)), f"fer{index:07d}.png"
    pixels = " ".join(map(str, grey.reshape(-1).tolist()))
    return f"{emotion},{pixels},{usage}", ",".join([usage, name, *map(str, votes.tolist())])


def write(stage: Stage, counts: Mapping[str, int], run: RunSamples) -> int:
    jobs, seen = [], dict.fromkeys(counts, 0)
    for index, usage in enumerate(split_blocks(counts)):
        jobs.append((index, usage, seen[usage] % NOT_FACE_EVERY == NOT_FACE_EVERY // 2))
        seen[usage] += 1
    rows = run(_sample, jobs)
    save_text(stage.root / "fer2013.csv", [FER_HEADER, *(fer for fer, _ in rows)])
    save_text(stage.root / "fer2013new.csv", [PLUS_HEADER, *(plus for _, plus in rows)])
    return len(rows)


WRITER = DatasetWriter(
    key="ferplus", folder="FERPlus", number=11,
    counts={"small": {"Training": 36, "PublicTest": 6, "PrivateTest": 6},
            "medium": {"Training": 560, "PublicTest": 70, "PrivateTest": 70}},
    write=write,
)
