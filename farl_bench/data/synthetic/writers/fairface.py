"""FairFace: `fairface_label_{train,val}.csv` (`file,age,gender,race,service_test`, file like
`train/1.jpg`, numbered from 1 per split) and each face in both padding variants,
`fairface-img-margin025-trainval/` (224 x 224, tight) and `fairface-img-margin125-trainval/`
(448 x 448, wide), each with `train/` and `val/`. The renderer's five races become FairFace's seven:
White, Black and Indian stay, Asian splits into East and Southeast Asian, Others into Latino_Hispanic
and Middle Eastern, and a fifth of White faces are labelled Middle Eastern."""
from __future__ import annotations

from collections.abc import Mapping

from .. import face
from .common import DatasetWriter, RunSamples, Stage, save_image, save_text, split_blocks

#: Padding -> (image folder, side in px, renderer zoom).
VARIANTS = {0.25: ("fairface-img-margin025-trainval", 224, 1.25), 1.25: ("fairface-img-margin125-trainval", 448, 0.6)}
#: Renderer race (0..4 White, Black, Asian, Indian, Others) -> FairFace races and their odds.
RACES = {0: (("White", "Middle Eastern"), (0.8, 0.2)), 1: (("Black",), (1.0,)),
         2: (("East Asian", "Southeast Asian"), (0.6, 0.4)), 3: (("Indian",), (1.0,)),
         4: (("Latino_Hispanic", "Middle Eastern"), (0.6, 0.4))}
GENDERS = ("Male", "Female")  # renderer gender 0 / 1
AGE_BINS = ((3, "0-2"), (10, "3-9"), (20, "10-19"), (30, "20-29"), (40, "30-39"), (50, "40-49"),
            (60, "50-59"), (70, "60-69"), (float("inf"), "more than 70"))
HEADER = "file,age,gender,race,service_test"


def age_bin(age: float) -> str:
    """FairFace's age bin of a whole-year age."""
    years = int(age)
    return next(name for upper, name in AGE_BINS if years < upper)


def _sample(stage: Stage, job: tuple[int, str, int]) -> str:
    index, split, number = job
    rng = stage.rng(index)
    params = face.sample_params(rng)
    for folder, side, zoom in VARIANTS.values():
        save_image(stage.root / folder / split / f"{number}.jpg", face.render(params, side, zoom=zoom).image)
    names, odds = RACES[params.race]
    race = names[int(rng.choice(len(names), p=odds))]
    service_test = bool(rng.random() < 0.5)
    return f"{split}/{number}.jpg,{age_bin(params.age)},{GENDERS[params.gender]},{race},{service_test}"


def write(stage: Stage, counts: Mapping[str, int], run: RunSamples) -> int:
    jobs, seen = [], dict.fromkeys(counts, 0)
    for index, split in enumerate(split_blocks(counts)):
        seen[split] += 1
        jobs.append((index, split, seen[split]))
    rows = run(_sample, jobs)
    for split in counts:
        save_text(stage.root / f"fairface_label_{split}.csv",
                  [HEADER, *(row for (_, s, _), row in zip(jobs, rows) if s == split)])
    return len(jobs) * len(VARIANTS)


WRITER = DatasetWriter(
    key="fairface", folder="FairFace", number=12,
    counts={"small": {"train": 160, "val": 60}, "medium": {"train": 400, "val": 150}},
    write=write,
)
