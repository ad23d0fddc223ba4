"""The bad-input corpus: each case breaks one input of `farl-bench run` (data, spec, option,
checkpoint, results folder) and must end in ONE line `error: ...` naming the input and what to do,
exit code 2, and the results folder's runs.jsonl exactly as it was.

The broken files are made by each case from a small good tree (tests/helpers.py), except the
committed YAML specs in specs/.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from helpers import write_celeba, write_lapa
from PIL import Image

from farl_bench.engine.cache import EntryWriter
from farl_bench.engine.runner import RunOptions, run_cells
from farl_bench.plan import expand

SPECS = Path(__file__).parent / "specs"
SMALL = ("--set", "input_size=16", "--set", "protocols.linear.epochs=1", "--set", "protocols.linear.lrs=[0.01]",
         "--set", "protocols.linear.weight_decays=[0.0]")


@dataclass
class Env:
    root: Path      # data root: CelebA/ and LaPa/
    results: Path   # holds one earlier record (seed 7), which no case may disturb
    tmp: Path
    monkeypatch: pytest.MonkeyPatch

    @property
    def images(self) -> Path:
        return self.root / "CelebA" / "img_align_celeba"

    def celeba(self, *extra: object, backbone: str = "pixels?grid=2") -> list:
        return ["run", "-b", backbone, "-t", "celeba", "--data-root", self.root, "--results", self.results,
                *SMALL, *extra]

    def lapa(self, *extra: object) -> list:
        return ["run", "-b", "pixels?grid=2", "-t", "lapa", "--data-root", self.root, "--results", self.results,
                *SMALL, "--set", "crop.kind=resize", *extra]


CASES: dict[str, tuple[Callable[[Env], list], tuple[str, ...]]] = {}


def case(*fragments: str) -> Callable:
    """Register a case: it breaks an input and returns the CLI arguments; the error must hold `fragments`."""
    def register(setup: Callable[[Env], list]) -> Callable[[Env], list]:
        CASES[setup.__name__] = (setup, fragments)
        return setup
    return register


# --- images -----------------------------------------------------------------------------------

@case("000003.jpg cannot be decoded", "replace the file")
def corrupt_jpeg(env: Env) -> list:
    (env.images / "000003.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256)) * 4)
    return env.celeba()


@case("000002.jpg cannot be decoded")
def truncated_jpeg(env: Env) -> list:
    path = env.images / "000002.jpg"
    path.write_bytes(path.read_bytes()[:400])
    return env.celeba()


@case("000004.jpg cannot be decoded")
def corrupt_png_named_jpg(env: Env) -> list:
    (env.images / "000004.jpg").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x13" * 60)
    return env.celeba()


@case("000005.jpg cannot be decoded")
def empty_image_file(env: Env) -> list:
    (env.images / "000005.jpg").write_bytes(b"")
    return env.celeba()


@case("000010.jpg is missing", "datasets verify")
def missing_image(env: Env) -> list:
    (env.images / "000010.jpg").unlink()
    return env.celeba()


@case("000006.jpg cannot be decoded")
def image_is_a_folder(env: Env) -> list:
    (env.images / "000006.jpg").unlink()
    (env.images / "000006.jpg").mkdir()
    return env.celeba()


@case("000003.jpg cannot be decoded")
def corrupt_image_read_in_a_worker_process(env: Env) -> list:
    (env.images / "000003.jpg").write_bytes(b"not a jpeg")
    return env.celeba("--workers", "1")


# --- masks and landmarks (LaPa) ----------------------------------------------------------------

@case("f1.png", "label id(s) [12]", "outside 0..10", "fix or remove the file")
def mask_with_label_ids_out_of_range(env: Env) -> list:
    path = env.root / "LaPa/train/labels/f1.png"
    label = np.asarray(Image.open(path)).copy()
    label[:4, :4] = 12
    Image.fromarray(label).save(path)
    return env.lapa()


@case("f0.png", "cannot be read")
def corrupt_png_mask(env: Env) -> list:
    (env.root / "LaPa/train/labels/f0.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    return env.lapa()


@case("label map", "f1.png is 32 x 28 px but its image", "f1.jpg is 32 x 32 px", "re-extract it")
def mask_of_another_size_than_its_image(env: Env) -> list:
    path = env.root / "LaPa/test/labels/f1.png"
    Image.fromarray(np.asarray(Image.open(path))[:28]).save(path)
    return env.lapa()


@case("f0.png is RGB", "expected an 8-bit label map")
def mask_in_colour(env: Env) -> list:
    path = env.root / "LaPa/val/labels/f0.png"
    Image.open(path).convert("RGB").save(path)
    return env.lapa()


@case("f1.png cannot be read")
def missing_mask(env: Env) -> list:
    (env.root / "LaPa/test/labels/f1.png").unlink()
    return env.lapa()


@case("f0.txt", "expected 106 lines 'x y'", "truncated")
def landmarks_with_wrong_count(env: Env) -> list:
    path = env.root / "LaPa/train/landmarks/f0.txt"
    path.write_text("\n".join(path.read_text().splitlines()[:-6]))
    return env.lapa()


@case("f1.txt:5", "two numbers 'x y'")
def landmarks_with_nan(env: Env) -> list:
    path = env.root / "LaPa/val/landmarks/f1.txt"
    rows = path.read_text().splitlines()
    rows[4] = "nan 3.0"
    path.write_text("\n".join(rows))
    return env.lapa()


@case("f0.txt:1", "the point count 106")
def landmarks_file_of_another_format(env: Env) -> list:
    (env.root / "LaPa/test/landmarks/f0.txt").write_text("x,y\n1,2\n")
    return env.lapa()


@case("LaPa/val/labels is missing", "images/, labels/ and landmarks/")
def lapa_split_without_labels_folder(env: Env) -> list:
    shutil.rmtree(env.root / "LaPa/val/labels")
    return env.lapa()


# --- trees and annotation lists (CelebA) -------------------------------------------------------

@case("the test split is empty", "datasets verify celeba")
def empty_split(env: Env) -> list:
    path = env.root / "CelebA/list_eval_partition.txt"
    path.write_text("".join(line.replace(" 2", " 1") + "\n" for line in path.read_text().splitlines()))
    return env.celeba()


@case("CelebA does not exist", "--data-root")
def wrong_tree(env: Env) -> list:
    (env.root / "CelebA").rename(env.root / "celeba-download")
    return env.celeba()


@case("CelebA attribute list not found", "list_attr_celeba.txt")
def tree_without_attribute_list(env: Env) -> list:
    (env.root / "CelebA/list_attr_celeba.txt").unlink()
    return env.celeba()


@case("img_align_celeba is missing", "unpack img_align_celeba.zip")
def tree_without_image_folder(env: Env) -> list:
    shutil.rmtree(env.images)
    return env.celeba()


@case("list_attr_celeba.txt:5", "3 values of 1/-1")
def attribute_row_with_a_bad_value(env: Env) -> list:
    path = env.root / "CelebA/list_attr_celeba.txt"
    rows = path.read_text().splitlines()
    rows[4] = rows[4].rsplit(" ", 1)[0] + " 2"
    path.write_text("\n".join(rows) + "\n")
    return env.celeba()


@case("list_eval_partition.txt", "without attributes", "same release")
def partition_lists_an_unlabelled_file(env: Env) -> list:
    with open(env.root / "CelebA/list_eval_partition.txt", "a") as f:
        f.write("999999.jpg 0\n")
    return env.celeba()


@case("list_eval_partition.txt:2", "'<file> 0|1|2'")
def partition_with_an_unknown_split(env: Env) -> list:
    path = env.root / "CelebA/list_eval_partition.txt"
    rows = path.read_text().splitlines()
    rows[1] = rows[1].split()[0] + " 3"
    path.write_text("\n".join(rows) + "\n")
    return env.celeba()


# --- task specs --------------------------------------------------------------------------------

def spec_case(name: str) -> Callable[[Env], list]:
    def setup(env: Env) -> list:
        env.monkeypatch.setenv("FARL_BENCH_TASKS", str(SPECS))
        return env.celeba()[:4] + [name] + env.celeba()[5:]
    return setup


CASES["yaml_with_unknown_key"] = (spec_case("unknown_key"), ("unknown_key.yaml", "unknown key 'input_sise'"))
CASES["yaml_with_wrong_type"] = (spec_case("wrong_type"), ("wrong_type.yaml", "key 'crop.zoom'", "'wide'"))
CASES["yaml_that_does_not_parse"] = (spec_case("not_yaml"), ("not_yaml.yaml:3:", "is not valid YAML", "fix"))
CASES["yaml_that_is_a_list"] = (spec_case("a_list"), ("a_list.yaml must hold a mapping",))
CASES["yaml_with_unknown_dataset"] = (spec_case("unknown_dataset"), ("unknown_dataset.yaml", "key 'dataset'",
                                                                     "'celebb' is not registered"))
CASES["yaml_with_wrong_protocol_setting"] = (spec_case("bad_epochs"), ("bad_epochs.yaml",
                                                                       "'protocols.linear.batch_size'"))


@case("$FARL_BENCH_TASKS names", "no-such-folder, which is not a folder")
def tasks_folder_that_does_not_exist(env: Env) -> list:
    env.monkeypatch.setenv("FARL_BENCH_TASKS", str(env.tmp / "no-such-folder"))
    return env.celeba()


@case("unknown key 'input_sise'")
def override_with_unknown_key(env: Env) -> list:
    return env.celeba("--set", "input_sise=3")


@case("celeba.yaml (with --set overrides)", "protocols.linear.lrs", "(got 'fast')")
def override_with_wrong_type(env: Env) -> list:
    return env.celeba("--set", "protocols.linear.lrs=fast")


@case("override 'input_size'", "not KEY=VALUE")
def override_without_value(env: Env) -> list:
    return env.celeba("--set", "input_size")


# --- names and options -------------------------------------------------------------------------

@case("unknown task 'celebb'", "Did you mean celeba")
def unknown_task(env: Env) -> list:
    args = env.celeba()
    return args[:4] + ["celebb"] + args[5:]


@case("unknown backbone kind 'tim'", "Did you mean timm")
def unknown_backbone_kind(env: Env) -> list:
    return env.celeba(backbone="tim:resnet18")


@case("timm has no model 'resnet19'", "resnet18")
def unknown_timm_model(env: Env) -> list:
    return env.celeba(backbone="timm:resnet19")


@case("unknown protocol 'linaer'", "Did you mean linear")
def unknown_protocol(env: Env) -> list:
    return env.celeba("-p", "linaer")


@case("--fractions: 0.0 is outside (0, 1]")
def fraction_zero(env: Env) -> list:
    return env.celeba("--fractions", "0")


@case("--fractions: 1.5 is outside (0, 1]")
def fraction_above_one(env: Env) -> list:
    return env.celeba("--fractions", "0.5,1.5")


@case("--seeds 'a,b'", "comma-separated numbers")
def seeds_not_numbers(env: Env) -> list:
    return env.celeba("--seeds", "a,b")


@case("--seeds '-1'", "integers >= 0")
def negative_seed(env: Env) -> list:
    return env.celeba("--seeds", "-1")


@case("--root 'celeba'", "NAME=DIR")
def root_without_a_name(env: Env) -> list:
    return env.celeba("--root", "celeba")


@case("--root '[x, y]' is not NAME=DIR")  # printed as given, not read as rich markup
def root_in_square_brackets(env: Env) -> list:
    return env.celeba("--root", "[x, y]")


@case("--shard '4/4'", "0 <= I < N")
def shard_out_of_range(env: Env) -> list:
    return env.celeba("--shard", "4/4")


@case("--select-on 'train'", "choose val")
def selection_on_the_train_split(env: Env) -> list:
    return env.celeba("--select-on", "train")


# --- checkpoints -------------------------------------------------------------------------------

@case("notes.pth is not a PyTorch checkpoint", "torch.save", ".safetensors")
def checkpoint_that_is_not_a_checkpoint(env: Env) -> list:
    (env.tmp / "notes.pth").write_text("these are my notes, not weights\n")
    return env.celeba(backbone=f"ckpt:{env.tmp / 'notes.pth'}?arch=resnet18")


class _RunsCode:
    """Unpickling this would create the file `marker`: a checkpoint that runs code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@case("evil.pth was refused", "could run code (posix.system)", "safetensors")
def checkpoint_whose_pickle_runs_code(env: Env) -> list:
    torch.save({"state_dict": _RunsCode(env.tmp / "pwned")}, env.tmp / "evil.pth")
    return env.celeba(backbone=f"ckpt:{env.tmp / 'evil.pth'}?arch=resnet18")


@case("other.pth does not fit timm:resnet18", "is it for this architecture")
def checkpoint_with_wrong_keys(env: Env) -> list:
    torch.save({"encoder.weight": torch.zeros(3, 3), "head.bias": torch.zeros(3)}, env.tmp / "other.pth")
    return env.celeba(backbone=f"ckpt:{env.tmp / 'other.pth'}?arch=resnet18")


@case("gone.pth does not exist")
def checkpoint_missing(env: Env) -> list:
    return env.celeba(backbone=f"ckpt:{env.tmp / 'gone.pth'}?arch=resnet18")


@case("bad.safetensors is not a readable safetensors file")
def safetensors_that_is_not(env: Env) -> list:
    (env.tmp / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    return env.celeba(backbone=f"ckpt:{env.tmp / 'bad.safetensors'}?arch=resnet18")


# --- the results folder ------------------------------------------------------------------------

@case("runs.jsonl:1 is not a JSON record", "edited or corrupted")
def results_with_a_corrupt_line(env: Env) -> list:
    path = env.results / "runs.jsonl"
    path.write_bytes(b"garbage\n" + path.read_bytes())
    return env.celeba()


@case("cannot write results to", "Permission denied", "choose another --results")
def read_only_results_folder(env: Env) -> list:
    real_open = os.open

    def refuse(path, flags, *args, **kwargs):  # what a read-only mount says, even to root
        if str(path).startswith(str(env.results)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *args, **kwargs)

    env.monkeypatch.setattr(os, "open", refuse)
    return env.celeba()


@case("cannot write results to", "No space left on device", "free space")
def disk_full_when_appending(env: Env) -> list:
    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    env.monkeypatch.setattr(os, "write", full)
    return env.celeba()


@case("cannot write results to", "No space left on device")
def disk_full_in_the_middle_of_a_record(env: Env) -> list:
    real_write = os.write
    env.monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[: len(data) // 2]))
    return env.celeba()


@case("cannot write", "No space left on device", "free space")
def disk_full_when_writing_a_side_file(env: Env) -> list:
    def full(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    env.monkeypatch.setattr(Path, "write_bytes", full)
    return env.celeba()


@case("feature cache", "No space left on device", "--cache-dir")
def disk_full_when_writing_the_feature_cache(env: Env) -> list:
    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    env.monkeypatch.setattr(EntryWriter, "put", full)
    return env.celeba("--cache-dir", env.tmp / "cache")


@case("results.txt is a file, not a folder", "choose another --results")
def results_path_is_a_file(env: Env) -> list:
    env.results = env.tmp / "results.txt"
    env.results.write_text("")
    return env.celeba()


# --- the harness -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def earlier_results(tmp_path_factory) -> Path:
    """A results folder with one real record (seed 7: no case's cell), copied into every case."""
    base = tmp_path_factory.mktemp("earlier")
    write_celeba(base / "data", n=(8, 4, 4))
    options = RunOptions(base / "data", base / "results", {"input_size": 16, "protocols.linear.epochs": 1},
                         bootstrap=10, cache_dir=base / "cache")
    run_cells(expand(["pixels?grid=2"], ["celeba"], ["linear"], [1.0], [7]), options, lambda d, n: lambda k: None)
    return base / "results"


@pytest.fixture
def env(tmp_path: Path, earlier_results: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    write_celeba(tmp_path / "data", n=(8, 4, 4))
    write_lapa(tmp_path / "data")
    shutil.copytree(earlier_results, tmp_path / "results")
    return Env(tmp_path / "data", tmp_path / "results", tmp_path, monkeypatch)


def runs_bytes(results: Path) -> bytes | None:
    path = results / "runs.jsonl"
    return path.read_bytes() if path.is_file() else None


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_gives_one_clear_line_exit_2_and_no_partial_record(name: str, env: Env, cli) -> None:
    setup, fragments = CASES[name]
    args = setup(env)
    before = runs_bytes(env.results)
    code, _, err = cli(*args)
    env.monkeypatch.undo()  # os.write, os.open and Path.write_bytes back before the checks
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]), err  # one line, and nothing after it
    assert all(f in errors[0] for f in fragments), errors[0]
    assert runs_bytes(env.results) == before
    assert not list(env.tmp.rglob(".*.tmp"))  # no half-written file left beside its target
    assert not (env.tmp / "pwned").exists()


def test_the_corpus_has_at_least_thirty_cases():
    assert len(CASES) >= 30


# --- inputs that are repaired or tolerated, with a warning naming them ------------------------

def test_torn_last_line_of_the_results_is_dropped_with_a_warning_and_the_run_goes_on(env: Env, cli) -> None:
    path = env.results / "runs.jsonl"
    earlier = path.read_bytes()
    path.write_bytes(earlier + b'{"key": "torn by a crash", "metr')
    code, _, err = cli(*env.celeba())
    assert code == 0, err
    # the whole path on the warning's line, however long the temporary folder's path is
    assert any(str(path) in line and "torn" in line for line in err.splitlines()), err
    lines = path.read_bytes().splitlines(keepends=True)
    assert b"".join(lines[:-1]) == earlier and len(lines) == 2 and b"torn by a crash" not in lines[-1]


def test_interrupted_cache_write_leaves_nothing_half_written_and_the_rerun_matches(env: Env, cli) -> None:
    cache = env.tmp / "cache"

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C (or a kill) in the middle of writing the features

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(EntryWriter, "put", interrupted)
        code, _, err = cli(*env.celeba("--cache-dir", cache))
    assert code == 130 and "interrupted" in err and "the same command resumes" in err and "Traceback" not in err
    assert not [p for p in (cache / "entries").iterdir()]  # no entry, no temporary folder
    assert cli(*env.celeba("--cache-dir", cache))[0] == 0
    assert cli(*env.celeba("--cache-dir", env.tmp / "clean", "--results", env.tmp / "clean-results"))[0] == 0
    resumed, clean = (json.loads((r / "runs.jsonl").read_text().splitlines()[-1]) for r in
                      (env.results, env.tmp / "clean-results"))
    assert resumed["metrics"] == clean["metrics"]


def test_shots_beyond_a_class_keep_the_whole_class_with_a_warning(env: Env, cli) -> None:
    code, _, err = cli(*env.celeba("--shots", "50"))
    if "No such option" in err:
        pytest.skip("run has no --shots option yet (issue 6)")
    assert code == 0, err
    assert "50-shot draw" in err and "fewer faces, all kept" in err
