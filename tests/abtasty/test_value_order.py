"""The order of a trait's values in the segment builder: total, so pages never shift."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from harness.abtasty.audience import value_key, value_order

SCALARS = st.one_of(
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.booleans(),
)


@given(st.lists(SCALARS, max_size=30), st.randoms(use_true_random=False))
def test_value_order_does_not_depend_on_arrival_order(
    values: list[object], rng: random.Random
) -> None:
    distinct = list({value_key(v): v for v in values}.values())
    shuffled = distinct[:]
    rng.shuffle(shuffled)
    assert [value_key(v) for v in sorted(distinct, key=value_order)] == [
        value_key(v) for v in sorted(shuffled, key=value_order)
    ]


def test_value_order_nan_after_numbers_before_strings() -> None:
    values = ["a", float("nan"), 3, float("inf"), False]
    ordered = sorted(values, key=value_order)
    assert ordered[:2] == [3, float("inf")]
    assert ordered[3:] == ["a", False]
