"""Every ```python block of README.md runs as written.

Convention for README blocks: each block runs on its own (it imports what it uses), in a folder that
holds `datasets/synthetic` (the small synthetic datasets: `farl-bench datasets synth --scale small`)
and nothing else; it may write there (e.g. `results/`). Blocks run in-process, so the package is
imported once for all of them."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.DOTALL | re.MULTILINE)


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, synthetic_root, tmp_path, monkeypatch, capsys):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "synthetic").symlink_to(synthetic_root, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FARL_BENCH_DATA", raising=False)
    exec(compile(BLOCKS[index], f"README.md python block {index + 1}", "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out.strip()  # every block shows what it made
