"""`farl-bench run` never reuses what it should not: edited factory code is a new cell and a cache
miss, `--force` computes features again, and bytes changed on disk are caught by the checksums."""
from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from farl_bench.engine.cache import FeatureStore

FACTORY = textwrap.dedent("""
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 6, 4, stride=4)

        def forward(self, x):
            return torch.relu(self.conv(x)) * SCALE

    SCALE = 1.0

    def build():
        return Net()
""")

FAST = ("--set", "input_size=16", "--set", "protocols.linear.epochs=2", "--set", "protocols.linear.lrs=[0.01]",
        "--set", "protocols.linear.weight_decays=[0.0]", "--bootstrap", "0")


@pytest.fixture
def factory(tmp_path, monkeypatch):
    """(spec, source file) of a py: factory written in tmp_path; dropped from sys.modules after."""
    name = f"cache_net_{tmp_path.name.replace('-', '_')}"
    source = tmp_path / "code" / f"{name}.py"
    source.parent.mkdir()
    source.write_text(FACTORY)
    monkeypatch.syspath_prepend(str(source.parent))
    yield f"py:{name}:build", source
    sys.modules.pop(name, None)


def records(results: Path) -> list[dict]:
    return [json.loads(line) for line in (results / "runs.jsonl").read_text().splitlines()]


def feature_ids(cache: Path) -> dict[str, str]:
    """{entry key: entry id} of the stored features."""
    return {e.key: e.meta["id"] for e in FeatureStore(cache).entries() if e.meta["kind"] == "features"}


def test_edited_factory_code_is_a_new_cell_and_a_cache_miss_and_force_computes_again(
        cli, celeba_root, tmp_path, factory):
    spec, source = factory
    run = ("run", "-b", spec, "-t", "celeba", "--data-root", celeba_root, "--results", tmp_path / "results",
           "--cache-dir", tmp_path / "cache", *FAST)
    code, _, err = cli(*run)
    assert code == 0, err
    first = feature_ids(tmp_path / "cache")
    assert len(first) == 3  # train, val, test

    sys.modules.pop(spec[3:].split(":")[0])  # the next run imports the code as it is on disk
    source.write_text(FACTORY.replace("SCALE = 1.0", "SCALE = 3.0"))  # same weights, other features
    code, _, err = cli(*run)
    assert code == 0, err
    made = records(tmp_path / "results")
    assert len(made) == 2 and made[0]["key"] != made[1]["key"]  # not skipped as already recorded
    assert made[0]["backbone_fingerprint"] != made[1]["backbone_fingerprint"]
    second = feature_ids(tmp_path / "cache")
    assert len(second) == 6 and set(first) < set(second)  # three misses, the old entries untouched

    code, _, err = cli(*run)  # nothing changed: skipped, and no feature computed
    assert code == 0 and len(records(tmp_path / "results")) == 2 and feature_ids(tmp_path / "cache") == second

    code, _, err = cli(*run, "--force")
    assert code == 0, err
    forced = feature_ids(tmp_path / "cache")
    new = {k: forced[k] for k in set(second) - set(first)}
    assert set(forced) == set(second) and all(forced[k] != second[k] for k in new)  # rewritten in place
    assert all(forced[k] == second[k] for k in first)  # the other code's entries are not this run's
    made = records(tmp_path / "results")
    assert len(made) == 3 and made[2]["key"] == made[1]["key"] and made[2]["metrics"] == made[1]["metrics"]


def test_a_byte_changed_on_disk_is_a_warning_and_the_numbers_of_a_fresh_run(cli, celeba_root, tmp_path):
    run = ("run", "-b", "pixels?grid=2", "-t", "celeba", "--data-root", celeba_root, "--cache-dir",
           tmp_path / "cache", *FAST)
    code, _, err = cli(*run, "--results", tmp_path / "fresh")
    assert code == 0, err
    entry = next(e for e in FeatureStore(tmp_path / "cache").entries()
                 if e.meta["kind"] == "features" and e.meta["split"] == "test")
    path = entry.path / "pooled.npy"
    before = np.load(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2 | 1] ^= 0x40  # the high byte of an fp16 value: its exponent grows by 16 (x65536)
    path.write_bytes(data)
    assert np.abs(np.load(path).astype(np.float32) - before).max() > 1000  # the size is unchanged, the value not
    # read unchecked, this one value moves the test acc_mean from 78.33 to 75.00 (measured once)

    code, _, err = cli(*run, "--results", tmp_path / "again")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "does not match its checksum" in line]
    assert len(warnings) == 1 and entry.key in warnings[0] and "computing it again" in warnings[0]
    assert records(tmp_path / "again")[0]["metrics"] == records(tmp_path / "fresh")[0]["metrics"]
    np.testing.assert_array_equal(np.load(path), before)  # stored again, as it was
