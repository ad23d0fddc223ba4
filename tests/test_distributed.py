"""`torchrun --nproc_per_node 2 -m farl_bench run`: DDP training, evaluation gathered across processes."""
import json
from pathlib import Path

import pytest
from helpers import cli_process, write_celeba

from farl_bench.engine import distributed
from farl_bench.families.base import ArrayScorer, Metric

TORCHRUN = ("-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "farl_bench")
# A ViT (layer norm only: no batch statistics that would differ per process), global batch 4 = 2 x 2.
ARGS = ("-b", "timm:vit_tiny_patch16_224", "-t", "celeba", "-p", "frozen,finetune", "--set", "input_size=32",
        "--set", "protocols.frozen.epochs=2", "--set", "protocols.frozen.batch_size=4",
        "--set", "protocols.finetune.epochs=2", "--set", "protocols.finetune.batch_size=4")


def records(results: Path) -> dict[str, dict]:
    return {r["key"]: r for r in map(json.loads, (results / "runs.jsonl").read_text().splitlines())}


def test_two_processes_give_the_metrics_of_one(tmp_path):
    write_celeba(tmp_path / "data", n=(16, 10, 10))  # 10 test faces: 5 per process
    one = cli_process("run", *ARGS, "--data-root", tmp_path / "data", "--results", tmp_path / "one",
                      stderr=tmp_path / "one.txt")
    two = cli_process("run", *ARGS, "--data-root", tmp_path / "data", "--results", tmp_path / "two",
                      stderr=tmp_path / "two.txt", program=TORCHRUN)
    assert one.wait() == 0, (tmp_path / "one.txt").read_text()
    assert two.wait() == 0, (tmp_path / "two.txt").read_text()
    single, ddp = records(tmp_path / "one"), records(tmp_path / "two")
    assert single.keys() == ddp.keys() and len(ddp) == 2  # one record per cell: only rank 0 writes
    for key, r in ddp.items():
        assert (r["processes"], single[key]["processes"]) == (2, 1) and r["n_test"] == 10
        assert r["hparams"] == single[key]["hparams"]
        for metric, m in r["metrics"]["test"].items():
            assert m["value"] == pytest.approx(single[key]["metrics"]["test"][metric]["value"], abs=1e-4), metric
        for got, want in zip(r["selection_scores"], single[key]["selection_scores"]):
            assert got == pytest.approx(want, abs=1e-4)


def test_one_process_evaluates_every_row_and_merging_keeps_row_order():
    assert distributed.shard_rows(7) == range(7)
    scorer = ArrayScorer(lambda p, t: {"n": Metric(float(len(p)), "", True)})
    parts = [{"_pred": [1, 2], "_target": [1, 2]}, {"_pred": [3], "_target": [3]}]
    scorer.merge(parts)
    assert scorer.state_dict() == {"_pred": [1, 2, 3], "_target": [1, 2, 3]}
    assert scorer.compute()["n"].value == 3
