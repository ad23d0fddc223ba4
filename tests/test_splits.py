from pathlib import Path

import pytest

from farl_bench.data.records import FaceRecord
from farl_bench.data.splits import draw_fraction, fingerprint
from farl_bench.errors import UserError

RECORDS = [FaceRecord(id=f"face{i:04d}", image=Path(f"{i}.jpg")) for i in range(1000)]


def ids(records):
    return [r.id for r in records]


def test_fraction_keeps_int_n_times_fraction_in_input_order():
    kept = draw_fraction(RECORDS, 0.1, seed=0)
    assert len(kept) == 100 and ids(kept) == sorted(ids(kept))


def test_draw_does_not_depend_on_file_order():
    shuffled = RECORDS[::-1]
    assert set(ids(draw_fraction(RECORDS, 0.05, 3))) == set(ids(draw_fraction(shuffled, 0.05, 3)))


def test_seeds_give_different_subsets_and_the_same_seed_the_same():
    assert ids(draw_fraction(RECORDS, 0.1, 0)) == ids(draw_fraction(RECORDS, 0.1, 0))
    assert ids(draw_fraction(RECORDS, 0.1, 0)) != ids(draw_fraction(RECORDS, 0.1, 1))


def test_tiny_fraction_keeps_at_least_one_and_full_keeps_all():
    assert len(draw_fraction(RECORDS, 1e-6, 0)) == 1
    assert draw_fraction(RECORDS, 1.0, 0) == RECORDS


@pytest.mark.parametrize("fraction", [0, -0.5, 1.5])
def test_fraction_outside_unit_interval_is_refused(fraction):
    with pytest.raises(UserError, match="outside"):
        draw_fraction(RECORDS, fraction, 0)


def test_fingerprint_ignores_order_but_not_membership():
    assert fingerprint(RECORDS) == fingerprint(RECORDS[::-1])
    assert fingerprint(RECORDS) != fingerprint(RECORDS[1:])


def test_holdout_is_fixed_by_ids_and_disjoint():
    from farl_bench.data.splits import holdout

    train, val = holdout(RECORDS, 0.1)
    assert len(val) == 100 and len(train) == 900 and not set(ids(train)) & set(ids(val))
    assert set(ids(holdout(RECORDS[::-1], 0.1)[1])) == set(ids(val))


def test_hash_split_takes_fixed_fractions_by_key_hash_independent_of_order():
    from farl_bench.data.splits import hash_split

    parts = hash_split(RECORDS, {"train": 0.7, "val": 0.1, "test": 0.2}, salt="s")
    assert {k: len(v) for k, v in parts.items()} == {"train": 700, "val": 100, "test": 200}
    assert ids(parts["test"]) == sorted(ids(parts["test"]))  # input order kept
    shuffled = hash_split(RECORDS[::-1], {"train": 0.7, "val": 0.1, "test": 0.2}, salt="s")
    assert all(set(ids(parts[k])) == set(ids(shuffled[k])) for k in parts)
    assert set(ids(hash_split(RECORDS, {"train": 0.7, "val": 0.1, "test": 0.2}, salt="t")["val"])) != set(ids(parts["val"]))


def test_hash_split_keeps_records_with_one_key_together():
    from farl_bench.data.splits import hash_split

    parts = hash_split(RECORDS, {"train": 0.8, "test": 0.2}, salt="s", key=lambda r: r.id[:-1])  # 100 groups of 10
    assert len(parts["test"]) == 200
    assert not {r.id[:-1] for r in parts["train"]} & {r.id[:-1] for r in parts["test"]}


def test_hash_split_refuses_bad_fractions_and_too_few_keys():
    from farl_bench.data.splits import hash_split

    with pytest.raises(UserError, match="must be positive and sum to 1"):
        hash_split(RECORDS, {"train": 0.7, "test": 0.2}, salt="s")
    with pytest.raises(UserError, match="2 distinct keys are too few"):
        hash_split(RECORDS[:2], {"train": 0.7, "val": 0.1, "test": 0.2}, salt="s")
