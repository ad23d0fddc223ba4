"""Files that ship in the wheel but live elsewhere in the repository: setup.py maps tasks/ to
farl_bench/builtin_tasks/ and results/baselines/ to farl_bench/baselines/ at build time. Installed
from a wheel they are inside the package; in a checkout or an editable install, read in place."""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def packaged(in_package: str, in_repository: str) -> Path:
    """The folder `in_package` (under farl_bench/) of an installed wheel, else `in_repository`
    (under the repository root)."""
    installed = _PACKAGE / in_package
    return installed if installed.is_dir() else _PACKAGE.parent / in_repository
