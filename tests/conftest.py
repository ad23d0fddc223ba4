import logging
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # tests/helpers.py
torch.set_num_threads(2)

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


@pytest.fixture(autouse=True)
def feature_cache_in_tmp(tmp_path: Path, monkeypatch) -> Path:
    """Every test gets its own feature cache folder, never the user's ~/.cache/farl_bench."""
    monkeypatch.setenv("FARL_BENCH_CACHE", str(tmp_path / "feature-cache"))
    return tmp_path / "feature-cache"


@pytest.fixture
def celeba_root(tmp_path: Path) -> Path:
    """A small hand-made CelebA tree with visibly drawn attributes; returns the data root."""
    from helpers import write_celeba

    write_celeba(tmp_path / "data")
    return tmp_path / "data"


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run `farl-bench ARGS` in-process; returns (exit code, stdout, stderr)."""
    from farl_bench.cli import main

    def invoke(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["farl-bench", *map(str, args)])
        logging.getLogger().handlers.clear()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """All synthetic datasets at the `small` scale, generated once per test session."""
    from farl_bench.data.synthetic import generate

    out = tmp_path_factory.mktemp("synthetic")
    generate(out, "small", 0)
    return out


@pytest.fixture(scope="session")
def pretraining_celeba(tmp_path_factory) -> Path:
    """A separate synthetic CelebA (medium scale, generator seed 1: 3,000 training faces, none of them
    in `synthetic_root`) for the networks that tests pretrain."""
    from farl_bench.data.synthetic import generate

    out = tmp_path_factory.mktemp("pretraining")
    generate(out, "medium", 1, datasets=["celeba"])
    return out
