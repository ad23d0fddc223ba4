"""RAF-DB (basic): `basic/EmoLabel/list_patition_label.txt` (sic; `train_00001.jpg 5`, train lines
then test lines; labels 1..7 = surprise, fear, disgust, happiness, sadness, anger, neutral) and
aligned 100 x 100 images `basic/Image/aligned/<name>_aligned.jpg`. As in the release, train names
have five digits (`train_00001`) and test names four (`test_0001`). No contempt faces.

The manual annotation `basic/Annotation/manual/<name>_manu_attri.txt`: five `x<TAB>y` lines (eye
centres, nose tip, mouth corners; here in the aligned image, the release's are in the original),
then the gender (0 male, 1 female, 2 unsure: the hardest faces), race (0 Caucasian, 1
African-American, 2 Asian: the renderer's Indian faces count as Asian, Others as Caucasian) and age
range codes (0: 0-3, 1: 4-19, 2: 20-39, 3: 40-69, 4: 70+), one a line."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .common import DatasetWriter, RunSamples, Stage, draw_face, save_image, save_text, split_blocks

SIZE = 100  # px, square
ZOOM = 1.7  # the release's aligned faces fill the frame, brow to chin
LABELS = {"surprise": 1, "fear": 2, "disgust": 3, "happiness": 4, "sadness": 5, "anger": 6, "neutral": 7}
DIGITS = {"train": 5, "test": 4}
RACE_CODES = (0, 1, 2, 2, 0)  # renderer race 0..4 (White, Black, Asian, Indian, Others) -> RAF-DB code
AGE_STARTS = (4, 20, 40, 70)  # an age below AGE_STARTS[i] has code i; 70 and over: 4
UNSURE_DIFFICULTY = 0.85  # faces harder than this have gender "unsure"
#: 68-point indices of the five manual landmarks: eye centres, nose tip, mouth corners.
FIVE_POINTS = (tuple(range(36, 42)), tuple(range(42, 48)), (30,), (48,), (54,))


def manual_annotation(rendered) -> list[str]:
    """The lines of `<name>_manu_attri.txt` for one rendered face."""
    points = [rendered.landmarks["68"][list(idx)].mean(axis=0) for idx in FIVE_POINTS]
    gender = 2 if rendered.difficulty > UNSURE_DIFFICULTY else rendered.gender
    age = int(np.searchsorted(AGE_STARTS, rendered.age, side="right"))
    return [*(f"{x:.2f}\t{y:.2f}" for x, y in points), str(gender), str(RACE_CODES[rendered.race]), str(age)]


def _sample(stage: Stage, job: tuple[int, str]) -> str:
    index, name = job
    rendered = draw_face(stage.rng(index), SIZE, accept=lambda f: f.expression in LABELS, zoom=ZOOM)
    save_image(stage.root / "basic" / "Image" / "aligned" / f"{name}_aligned.jpg", rendered.image)
    save_text(stage.root / "basic" / "Annotation" / "manual" / f"{name}_manu_attri.txt", manual_annotation(rendered))
    return f"{name}.jpg {LABELS[rendered.expression]}"


def write(stage: Stage, counts: Mapping[str, int], run: RunSamples) -> int:
    jobs, seen = [], dict.fromkeys(counts, 0)
    for index, split in enumerate(split_blocks(counts)):
        seen[split] += 1
        jobs.append((index, f"{split}_{seen[split]:0{DIGITS[split]}d}"))
    lines = run(_sample, jobs)
    save_text(stage.root / "basic" / "EmoLabel" / "list_patition_label.txt", lines)
    return len(jobs)


WRITER = DatasetWriter(
    key="rafdb", folder="RAF-DB", number=9,
    counts={"small": {"train": 480, "test": 240}, "medium": {"train": 1200, "test": 300}},
    write=write,
)
