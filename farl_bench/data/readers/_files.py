"""Small helpers shared by readers: locating annotation files and reporting malformed lines."""
from __future__ import annotations

from pathlib import Path

from farl_bench.errors import UserError


def find_file(root: Path, candidates: list[str], what: str) -> Path:
    """The first of `candidates` (paths relative to root) that exists, else a UserError listing them."""
    for rel in candidates:
        if (root / rel).is_file():
            return root / rel
    tried = ", ".join(str(root / rel) for rel in candidates)
    raise UserError(f"{what} not found; looked for {tried}. Check --data-root (or --root NAME=DIR).")


def malformed(path: Path, line_no: int, expected: str, line: str) -> UserError:
    return UserError(f"{path}:{line_no}: expected {expected}, got {line.strip()[:80]!r}")
