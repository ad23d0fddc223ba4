"""UTKFace (aligned and cropped): `<age>_<gender>_<race>_<datetime>.jpg.chip.jpg`, 200 x 200, all in
one folder, no official split. Age in whole years 1..116, gender 0 male / 1 female, race 0..4,
datetime `yyyymmddHHMMSSfff` (unique, increasing with the index). As in the release, a couple of
files lack the race field (`39_1_20170116174525125.jpg.chip.jpg`)."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from .common import DatasetWriter, RunSamples, Stage, draw_face, save_image

SIZE = 200  # px, square
START = datetime(2016, 12, 19)
#: Indices whose file name drops the race field (the release has three such files).
MISSING_RACE = (1, 5)


def _sample(stage: Stage, index: int) -> None:
    rng = stage.rng(index)
    # One-minute slots per index keep the timestamps unique.
    stamp = START + timedelta(minutes=index, milliseconds=int(rng.integers(60_000)))
    rendered = draw_face(rng, SIZE)
    age = min(116, max(1, round(rendered.age)))
    fields = [str(age), str(rendered.gender)]
    if index not in MISSING_RACE:
        fields.append(str(rendered.race))
    fields.append(stamp.strftime("%Y%m%d%H%M%S") + f"{stamp.microsecond // 1000:03d}")
    save_image(stage.root / ("_".join(fields) + ".jpg.chip.jpg"), rendered.image)


def write(stage: Stage, counts: Mapping[str, int], run: RunSamples) -> int:
    n = counts["all"]
    run(_sample, list(range(n)))
    return n


WRITER = DatasetWriter(
    key="utkface", folder="UTKFace", number=7,
    counts={"small": {"all": 40}, "medium": {"all": 400}},
    write=write,
)
