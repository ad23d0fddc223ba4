"""A protocol's cells are versioned by the task settings and that protocol's own section only, so
`--set protocols.<p>.*` re-runs protocol <p> and nothing else."""
import hashlib
import json

from farl_bench.plan import RunSpec, cell_key
from farl_bench.tasks import load_task


def test_version_for_hashes_the_spec_with_only_that_protocols_section():
    spec = load_task("lapa", {"protocols.finetune.epochs": 3, "protocols.linear.epochs": 7})
    expected = {**spec.model_dump(mode="json"), "protocols": {"linear": {"epochs": 7}}}
    digest = hashlib.sha256(json.dumps(expected, sort_keys=True).encode()).hexdigest()[:10]
    assert spec.version_for("linear") == digest


def test_a_finetune_override_changes_finetune_cells_only():
    base, tuned = load_task("lapa"), load_task("lapa", {"protocols.finetune.epochs": 3})
    assert tuned.version_for("linear") == base.version_for("linear")
    assert tuned.version_for("finetune") != base.version_for("finetune")

    def key(spec, protocol):
        return cell_key(RunSpec("pixels", "lapa", protocol, 1.0, 0), "f", spec.version_for(protocol), {})

    assert key(tuned, "linear") == key(base, "linear") and key(tuned, "finetune") != key(base, "finetune")


def test_a_setting_outside_protocols_changes_every_protocols_version():
    base, small = load_task("lapa"), load_task("lapa", {"input_size": 64})
    assert all(small.version_for(p) != base.version_for(p) for p in ("linear", "finetune"))


def test_a_run_with_another_protocols_override_reuses_the_recorded_cell(cli, celeba_root, tmp_path):
    args = ("run", "--backbone", "pixels?grid=4", "--tasks", "celeba", "--data-root", celeba_root,
            "--results", tmp_path, "--set", "input_size=32", "--set", "protocols.linear.epochs=2")
    assert cli(*args)[0] == 0
    code, out, err = cli(*args, "--set", "protocols.finetune.epochs=3")
    assert code == 0 and "0 new run(s), 1 already recorded" in out, err
    code, out, err = cli(*args[:-1], "protocols.linear.epochs=3")
    assert code == 0 and "1 new run(s), 0 already recorded" in out, err
    first, second = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    linear = load_task("celeba", {"input_size": 32, "protocols.linear.epochs": 2})
    assert first["task_version"] == linear.version_for("linear") != second["task_version"]
