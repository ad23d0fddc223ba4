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
    assert len(spec.version) == 10


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
    assert small.version != base.version
    assert load_task("celeba", {"input_size": 112, "protocols.linear.epochs": 5}).version == small.version


def test_override_without_equals_sign_is_a_user_error():
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_overrides(["input_size"])


def test_task_dirs_from_environment(tmp_path, monkeypatch):
    (tmp_path / "extra.yaml").write_text(VALID)
    monkeypatch.setenv("FARL_BENCH_TASKS", str(tmp_path))
    assert load_task("extra").name == "extra"
