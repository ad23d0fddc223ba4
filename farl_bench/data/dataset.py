"""A task's dataset read from disk: the reader its spec names, at the folder the user gave, with empty
splits refused and (on request) faces with unreadable files dropped."""
from __future__ import annotations

import logging
from pathlib import Path

from farl_bench.data.records import DatasetSplits
from farl_bench.data.verify import decode_error
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS
from farl_bench.tasks import TaskSpec, find_task_file

log = logging.getLogger(__name__)


def read_dataset(spec: TaskSpec, data_root: Path, dataset_roots: dict[str, Path] | None = None,
                 skip_bad: bool = False) -> tuple[DatasetSplits, Path]:
    """The splits of `spec`'s dataset and the folder they were read from: `dataset_roots[dataset]`
    when given, else `data_root / <the reader's folder>`. `skip_bad`: see `drop_unreadable`."""
    reader_cls = DATASETS.get(spec.dataset)
    root = Path((dataset_roots or {}).get(spec.dataset, Path(data_root) / reader_cls.folder))
    if not root.is_dir():
        raise UserError(f"dataset {spec.dataset!r}: folder {root} does not exist. Pass --data-root DIR "
                        f"(holding {reader_cls.folder}/) or --root {spec.dataset}=DIR")
    try:
        reader = reader_cls(**spec.reader)
    except TypeError as err:
        raise UserError(f"{find_task_file(spec.name)}: key 'reader': {err}") from None
    data = reader.read(root)
    if skip_bad:
        drop_unreadable(data)
    for split in ("train", "val", "test"):
        if not data.splits.get(split):
            raise UserError(f"dataset {spec.dataset!r} at {root}: the {split} split is empty; check the "
                            f"tree and its split lists (farl-bench datasets verify {spec.dataset})")
    return data, root


def drop_unreadable(data: DatasetSplits) -> None:
    """Decode every image and mask; drop records with a missing or broken file, counting them in
    meta["skipped"]["unreadable file"] (with a warning naming the first few)."""
    bad: list[str] = []
    for split, records in data.splits.items():
        kept = [r for r in records if not any(p is not None and (not p.exists() or decode_error(p))
                                               for p in (r.image, r.mask))]
        bad += [r.id for r in records if r not in kept]
        data.splits[split] = kept
    if bad:
        log.warning("--skip-bad: %d face(s) with a missing or unreadable file skipped (first: %s)",
                    len(bad), ", ".join(bad[:5]))
        data.meta.setdefault("skipped", {})["unreadable file"] = len(bad)
