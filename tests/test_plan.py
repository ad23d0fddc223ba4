import hashlib
import json
from dataclasses import asdict

import pytest

from farl_bench.errors import UserError
from farl_bench.plan import RunSpec, budget_of, cell_key, expand, parse_backbone


def grid(**kw):
    return [(c.fraction, c.shots, c.seed) for c in expand(["pixels"], ["celeba"], ["linear"], **kw)]


def test_seeds_default_to_three_draws_for_subsets_and_one_for_the_full_split():
    assert grid(fractions=[0.1, 1.0]) == [(0.1, None, 0), (0.1, None, 1), (0.1, None, 2), (1.0, None, 0)]
    assert grid(fractions=[], shots=[5]) == [(None, 5, 0), (None, 5, 1), (None, 5, 2)]
    assert grid(fractions=[]) == [(1.0, None, 0)]
    assert grid(fractions=[0.5, 1.0], seeds=[7]) == [(0.5, None, 7), (1.0, None, 7)]


def test_fractions_and_shots_make_one_grid():
    assert grid(fractions=[1.0], shots=[1, 5], seeds=[0]) == [(1.0, None, 0), (None, 1, 0), (None, 5, 0)]


@pytest.mark.parametrize("kw, message", [({"fractions": [0.0]}, "outside"), ({"fractions": [], "shots": [0]}, "positive"),
                                         ({"fractions": [1.0], "seeds": []}, "--seeds is empty")])
def test_bad_budgets_are_refused(kw, message):
    with pytest.raises(UserError, match=message):
        grid(**kw)


def test_a_manifest_is_its_own_budget_and_excludes_fractions(tmp_path):
    (tmp_path / "m.txt").write_text("b\na\n")
    cells = expand(["pixels"], ["celeba"], ["linear"], [], manifest=tmp_path / "m.txt")
    assert [(c.fraction, c.shots, c.seed) for c in cells] == [(None, None, 0)]
    digest = hashlib.sha256(b"a\nb\n").hexdigest()
    assert budget_of(cells[0]) == f"manifest-{digest[:12]}"
    with pytest.raises(UserError, match="leave out --fractions"):
        expand(["pixels"], ["celeba"], ["linear"], [0.5], manifest=tmp_path / "m.txt")


def test_fraction_cells_keep_the_keys_they_had_before_shots_existed():
    cell = RunSpec("pixels", "celeba", "linear", 0.5, 1)
    before = {k: v for k, v in asdict(cell).items() if k not in ("shots", "manifest", "label")}
    blob = json.dumps({**before, "backbone_fingerprint": "f", "task_version": "v", "hparams": {}}, sort_keys=True)
    assert cell_key(cell, "f", "v", {}) == hashlib.sha256(blob.encode()).hexdigest()[:16]


def test_shots_and_fraction_cells_never_share_a_key():
    keys = {cell_key(RunSpec("pixels", "celeba", "linear", f, 0, shots=k), "f", "v", {})
            for f, k in ((1.0, None), (None, 1), (None, 5))}
    assert len(keys) == 3


def test_a_manifest_counts_by_its_ids_not_its_path(tmp_path):
    (tmp_path / "a.txt").write_text("x\ny\n")
    (tmp_path / "b.txt").write_text("y\n\nx\n")
    (tmp_path / "c.txt").write_text("x\n")
    key = [cell_key(RunSpec("pixels", "celeba", "linear", None, 0, manifest=str(tmp_path / n)), "f", "v", {})
           for n in ("a.txt", "b.txt", "c.txt")]
    assert key[0] == key[1] != key[2]


@pytest.mark.parametrize("text, parsed", [
    ("r50=timm:resnet50", ("r50", "timm:resnet50")),
    ("my.net+v2_x-1=pixels?grid=4", ("my.net+v2_x-1", "pixels?grid=4")),
    ("hog?cell=8", (None, "hog?cell=8")),  # the '=' comes after '?': an option, not a label
    ("timm:x?pretrained=1", (None, "timm:x?pretrained=1")),
    ("ckpt:/runs/a=b.pth?arch=resnet18", (None, "ckpt:/runs/a=b.pth?arch=resnet18")),
    ("r=pixels?grid=4&x=1", ("r", "pixels?grid=4&x=1"))])
def test_a_label_is_what_comes_before_an_equals_sign_ahead_of_any_colon_or_question_mark(text, parsed):
    assert parse_backbone(text) == parsed


def test_a_label_names_the_backbone_but_leaves_its_cell_key_alone():
    labelled, plain = (expand([b], ["celeba"], ["linear"], [1.0])[0] for b in ("p4=pixels?grid=4", "pixels?grid=4"))
    assert (labelled.backbone, labelled.label, labelled.backbone_name) == ("pixels?grid=4", "p4", "p4")
    assert plain.backbone_name == "pixels?grid=4"
    assert cell_key(labelled, "f", "v", {}) == cell_key(plain, "f", "v", {})


def test_a_spec_given_labelled_and_plain_is_one_backbone():
    cells = expand(["p4=pixels?grid=4", "pixels?grid=4", "pixels"], ["celeba"], ["linear"], [1.0])
    assert [(c.backbone, c.label) for c in cells] == [("pixels?grid=4", "p4"), ("pixels", None)]


@pytest.mark.parametrize("backbones, message", [
    (["a=pixels", "b=pixels"], "labelled both 'a' and 'b'"),
    (["a=pixels", "a=hog"], "'a' would name both pixels and hog"),
    (["pixels=hog", "pixels"], "'pixels' would name both hog and pixels"),
    (["r50="], "names no spec")])
def test_ambiguous_labels_are_refused(backbones, message):
    with pytest.raises(UserError, match=message):
        expand(backbones, ["celeba"], ["linear"], [1.0])
