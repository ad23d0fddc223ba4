"""Imports flow one way: data/ (records, readers, samples, splits, verify) never imports the backbones,
the families or the run loop, which all build on it; scoring and the splits export never import the
run loop. Checked in a fresh interpreter, so no earlier test's imports hide a cycle."""
from __future__ import annotations

import subprocess
import sys

import pytest


def modules_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(m for m in sys.modules if m.startswith('farl_bench')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return set(done.stdout.split())


def test_data_with_every_reader_loaded_imports_no_backbone_family_or_engine_module():
    loaded = modules_after("import farl_bench.data.samples, farl_bench.data.dataset, farl_bench.data.verify, "
                           "farl_bench.data.augment\nfrom farl_bench.registry import DATASETS\nDATASETS.names()")
    assert {"farl_bench.data.samples", "farl_bench.data.readers.lapa"} <= loaded  # the check saw them
    assert not [m for m in loaded if m.startswith(("farl_bench.backbones", "farl_bench.families",
                                                   "farl_bench.engine"))]


@pytest.mark.parametrize("module", ["farl_bench.scoring", "farl_bench.engine.export"])
def test_scoring_and_the_splits_export_do_not_import_the_run_loop(module):
    assert "farl_bench.engine.runner" not in modules_after(f"import {module}")
