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
