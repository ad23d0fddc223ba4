"""Small helpers shared by readers: locating annotation files, reading CSV tables, listing image
files, reporting malformed lines and skipped samples."""
from __future__ import annotations

import csv
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Callable, TypeVar

from farl_bench.errors import UserError

log = logging.getLogger(__name__)
N = TypeVar("N", int, float)

#: Suffixes (lower case) of the image files readers list from folders.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def find_file(root: Path, candidates: list[str], what: str) -> Path:
    """The first of `candidates` (paths relative to root) that exists, else a UserError listing them."""
    for rel in candidates:
        if (root / rel).is_file():
            return root / rel
    tried = ", ".join(str(root / rel) for rel in candidates)
    raise UserError(f"{what} not found; looked for {tried}. Check --data-root (or --root NAME=DIR).")


def malformed(path: Path, line_no: int, expected: str, line: str) -> UserError:
    return UserError(f"{path}:{line_no}: expected {expected}, got {line.strip()[:80]!r}")


def read_csv(path: Path, required: Sequence[str],
             headerless: Sequence[str] | None = None) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a comma-separated file as (line number, column -> text stripped of spaces).

    The first line is the header; it must hold every `required` column. `headerless` names the
    columns of a file released without a header: when the first line lacks the required names
    but has that many fields, it is read as data with those columns. A missing file, a header
    without a required column and a row with another number of fields are UserErrors naming the
    file (and line).
    """
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{path} is missing: check the dataset tree (farl-bench datasets verify)") from None
    with handle:
        reader = csv.reader(handle)
        first = [cell.strip() for cell in next(reader, [])]
        pending: list[list[str]] = []
        if headerless is not None and not set(required) <= set(first) and len(first) == len(headerless):
            header, pending = list(headerless), [first]
            log.info("%s has no header line; reading it with the columns %s", path, ",".join(headerless))
        else:
            header = first
        missing = [c for c in required if c not in header]
        if missing:
            raise UserError(f"{path}:1: expected a header with the columns {', '.join(required)}; "
                            f"missing {', '.join(missing)} (found {','.join(header)[:120]!r})")
        for row in pending:
            yield 1, dict(zip(header, row))
        for row in reader:
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                expected = f"{len(header)} comma-separated fields ({','.join(header)[:60]})"
                raise malformed(path, reader.line_num, expected, ",".join(row))
            yield reader.line_num, {c: cell.strip() for c, cell in zip(header, row)}


def parse_number(path: Path, line_no: int, column: str, text: str, kind: Callable[[str], N] = float) -> N:
    """`text` of `column` as an int or float; anything else is a UserError naming file, line and column."""
    try:
        return kind(text)
    except ValueError:
        raise malformed(path, line_no, f"a{'n integer' if kind is int else ' number'} in column {column!r}",
                        text) from None


def image_files(folder: Path) -> list[Path]:
    """Image files (IMAGE_SUFFIXES, any case) under `folder`, recursively, sorted; a missing folder is a UserError."""
    if not folder.is_dir():
        raise UserError(f"{folder} is missing or not a folder: check --data-root (or --root NAME=DIR)")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def warn_skipped(source: Path | str, skipped: Mapping[str, int]) -> dict[str, int]:
    """Log one warning per reason with its count; returns the non-zero counts for meta["skipped"]."""
    counts = {reason: n for reason, n in skipped.items() if n}
    for reason, n in counts.items():
        log.warning("%s: skipped %d sample(s): %s", source, n, reason)
    return counts
