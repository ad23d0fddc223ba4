"""The `zeroshot` protocol: a small random CLIP saved in OpenAI, FaRL and open_clip form gives the same
zero-shot logits through our path as open_clip's encode_image / encode_text; the family outputs of
those logits; prompts in the task YAMLs; and `farl-bench run -p zeroshot` on the synthetic sets."""
from __future__ import annotations

import json
import math

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
import yaml

from farl_bench.backbones import build
from farl_bench.data.readers import affectnet, fer2013, ferplus, rafdb
from farl_bench.data.synthetic.labels import CELEBA_ATTRIBUTES
from farl_bench.engine.zeroshot import RULES, ZeroshotHparams, build_classifier, class_embeddings
from farl_bench.errors import UserError
from farl_bench.families import get
from farl_bench.plan import expand
from farl_bench.tasks import load_task

TINY = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 2}}
PROMPTS = ["a photo of a happy face.", "a photo of a sad face.", "a photo of a man.", "a photo of a 7 year old person."]


@pytest.fixture(scope="module")
def tiny_clip() -> open_clip.CLIP:
    return perturbed_clip(TINY)


@pytest.fixture(scope="module")
def clip_files(tiny_clip, tmp_path_factory) -> dict[str, str]:
    """The tiny CLIP as a backbone spec of each kind: clip: (OpenAI layout), farl: ({"state_dict": ...}
    with FaRL's masked-image-modelling extras), openclip: (its own config, ?weights=file)."""
    folder = tmp_path_factory.mktemp("tiny-clip")
    state = tiny_clip.state_dict()
    torch.save(state, folder / "clip.pt")
    extras = {"visual.mask_token": torch.randn(64), "visual.ln_lm.weight": torch.ones(64)}
    torch.save({"state_dict": {**state, **extras}, "epoch": 16}, folder / "farl.pth")
    torch.save(state, folder / "openclip.pt")
    return {"clip": f"clip:{folder / 'clip.pt'}", "farl": f"farl:{folder / 'farl.pth'}",
            "openclip": f"openclip:Tiny-ZS?weights={folder / 'openclip.pt'}"}


@pytest.fixture
def tiny_config(monkeypatch):
    monkeypatch.setitem(open_clip.factory._MODEL_CONFIGS, "Tiny-ZS", {**TINY, "quick_gelu": True})


def perturbed_clip(config: dict) -> open_clip.CLIP:
    """A random open_clip CLIP (QuickGELU, as OpenAI's and FaRL's), every tensor perturbed so that no
    LayerNorm or bias sits at its init, and a logit scale of 30 (not the init's 14.3)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = open_clip.CLIP(**config, quick_gelu=True).eval()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.02)
            model.logit_scale.fill_(math.log(30.0))
    return model


def logits_pair(model: open_clip.CLIP, spec: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-shot logits of 5 random images x PROMPTS: (through our backbone and classifier, through open_clip)."""
    backbone = build(spec)
    x = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    classifier = build_classifier(backbone.text_tower(), [[p] for p in PROMPTS])
    with torch.no_grad():
        ours = classifier.logits(backbone(x, levels=False).pooled)
        image = F.normalize(model.encode_image(x), dim=-1)
        text = F.normalize(model.encode_text(open_clip.tokenizer.SimpleTokenizer()(PROMPTS)), dim=-1)
    assert classifier.scale == pytest.approx(30.0)
    return ours, model.logit_scale.exp() * image @ text.T


@pytest.mark.parametrize("kind", ["clip", "farl", "openclip"])
def test_zero_shot_logits_equal_open_clips_encoders(tiny_clip, clip_files, tiny_config, kind):
    ours, expected = logits_pair(tiny_clip, clip_files[kind])
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)
    assert expected.std() > 0.1  # the logits differ between faces and prompts: the check can fail


def test_heads_options_load_a_clip_whose_heads_are_not_64_wide(tmp_path):
    """One 128-wide head per tower (OpenAI's rule says 2): equal logits only with heads=1&text_heads=1."""
    wide = {"embed_dim": 32, "vision_cfg": {**TINY["vision_cfg"], "width": 128, "head_width": 128},
            "text_cfg": {**TINY["text_cfg"], "width": 128, "heads": 1}}
    model = perturbed_clip(wide)
    torch.save(model.state_dict(), tmp_path / "wide.pt")
    ours, expected = logits_pair(model, f"clip:{tmp_path / 'wide.pt'}?heads=1&text_heads=1")
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)
    ours, expected = logits_pair(model, f"clip:{tmp_path / 'wide.pt'}")
    assert (ours - expected).abs().max() > 1e-2  # the default rule gives another model: the option matters


def test_templates_are_averaged_in_embedding_space_then_renormalised(tiny_clip, clip_files):
    tower = build(clip_files["clip"]).text_tower()
    groups = [PROMPTS[:3], PROMPTS[3:]]
    with torch.no_grad():
        text = F.normalize(tiny_clip.encode_text(open_clip.tokenizer.SimpleTokenizer()(PROMPTS)), dim=-1)
    expected = F.normalize(torch.stack([text[:3].mean(0), text[3]]), dim=-1)
    torch.testing.assert_close(build_classifier(tower, groups).weights, expected, atol=1e-6, rtol=0)
    unit = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    torch.testing.assert_close(class_embeddings(unit, [2, 1]), torch.tensor([[0.5 ** 0.5, 0.5 ** 0.5], [0.6, 0.8]]))


def test_attribute_output_is_the_logit_of_the_present_vs_absent_softmax():
    logits = torch.tensor([[3.0, 1.0, 0.5, 2.0]])  # (present, absent) of two attributes
    out = RULES["attributes"].outputs(logits, ZeroshotHparams(), get("attributes"))
    p = logits.view(1, 2, 2).softmax(dim=2)[..., 0]
    torch.testing.assert_close(out, torch.logit(p))
    assert get("attributes").decode(out, [None], [None])[0].tolist() == [True, False]


@pytest.mark.parametrize("head", ["ldl", "regression"])
def test_age_decodes_to_the_softmax_expected_age_over_the_prompts(head):
    hp = ZeroshotHparams(templates=["a photo of a {} year old person."], min_age=1, max_age=100)
    logits = torch.randn(6, 100, generator=torch.Generator().manual_seed(2)) * 3
    expected = (logits.softmax(dim=1).numpy() * np.arange(1, 101)).sum(axis=1)
    family = get("age", head=head)
    decoded = family.decode(RULES["age"].outputs(logits, hp, family), [None] * 6, [None] * 6)
    np.testing.assert_allclose(decoded, expected, atol=1e-3)
    groups = RULES["age"].groups(hp, None, {}, None)
    assert len(groups) == 100 and groups[0] == ["a photo of a 1 year old person."]


LABELS = {"rafdb": rafdb.EXPRESSION_NAMES, "affectnet7": affectnet.EXPRESSION_NAMES[:7],
          "affectnet8": affectnet.EXPRESSION_NAMES, "fer2013": fer2013.EXPRESSION_NAMES,
          "ferplus": ferplus.EXPRESSION_NAMES, "celeba": list(CELEBA_ATTRIBUTES), "lfwa": list(CELEBA_ATTRIBUTES),
          "appa_real": None, "morph2": None, "utkface": None, "fgnet": None}


@pytest.mark.parametrize("task", LABELS)
def test_built_in_prompts_name_every_label_of_their_dataset_and_round_trip_through_yaml(task):
    hp = ZeroshotHparams.model_validate(load_task(task).protocol_hparams("zeroshot"))
    meta = {"expression_names": LABELS[task], "attribute_names": LABELS[task]}
    family = load_task(task).family
    groups = RULES[family].groups(hp, None, meta, lambda key, what: UserError(f"{key}: {what}"))
    assert hp.templates and all(groups)
    assert len(groups) == {"expression": len(LABELS[task] or []), "attributes": 2 * len(LABELS[task] or []),
                           "age": 100}[family]
    dumped = yaml.safe_dump(hp.model_dump(mode="json"))
    assert ZeroshotHparams.model_validate(yaml.safe_load(dumped)) == hp


def test_prompts_are_part_of_the_zeroshot_version_only():
    base = load_task("rafdb")
    other = load_task("rafdb", {"protocols.zeroshot.templates": ["a face that looks {}."]})
    assert other.version_for("zeroshot") != base.version_for("zeroshot")
    assert other.version_for("linear") == base.version_for("linear")


def test_prompts_missing_a_label_are_refused_naming_it():
    hp = ZeroshotHparams(templates=["a {} face"], classes={"happy": ["happy"]})
    with pytest.raises(UserError, match="no prompt for sad"):
        RULES["expression"].groups(hp, None, {"expression_names": ["happy", "sad"]}, lambda k, w: UserError(f"{k}: {w}"))


@pytest.mark.parametrize("bad", [{"templates": ["no slot"]}, {"templates": ["{} and {}"]},
                                 {"min_age": 50, "max_age": 10}, {"classes": {"happy": []}}, {"prompts": []}])
def test_malformed_prompt_settings_are_refused(bad):
    with pytest.raises(ValueError):
        ZeroshotHparams.model_validate(bad)


def test_the_plan_gives_zeroshot_one_cell_per_backbone_and_task_beside_the_full_grid_of_others():
    cells = expand(["pixels", "hog"], ["rafdb"], ["linear", "zeroshot"], [0.1, 1.0], seeds=[0, 1])
    zeroshot = [(c.backbone, c.fraction, c.seed) for c in cells if c.protocol == "zeroshot"]
    assert zeroshot == [("pixels", 1.0, 0), ("hog", 1.0, 0)]
    assert len([c for c in cells if c.protocol == "linear"]) == 2 * 2 * 2


# ---- through `farl-bench run` -----------------------------------------------------------------

def run(cli, results, backbone, task, root, *extra):
    return cli("run", "-b", backbone, "-t", task, "-p", "zeroshot", "--data-root", root, "--results", results,
               "--bootstrap", "10", "--precision", "fp32", *extra)


@pytest.mark.parametrize("task, key", [("rafdb", "acc"), ("celeba", "acc_mean"), ("appa_real", "mae")])
def test_zeroshot_runs_one_cell_per_backbone_and_task_with_finite_metrics(cli, synthetic_root, clip_files, tmp_path,
                                                                          task, key):
    code, out, err = run(cli, tmp_path / "r", clip_files["clip"], task, synthetic_root, "--fractions", "0.5",
                         "--seeds", "0,1")
    assert code == 0, err
    [record] = [json.loads(line) for line in (tmp_path / "r" / "runs.jsonl").read_text().splitlines()]
    assert (record["protocol"], record["selection_split"], record["hparams"]) == ("zeroshot", "none", {})
    assert (record["fraction"], record["seed"], record["n_train"]) == (1.0, 0, 0)
    assert record["split_rule"].startswith("none") and record["n_test"] > 0
    assert math.isfinite(record["metrics"]["test"][key]["value"])
    assert record["hparam_grid"]["templates"] == load_task(task).protocols["zeroshot"]["templates"]


def test_fairface_heads_each_get_their_own_prompts_and_softmax(cli, synthetic_root, clip_files, tmp_path):
    from farl_bench.families import get as get_family

    hp = ZeroshotHparams.model_validate(load_task("fairface").protocol_hparams("zeroshot"))
    heads = {"gender": ["male", "female"]}  # a task may use some heads only: the others' prompts stay unused
    groups = RULES["demographics"].groups(hp, get_family("demographics", heads=list(heads)), {"groups": heads},
                                          lambda k, w: UserError(f"{k}: {w}"))
    assert groups == [[t.format(p) for p in ("man", "male person") for t in hp.heads["gender"].templates],
                      [t.format(p) for p in ("woman", "female person") for t in hp.heads["gender"].templates]]
    code, _, err = run(cli, tmp_path / "r", clip_files["clip"], "fairface", synthetic_root)
    assert code == 0, err
    [record] = [json.loads(line) for line in (tmp_path / "r" / "runs.jsonl").read_text().splitlines()]
    test = record["metrics"]["test"]
    assert all(0 <= test[f"acc/{h}"]["value"] <= 100 for h in ("race", "gender", "age_group"))
    assert test["acc_mean"]["value"] == pytest.approx(sum(test[f"acc/{h}"]["value"]
                                                          for h in ("race", "gender", "age_group")) / 3)


def test_a_backbone_without_a_text_tower_is_one_line_naming_the_kinds_with_one(cli, synthetic_root, tmp_path):
    code, out, err = run(cli, tmp_path / "r", "timm:resnet10t", "rafdb", synthetic_root, "--set", "input_size=32")
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    assert all(kind in errors[0] for kind in ("timm:resnet10t", "openclip:", "clip:", "farl:")), errors[0]
    assert not (tmp_path / "r" / "runs.jsonl").exists()


def test_an_image_tower_alone_is_one_line_saying_the_text_tower_is_missing(cli, synthetic_root, tiny_clip, tmp_path):
    torch.save({k: v for k, v in tiny_clip.state_dict().items() if k.startswith("visual.")}, tmp_path / "tower.pt")
    code, out, err = run(cli, tmp_path / "r", f"clip:{tmp_path / 'tower.pt'}", "rafdb", synthetic_root)
    assert code == 2 and "holds no CLIP text tower" in err and "Traceback" not in err, err


def test_zeroshot_refuses_a_dense_task_in_one_line(cli, synthetic_root, clip_files, tmp_path):
    code, out, err = run(cli, tmp_path / "r", clip_files["clip"], "lapa", synthetic_root)
    assert code == 2 and "protocol zeroshot cannot run task 'lapa'" in err and "Traceback" not in err, err
