from pathlib import Path

import pytest

from farl_bench.errors import UserError
from farl_bench.tasks import load_task, parse_overrides


def write_spec(tmp_path: Path, text: str) -> str:
    path = tmp_path / "mytask.yaml"
    path.write_text(text)
    return str(path)


VALID = "family: attributes\ndataset: celeba\nmetrics: [acc_mean]\n"


def test_builtin_celeba_spec_loads():
    spec = load_task("celeba")
    assert (spec.family, spec.dataset, spec.crop.kind) == ("attributes", "celeba", "resize")
    assert len(spec.version_for("linear")) == 10


def test_unknown_key_names_the_key_and_the_file(tmp_path):
    path = write_spec(tmp_path, VALID + "input_sise: 3\n")
    with pytest.raises(UserError, match=r"mytask\.yaml: unknown key 'input_sise'"):
        load_task(path)


def test_wrong_type_names_the_key_and_the_file(tmp_path):
    path = write_spec(tmp_path, VALID + "input_size: big\n")
    with pytest.raises(UserError, match=r"mytask\.yaml: key 'input_size'"):
        load_task(path)


def test_unknown_family_is_refused(tmp_path):
    path = write_spec(tmp_path, VALID.replace("attributes", "atributes"))
    with pytest.raises(UserError, match=r"key 'family': family 'atributes' is not registered"):
        load_task(path)


def test_unknown_task_suggests_close_names():
    with pytest.raises(UserError, match="Did you mean celeba"):
        load_task("celeb")


def test_override_changes_the_setting_and_the_version():
    base = load_task("celeba")
    small = load_task("celeba", parse_overrides(["input_size=112", "protocols.linear.epochs=5"]))
    assert small.input_size == 112 and small.protocols["linear"]["epochs"] == 5
    assert small.version_for("linear") != base.version_for("linear")
    assert load_task("celeba", {"input_size": 112, "protocols.linear.epochs": 5}).version_for("linear") == \
        small.version_for("linear")


def test_override_without_equals_sign_is_a_user_error():
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_overrides(["input_size"])


def test_task_dirs_from_environment(tmp_path, monkeypatch):
    (tmp_path / "extra.yaml").write_text(VALID)
    monkeypatch.setenv("FARL_BENCH_TASKS", str(tmp_path))
    assert load_task("extra").name == "extra"


def test_a_metric_name_the_family_does_not_give_is_one_line_naming_the_file_and_close_names(tmp_path):
    path = write_spec(tmp_path, VALID.replace("[acc_mean]", "[acc_mean, bacc_men]"))
    with pytest.raises(UserError) as error:
        load_task(path)
    assert str(error.value) == (f"{path}: key 'metrics': 'bacc_men' is not a metric of the attributes family; "
                                "did you mean bacc_mean, acc_mean? (known: acc_mean, bacc_mean, acc/<class>)")


def test_a_threshold_written_otherwise_than_the_family_names_it_is_refused_from_an_override():
    with pytest.raises(UserError, match=r"wflw\.yaml: key 'metrics': 'auc@0\.1_io' is not a metric of the "
                                        r"landmarks family; did you mean auc@0\.10_io"):
        load_task("wflw", parse_overrides(["metrics=[nme_io, auc@0.1_io]"]))
    assert load_task("wflw", parse_overrides(["metrics=[nme_ip, fr@0.10_io_farl]"])).metrics[0] == "nme_ip"


def test_metric_names_are_checked_exactly_once_the_dataset_meta_is_known():
    from farl_bench.tasks import make_family

    spec = load_task("300w", parse_overrides(["metrics=[nme_ip]"]))  # a normaliser some dataset may have
    meta = {"normalisers": {"io": {"type": "points", "a": [36], "b": [45]}}}
    with pytest.raises(UserError, match=r"300w\.yaml: key 'metrics': 'nme_ip' is not a metric of the landmarks "
                                        r"family on dataset '300w'; did you mean nme_io\?"):
        make_family(spec, meta)
    assert make_family(load_task("300w"), meta).name == "landmarks"


def test_cli_refuses_a_misspelt_metric_with_exit_2_before_reading_any_data(cli, tmp_path):
    code, _, err = cli("score", "--task", "rafdb", "--data-root", tmp_path / "nothing", "--predictions",
                       tmp_path / "p.jsonl", "--set", "metrics=[acc, mean_clas_acc]")
    assert code == 2 and "Traceback" not in err
    assert "'mean_clas_acc' is not a metric of the expression family; did you mean mean_class_acc" in err


@pytest.mark.parametrize("task", ["lapa", "celebamask_hq", "wflw", "aflw19", "300w", "celeba", "appa_real", "rafdb",
                                  "fairface"])
def test_the_metric_names_a_family_declares_are_exactly_those_it_scores(synthetic_root, task):
    import numpy as np

    from farl_bench.data.dataset import read_dataset
    from farl_bench.tasks import make_family

    spec = load_task(task)
    data, _ = read_dataset(spec, synthetic_root)
    family = make_family(spec, data.meta)
    targets = [family.target(r, data) for r in data.split("test")]
    as_predicted = {"parsing": lambda t: t, "landmarks": lambda t: t["landmarks"], "attributes": lambda t: t,
                    "age": lambda t: t[0], "expression": lambda t: t, "demographics": lambda t: t}[spec.family]
    scored = family.score([as_predicted(t) for t in targets], targets, data.meta)
    assert sorted(scored) == sorted(family.metric_names(data.meta))
    assert set(spec.metrics) <= set(scored) and not any("*" in name for name in family.metric_names(data.meta))
    assert np.isfinite(scored[spec.metrics[0]].value)
