"""The documented Python API: `farl_bench.families.get`, the families' scorers on numpy arrays and
`farl_bench.score` on an iterable of predictions."""
import numpy as np
import pytest

import farl_bench
from farl_bench.errors import UserError
from farl_bench.families import Family, get


@pytest.mark.parametrize("name", ["parsing", "landmarks", "attributes", "age", "expression"])
def test_families_get_returns_the_family_registered_under_the_name(name):
    family = get(name)
    assert isinstance(family, Family) and family.name == name and family.prediction_field


def test_families_get_passes_task_options_and_names_unknown_families():
    assert get("age", head="regression").num_outputs({}) == 1
    with pytest.raises(UserError, match="expresion"):
        get("expresion")


def test_a_family_scores_plain_numpy_arrays():
    meta = {"expression_names": ["happy", "sad", "neutral"]}
    metrics = get("expression").score(np.array([0, 1, 2, 2]), np.array([0, 1, 2, 1]), meta)
    assert metrics["acc"].value == 75.0 and metrics["acc"].unit == "%"
    assert metrics["acc/sad"].value == 50.0


def test_farl_bench_score_takes_an_iterable_of_predictions(synthetic_root):
    from farl_bench.data.dataset import read_dataset
    from farl_bench.tasks import load_task

    data, _ = read_dataset(load_task("appa_real"), synthetic_root)
    off_by_two = ({"id": r.id, "age": r.age + 2.0} for r in data.split("test"))
    metrics = farl_bench.score("appa_real", off_by_two, data_root=synthetic_root)
    assert set(metrics) == {"test"}
    assert metrics["test"]["mae"] == {"value": pytest.approx(2.0), "unit": "years", "higher_is_better": False}
    assert metrics["test"]["cs@5"]["value"] == 100.0
