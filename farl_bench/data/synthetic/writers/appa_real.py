"""APPA-REAL: face crops `{train,valid,test}/<6 digits>.jpg_face.jpg` (160..260 px wide and high)
and `gt_avg_{train,valid,test}.csv` (`file_name,num_ratings,apparent_age_avg,apparent_age_std,
real_age`, file_name like `000000.jpg`). Files are numbered across splits in order, as the release.
Apparent age = true age + a per-sample rater bias (normal, APPARENT_BIAS_STD years); its spread is
the face's age_std; real_age is the true age in whole years. Only the `_face.jpg` crops are
written, not the release's uncropped `<6 digits>.jpg` images. `allcategories_{train,valid,test}.csv`
(`file,gender,race,makeup,time,happiness`) give the gender (male / female) and race (caucasian,
afroamerican, asian: the renderer's Indian faces count as asian, Others as caucasian); makeup, time
and happiness are constant fillers (nomakeup, modernphoto, neutral)."""
from __future__ import annotations

from collections.abc import Mapping

from .common import DatasetWriter, RunSamples, Stage, draw_face, save_image, save_text, split_blocks

SIZE = (160, 260)  # px, inclusive range of width and of height
APPARENT_BIAS_STD = 3.0  # years
RATINGS = (30, 60)  # inclusive range of the number of raters
HEADER = "file_name,num_ratings,apparent_age_avg,apparent_age_std,real_age"
CATEGORY_HEADER = "file,gender,race,makeup,time,happiness"
GENDERS = ("male", "female")  # renderer gender 0 / 1
RACES = ("caucasian", "afroamerican", "asian", "asian", "caucasian")  # renderer race 0..4


def _sample(stage: Stage, job: tuple[int, str]) -> tuple[str, str]:
    index, split = job
    rng = stage.rng(index)
    width, height = (int(v) for v in rng.integers(SIZE[0], SIZE[1] + 1, size=2))
    ratings = int(rng.integers(RATINGS[0], RATINGS[1] + 1))
    bias = float(rng.normal(0.0, APPARENT_BIAS_STD))
    rendered = draw_face(rng, width, height)
    save_image(stage.root / split / f"{index:06d}.jpg_face.jpg", rendered.image)
    apparent = max(1.0, rendered.age + bias)
    real_age = max(1, round(rendered.age))
    categories = f"{index:06d}.jpg,{GENDERS[rendered.gender]},{RACES[rendered.race]},nomakeup,modernphoto,neutral"
    return f"{index:06d}.jpg,{ratings},{apparent:.6f},{rendered.age_std:.6f},{real_age}", categories


def write(stage: Stage, counts: Mapping[str, int], run: RunSamples) -> int:
    jobs = list(enumerate(split_blocks(counts)))
    rows = run(_sample, jobs)
    for split in counts:
        save_text(stage.root / f"gt_avg_{split}.csv",
                  [HEADER, *(row for (_, s), (row, _) in zip(jobs, rows) if s == split)])
        save_text(stage.root / f"allcategories_{split}.csv",
                  [CATEGORY_HEADER, *(row for (_, s), (_, row) in zip(jobs, rows) if s == split)])
    return len(jobs)


WRITER = DatasetWriter(
    key="appa_real", folder="APPA-REAL", number=8,
    counts={"small": {"train": 240, "valid": 80, "test": 80},
            "medium": {"train": 240, "valid": 90, "test": 120}},
    write=write,
)
