"""WFLW: `WFLW_images/<event>/<name>.jpg` (some images hold two faces side by side) and
`WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_{train,test}.txt`, one line
per face: 196 numbers x0 y0 .. x97 y97 (0-based pixels), box x_min y_min x_max y_max (integers),
6 flags pose expression illumination make-up occlusion blur, and the image path under
`WFLW_images/`. The first six test faces carry one flag each, so every test subset is non-empty."""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .common import DatasetWriter, RunSamples, Stage, draw_face, save_image, save_text

FLAGS = ("pose", "expression", "illumination", "makeup", "occlusion", "blur")  # file column order
HEIGHT = (180, 260)  # px, inclusive range of the image height
FACE_WIDTH = (160, 240)  # px, inclusive range of each face's share of the width
TWO_FACES_EVERY = 4  # one image in four holds two faces (when the split has two left)
#: WIDER FACE event folders and the file-name stems used in them (the last one's dashes are real).
EVENTS = (
    ("0--Parade", "0_Parade_marchingband_1"),
    ("2--Demonstration", "2_Demonstration_Protesters_2"),
    ("4--Dancing", "4_Dancing_Dancing_4"),
    ("9--Press_Conference", "9_Press_Conference_Press_Conference_9"),
    ("12--Group", "12_Group_Group_12"),
    ("19--Couple", "19_Couple_Couple_19"),
    ("37--Soccer", "37_Soccer_soccer_ball_37"),
    ("51--Dresses", "51_Dresses_wearingdress_51"),
    ("59--people--driving--car", "59_peopledrivingcar_peopledrivingcar_59"),
    ("61--Street_Battle", "61_Street_Battle_streetfight_61"),
)
LIST_DIR = "WFLW_annotations/list_98pt_rect_attr_train_test"


def _layout(counts: Mapping[str, int]) -> list[tuple[str, list[str | None]]]:
    """Images in order: (split, flag each face must carry or None), face counts per split exact."""
    images = []
    for split, left in counts.items():
        faces = 0
        while left > 0:
            n = 2 if len(images) % TWO_FACES_EVERY == 1 and left >= 2 else 1
            forced = [FLAGS[k] if split == "test" and k < len(FLAGS) else None for k in range(faces, faces + n)]
            images.append((split, forced))
            faces, left = faces + n, left - n
    return images


def _line(points: np.ndarray, box: tuple[int, ...], flags: dict[str, bool], path: str) -> str:
    numbers = [f"{v:.6f}" for v in points.reshape(-1)] + [str(v) for v in box]
    return " ".join(numbers + [str(int(flags[k])) for k in FLAGS] + [path])


def _sample(stage: Stage, job: tuple[int, str, list[str | None]]) -> list[str]:
    index, path, required = job
    rng = stage.rng(index)
    height = int(rng.integers(HEIGHT[0], HEIGHT[1] + 1))
    lines, tiles, offset = [], [], 0
    for flag in required:
        width = int(rng.integers(FACE_WIDTH[0], FACE_WIDTH[1] + 1))
        rendered = draw_face(rng, width, height, accept=(lambda f, k=flag: f.flags[k]) if flag else None)
        points = rendered.landmarks["98"] + [offset, 0.0]
        x0, y0, x1, y1 = rendered.bbox
        box = (max(0, math.floor(x0)) + offset, max(0, math.floor(y0)),
               min(width - 1, math.ceil(x1)) + offset, min(height - 1, math.ceil(y1)))
        lines.append(_line(points, box, rendered.flags, path))
        tiles.append(rendered.image)
        offset += width
    save_image(stage.root / "WFLW_images" / path, np.concatenate(tiles, axis=1))
    return lines


def write(stage: Stage, counts: Mapping[str, int], run: RunSamples) -> int:
    images = _layout(counts)
    jobs = []
    for index, (_, required) in enumerate(images):
        event, stem = EVENTS[index % len(EVENTS)]
        jobs.append((index, f"{event}/{stem}_{index}.jpg", required))
    results = run(_sample, jobs)
    for split in counts:
        lines = [line for (s, _), face_lines in zip(images, results) if s == split for line in face_lines]
        save_text(stage.root / LIST_DIR / f"list_98pt_rect_attr_{split}.txt", lines)
    return len(images)


WRITER = DatasetWriter(
    key="wflw", folder="WFLW", number=4,
    counts={"small": {"train": 24, "test": 16}, "medium": {"train": 400, "test": 120}},
    write=write,
)
