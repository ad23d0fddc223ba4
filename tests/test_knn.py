"""The `knn` protocol: its votes and means against scikit-learn's k-NN with the same weights, the age
head's outputs decoding to the weighted mean, and `farl-bench run -p knn` on the synthetic sets."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from farl_bench.data.readers.celeba import CelebAReader
from farl_bench.engine.knn import RULES, nearest, unit_rows, weighted_mean
from farl_bench.families import get

META = {"expression_names": [f"c{i}" for i in range(5)], "attribute_names": [f"a{i}" for i in range(6)]}


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def dino_weights(temperature: float):
    """exp(cosine / T) from the euclidean distances of unit vectors: cosine = 1 - d^2 / 2."""
    return lambda d: np.exp((1 - d ** 2 / 2) / temperature)


def knn_predictions(family_name: str, family, train: np.ndarray, targets: np.ndarray, test: np.ndarray,
                    k: int, temperature: float) -> list:
    """What the protocol predicts for `test`, through the family's own decoder (float32 bank)."""
    bank = unit_rows(torch.as_tensor(train), torch.float32, "cpu")
    rule = RULES[family_name]
    values = rule.values(torch.as_tensor(targets), family, META)
    sims, idx = nearest(bank, unit_rows(torch.as_tensor(test), torch.float32, "cpu"), k)
    outputs = rule.outputs(weighted_mean(sims, values[idx], temperature), family)
    return family.decode(outputs, [None] * len(test), [None] * len(test))


@pytest.mark.parametrize("k, temperature", [(1, 0.07), (7, 0.07), (25, 0.2), (25, 0.02)])
def test_expression_votes_equal_sklearn_classifier_with_dino_weights(k, temperature):
    rng = np.random.default_rng(0)
    train, test = unit(rng, 300, 16), unit(rng, 80, 16)
    labels = rng.integers(0, 5, 300)
    ours = knn_predictions("expression", get("expression"), train, labels, test, k, temperature)
    sk = KNeighborsClassifier(k, weights=dino_weights(temperature)).fit(train, labels).predict(test)
    assert np.array_equal(ours, sk)
    assert len(set(sk)) > 2  # the test would be blind if every face got one class


@pytest.mark.parametrize("k, temperature", [(5, 0.07), (40, 0.1)])
def test_attribute_votes_equal_sklearn_multi_output_classifier(k, temperature):
    rng = np.random.default_rng(1)
    train, test = unit(rng, 400, 12), unit(rng, 100, 12)
    # rates from 10% to 70%: some attributes are mostly absent, as in CelebA
    labels = rng.random((400, 6)) < np.linspace(0.1, 0.7, 6)
    ours = np.array(knn_predictions("attributes", get("attributes"), train, labels, test, k, temperature))
    sk = KNeighborsClassifier(k, weights=dino_weights(temperature)).fit(train, labels).predict(test)
    assert np.array_equal(ours, sk.astype(bool))
    assert 0 < ours.mean() < 1


@pytest.mark.parametrize("head", ["ldl", "regression"])
@pytest.mark.parametrize("k, temperature", [(1, 0.07), (10, 0.07), (60, 0.3)])
def test_age_is_the_weighted_mean_of_sklearn_regressor_under_either_head(head, k, temperature):
    rng = np.random.default_rng(2)
    train, test = unit(rng, 300, 16), unit(rng, 60, 16)
    ages = rng.uniform(1, 90, 300)
    targets = np.stack([ages, np.full(300, np.nan)], axis=1)  # (age, age_std) as the cache stores them
    ours = knn_predictions("age", get("age", head=head), train, targets, test, k, temperature)
    sk = KNeighborsRegressor(k, weights=dino_weights(temperature)).fit(train, ages).predict(test)
    np.testing.assert_allclose(ours, sk, atol=2e-4)


def test_ldl_outputs_decode_to_integer_and_edge_ages_exactly():
    family = get("age", head="ldl", max_age=100)
    means = torch.tensor([[0.0], [37.0], [37.25], [99.5], [100.0], [130.0], [-3.0]])
    decoded = family.decode(RULES["age"].outputs(means, family), [None] * 7, [None] * 7)
    np.testing.assert_allclose(decoded, [0, 37, 37.25, 99.5, 100, 100, 0], atol=1e-4)  # clipped to the bins


def test_weighted_mean_does_not_overflow_at_small_temperatures():
    sims = torch.tensor([[0.99, 0.98, 0.10]])
    values = torch.tensor([[[1.0], [0.0], [0.0]]])
    mean = weighted_mean(sims, values, 0.001)  # exp(990) overflows float32; relative weights do not
    expected = 1 / (1 + math.exp(-10) + math.exp(-890))
    assert torch.isfinite(mean).all() and mean.item() == pytest.approx(expected, rel=1e-6)


def test_attribute_tie_decodes_as_absent_like_sklearn():
    """A vote of exactly one half: sklearn takes the first class (False); the logit is 0, decoded absent."""
    logits = RULES["attributes"].outputs(torch.tensor([[0.5, 0.75, 0.0, 1.0]]), get("attributes"))
    assert logits[0, 0] == 0 and torch.isfinite(logits).all()
    assert get("attributes").decode(logits, [None], [None])[0].tolist() == [False, True, False, True]


def test_bf16_bank_finds_the_same_nearest_neighbours_as_fp32():
    rng = np.random.default_rng(3)
    train, test = torch.as_tensor(unit(rng, 2000, 64)), torch.as_tensor(unit(rng, 50, 64))
    _, exact = nearest(unit_rows(train, torch.float32, "cpu"), unit_rows(test, torch.float32, "cpu"), 1)
    sims, found = nearest(unit_rows(train, torch.bfloat16, "cpu"), unit_rows(test, torch.bfloat16, "cpu"), 1)
    assert sims.dtype == torch.float32
    assert (found == exact).float().mean() > 0.9  # bf16 rounds cosines to ~0.004: near-ties may swap


def test_unit_rows_leaves_the_input_alone():
    x = torch.tensor([[3.0, 4.0], [0.0, 2.0]], dtype=torch.float16)
    before = x.clone()
    out = unit_rows(x, torch.float32, "cpu", block=1)
    assert torch.equal(x, before) and torch.allclose(out, torch.tensor([[0.6, 0.8], [0.0, 1.0]]))


# ---- through `farl-bench run` -----------------------------------------------------------------

CASES = {  # task -> (backbone, input size)
    "celeba": ("hog", 64),
    "appa_real": ("pixels", 32),
    "rafdb": ("hog", 64),
    "fairface": ("hog", 64),
}
_RECORDS: dict[tuple[str, str], dict] = {}


@pytest.fixture
def record(cli, synthetic_root, tmp_path):
    """record(task, backbone=None): `farl-bench run -p knn` of one cell, run once per session."""
    def get_record(task: str, backbone: str | None = None) -> dict:
        backbone = backbone or CASES[task][0]
        if (task, backbone) not in _RECORDS:
            results = tmp_path / f"results-{task}-{backbone}"
            code, _, err = cli("run", "-b", backbone, "-t", task, "-p", "knn", "--data-root", synthetic_root,
                               "--results", results, "--bootstrap", "20", "--set", f"input_size={CASES[task][1]}")
            assert code == 0, err
            _RECORDS[task, backbone] = json.loads((results / "runs.jsonl").read_text().splitlines()[-1])
        return _RECORDS[task, backbone]

    return get_record


@pytest.mark.parametrize("task", CASES)
def test_knn_runs_each_pooled_family_with_finite_metrics_chosen_on_val(record, task):
    r = record(task)
    assert (r["task"], r["protocol"], r["selection_split"]) == (task, "knn", "val")
    for subset, metrics in r["metrics"].items():
        for name, m in metrics.items():
            if "/" not in name:  # per-class scores are NaN for classes absent from a small test set
                assert math.isfinite(m["value"]), (subset, name, m)
    grid = r["hparam_grid"]
    ks = sorted({min(k, r["n_train"]) for k in grid["ks"]})
    assert [(s["k"], s["temperature"]) for s in r["selection_scores"]] == \
        [(k, t) for k in ks for t in grid["temperatures"]]
    key = {"celeba": "acc_mean", "appa_real": "mae", "rafdb": "acc", "fairface": "acc_mean"}[task]
    scores = [s[key] for s in r["selection_scores"]]
    best = scores.index(min(scores) if key == "mae" else max(scores))
    chosen = r["selection_scores"][best]
    assert r["hparams"] == {"k": chosen["k"], "temperature": chosen["temperature"]}


def test_each_demographic_head_votes_on_its_own_and_a_missing_label_gives_no_vote():
    from farl_bench.engine.knn import RULES
    from farl_bench.families import get as get_family

    family, meta = get_family("demographics", heads=["gender", "race"]), {"groups": {"gender": ["m", "f"],
                                                                                  "race": ["a", "b", "c"]}}
    y = torch.tensor([[0, 2], [-1, 1]])  # the second face has no gender label
    assert RULES["demographics"].values(y, family, meta).tolist() == [[1, 0, 0, 0, 1], [0, 0, 0, 1, 0]]


def test_knn_on_edges_beats_the_training_majority_and_the_pixels_floor_on_celeba(record, synthetic_root):
    """k-NN over HOG features beats each attribute's training majority and k-NN over raw colour (the
    `pixels` floor) on the same test faces. (On the small RAF-DB, 432 training faces, k-NN on HOG
    stays at the majority class; on the medium one, 1,080, it rises above it.)"""
    hog = record("celeba")["metrics"]["test"]["acc_mean"]["value"]
    pixels = record("celeba", "pixels")["metrics"]["test"]["acc_mean"]["value"]
    data = CelebAReader().read(synthetic_root / "CelebA")
    majority = np.mean([r.attributes for r in data.split("train")], axis=0) > 0.5
    floor = 100 * np.mean([np.asarray(r.attributes) == majority for r in data.split("test")])
    assert hog > max(floor, pixels) + 0.5, (hog, pixels, floor)


@pytest.mark.parametrize("task", ["lapa", "aflw19"])
def test_knn_refuses_a_dense_task_in_one_line_naming_what_applies(cli, synthetic_root, tmp_path, task):
    code, out, err = cli("run", "-b", "pixels", "-t", task, "-p", "knn", "--data-root", synthetic_root,
                         "--results", tmp_path / "results", "--set", "input_size=32")
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    assert all(word in errors[0] for word in (task, "knn", "linear", "frozen", "finetune")), errors[0]
    assert not (tmp_path / "results" / "runs.jsonl").exists()
