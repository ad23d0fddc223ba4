"""`datasets verify`: is a dataset tree complete and sound? Annotations, files, decodability, mask sizes
(every face, from the file headers; readers with label maps give `mask_size_error`), split sizes."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS

SYNTHETIC_MARKER = ".synthetic.json"


@dataclass
class Check:
    name: str
    ok: bool | None  # None: informational
    detail: str


@dataclass
class VerifyReport:
    dataset: str
    root: Path
    checks: list[Check] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)
    undecodable: list[str] = field(default_factory=list)
    wrong_size: list[str] = field(default_factory=list)  # masks whose size does not fit their image

    @property
    def ok(self) -> bool:
        return all(c.ok is not False for c in self.checks)


def _files_of(record: FaceRecord) -> list[Path]:
    return [p for p in (record.image, record.mask) if isinstance(p, Path)]


def decode_error(path: Path) -> str | None:
    """None when the image file decodes fully, else "<path>: <reason>"."""
    try:
        with Image.open(path) as img:
            img.load()
    except Exception as err:  # PIL raises many types for broken files
        return f"{path}: {err}"
    return None


def _sample(records: list[FaceRecord], n: int) -> list[FaceRecord]:
    """A fixed sample (by id hash), so repeated checks look at the same files."""
    return sorted(records, key=lambda r: hashlib.sha256(r.id.encode()).hexdigest())[:n]


def verify(name: str, root: Path, full: bool = False, sample: int = 64) -> VerifyReport:
    """Check the tree at `root` for dataset `name`; decode `sample` images per split (all with full)."""
    reader_cls = DATASETS.get(name)
    report = VerifyReport(name, root)
    if not root.is_dir():
        report.checks.append(Check("folder", False, f"{root} does not exist"))
        return report
    try:
        data: DatasetSplits = reader_cls().read(root)
    except UserError as err:
        report.checks.append(Check("annotations", False, str(err)))
        return report
    report.checks.append(Check("annotations", True, "parsed"))
    for split, records in data.splits.items():
        missing = [p for r in records for p in _files_of(r) if not p.exists()]
        report.missing += missing
        report.checks.append(Check(f"{split}: files", not missing,
                                   f"{len(records)} records, {len(missing)} missing file(s)"))
        checked = records if full else _sample([r for r in records if r.image.exists()], sample)
        bad = [msg for r in checked for p in _files_of(r) if p.exists() and (msg := decode_error(p))]
        report.undecodable += bad
        report.checks.append(Check(f"{split}: decode", not bad, f"{len(checked)} checked, {len(bad)} broken"))
        size_error = getattr(reader_cls, "mask_size_error", None)
        if size_error is not None:
            wrong = [msg for r in records if r.mask is not None and (msg := size_error(r))]
            report.wrong_size += wrong
            report.checks.append(Check(f"{split}: mask sizes", not wrong, f"{len(records)} checked, "
                                       f"{len(wrong)} of another size than their image" +
                                       (f" (first: {wrong[0]})" if wrong else "")))
    _check_sizes(report, data, getattr(reader_cls, "expected_sizes", {}))
    if data.meta.get("skipped"):
        report.checks.append(Check("skipped samples", None, str(data.meta["skipped"])))
    return report


def _check_sizes(report: VerifyReport, data: DatasetSplits, expected: dict[str, int]) -> None:
    synthetic = (report.root / SYNTHETIC_MARKER).exists()
    subsets = {name: len(idx) for name, idx in data.test_subsets().items() if name != "test"}
    for key, want in expected.items():
        split, _, subset = key.partition(":")
        have = subsets.get(subset, 0) if subset else len(data.splits.get(split, []))
        if synthetic:
            report.checks.append(Check(f"size {key}", None, f"{have} (synthetic tree; the real one has {want})"))
        else:
            report.checks.append(Check(f"size {key}", have == want, f"{have}, expected {want}"))
