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


def labelled(counts: dict[int, int]) -> list[FaceRecord]:
    """Records with expression labels: counts[class] faces of each class."""
    return [FaceRecord(id=f"c{c}-{i:03d}", image=Path("x.jpg"), expression=c) for c, n in counts.items() for i in range(n)]


def test_stratified_fraction_keeps_every_class_even_a_rare_one():
    from farl_bench.data.splits import class_of

    records = labelled({0: 200, 1: 90, 2: 8, 3: 2})
    kept = draw_fraction(records, 0.05, seed=0, stratify=class_of(records))
    assert len(kept) == 15 and {r.expression for r in kept} == {0, 1, 2, 3}
    unstratified = [draw_fraction(records, 0.05, seed=s) for s in range(5)]
    assert any(3 not in {r.expression for r in k} for k in unstratified)  # what stratifying prevents


def test_stratified_fraction_follows_class_proportions_and_ignores_order():
    from farl_bench.data.splits import class_of

    records = labelled({0: 500, 1: 300, 2: 200})
    kept = draw_fraction(records, 0.1, seed=3, stratify=class_of(records))
    assert [sum(r.expression == c for r in kept) for c in (0, 1, 2)] == [50, 30, 20]
    again = draw_fraction(records[::-1], 0.1, seed=3, stratify=class_of(records))
    assert set(ids(kept)) == set(ids(again))


def test_class_of_stratifies_only_single_label_records():
    from farl_bench.data.splits import class_of

    assert class_of(labelled({0: 2})) is not None and class_of(RECORDS) is None


def test_shots_keep_k_per_class_or_all_of_a_smaller_class(caplog):
    from farl_bench.data.splits import draw_shots, shot_rule

    records = labelled({0: 50, 1: 20, 2: 3})
    kept = draw_shots(records, 5, seed=0, rule=shot_rule(records))
    assert [sum(r.expression == c for r in kept) for c in (0, 1, 2)] == [5, 5, 3]
    assert "fewer faces" in caplog.text
    assert set(ids(draw_shots(records[::-1], 5, 0, shot_rule(records)))) == set(ids(kept))
    assert set(ids(draw_shots(records, 5, 1, shot_rule(records)))) != set(ids(kept))


def test_attribute_shots_give_k_positives_and_k_negatives_of_every_attribute():
    import numpy as np

    from farl_bench.data.splits import draw_shots, shot_rule

    rng = np.random.default_rng(0)
    rates = np.array([0.02, 0.5, 0.95])  # a rare, an even and a near-constant attribute
    records = [FaceRecord(id=f"a{i}", image=Path("x.jpg"), attributes=rng.random(3) < rates) for i in range(500)]
    kept = draw_shots(records, 3, seed=0, rule=shot_rule(records))
    table = np.stack([r.attributes for r in kept])
    assert (table.sum(axis=0) >= 3).all() and ((~table).sum(axis=0) >= 3).all()
    assert len(kept) <= 3 * 6  # greedy: a face counts for every attribute value it has


def test_shots_count_subjects_where_records_have_them_else_faces():
    from farl_bench.data.splits import draw_shots, shot_rule

    people = [FaceRecord(id=f"p{p}-{i}", image=Path("x.jpg"), age=30.0, subject=f"p{p}") for p in range(4) for i in range(6)]
    kept = draw_shots(people, 2, seed=0, rule=shot_rule(people))
    assert sorted(r.subject for r in kept) == ["p0", "p0", "p1", "p1", "p2", "p2", "p3", "p3"]
    assert len(draw_shots(RECORDS, 7, seed=0, rule=shot_rule(RECORDS))) == 7


def test_zero_shots_are_refused():
    from farl_bench.data.splits import draw_shots, shot_rule

    with pytest.raises(UserError, match="positive"):
        draw_shots(RECORDS, 0, 0, shot_rule(RECORDS))


def test_fingerprint_is_the_sha256_of_the_manifest_file(tmp_path):
    import hashlib

    from farl_bench.data.splits import manifest_text, read_manifest

    kept = draw_fraction(RECORDS, 0.01, 0)
    (tmp_path / "m.txt").write_text(manifest_text(r.id for r in kept))
    assert hashlib.sha256((tmp_path / "m.txt").read_bytes()).hexdigest() == fingerprint(kept)
    assert read_manifest(tmp_path / "m.txt") == sorted(ids(kept))


def test_manifest_problems_are_one_line_errors(tmp_path):
    from farl_bench.data.splits import read_manifest, select_ids

    (tmp_path / "dup.txt").write_text("face0001\nface0001\n")
    with pytest.raises(UserError, match="'face0001' is listed twice"):
        read_manifest(tmp_path / "dup.txt")
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(UserError, match="holds no ids"):
        read_manifest(tmp_path / "empty.txt")
    with pytest.raises(UserError, match="cannot be read"):
        read_manifest(tmp_path / "missing.txt")
    with pytest.raises(UserError, match="1 id\\(s\\) are not in the training split: nobody"):
        select_ids(RECORDS, ["face0001", "nobody"], "m.txt")
    assert ids(select_ids(RECORDS, ["face0002", "face0001"], "m.txt")) == ["face0001", "face0002"]
