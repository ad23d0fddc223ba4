"""RAF-DB (basic): `basic/EmoLabel/list_patition_label.txt` (sic; `train_00001.jpg 5`, train lines
then test lines; labels 1..7 = surprise, fear, disgust, happiness, sadness, anger, neutral) and
aligned 100 x 100 images `basic/Image/aligned/<name>_aligned.jpg`. As in the release, train names
have five digits (`train_00001`) and test names four (`test_0001`). No contempt faces."""
from __future__ import annotations

from collections.abc import Mapping

from .common import DatasetWriter, RunSamples, Stage, draw_face, save_image, save_text, split_blocks

SIZE = 100  # px, square
ZOOM = 1.7  # the release's aligned faces fill the frame, brow to chin
LABELS = {"surprise": 1, "fear": 2, "disgust": 3, "happiness": 4, "sadness": 5, "anger": 6, "neutral": 7}
DIGITS = {"train": 5, "test": 4}


def _sample(stage: Stage, job: tuple[int, str]) -> str:
    index, name = job
    rendered = draw_face(stage.rng(index), SIZE, accept=lambda f: f.expression in LABELS, zoom=ZOOM)
    save_image(stage.root / "basic" / "Image" / "aligned" / f"{name}_aligned.jpg", rendered.image)
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
