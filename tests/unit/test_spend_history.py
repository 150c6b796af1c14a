"""The qualifying-spend index: window totals equal a plain sum, whatever the insert order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ledger.spend_history import SpendHistory

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_window_is_after_start_and_up_to_end_inclusive() -> None:
    history = SpendHistory()
    history.add(T0, 1, Decimal("10.00"))
    history.add(T0 + timedelta(days=1), 2, Decimal("5.50"))
    history.add(T0 - timedelta(days=3), 3, Decimal("1.25"))  # backdated: inserted in order
    assert history.total(after=T0, up_to=T0 + timedelta(days=1)) == Decimal("5.50")
    assert history.total(after=T0 - timedelta(days=1), up_to=T0) == Decimal("10.00")
    assert history.total(after=T0 - timedelta(days=5), up_to=T0 + timedelta(days=9)) == Decimal(
        "16.75"
    )
    history.change(T0, 1, Decimal("-4.00"))  # a partial refund of the first accrual
    assert history.total(after=T0 - timedelta(days=5), up_to=T0 + timedelta(days=9)) == Decimal(
        "12.75"
    )
    assert history.total(after=T0 + timedelta(days=2), up_to=T0 + timedelta(days=9)) == 0


@given(
    st.lists(
        st.tuples(st.integers(0, 800), st.integers(1, 100_000), st.integers(0, 99)),
        max_size=40,
    ),
    st.integers(0, 800),
    st.integers(0, 400),
)
def test_totals_equal_a_plain_sum(
    entries: list[tuple[int, int, int]], end_day: int, window_days: int
) -> None:
    history = SpendHistory()
    plain: list[tuple[datetime, Decimal]] = []
    for seq, (day, cents, refund_percent) in enumerate(entries):
        at = T0 + timedelta(days=day)
        amount = Decimal(cents) / 100
        history.add(at, seq, amount)
        refund = (amount * refund_percent / 100).quantize(Decimal("0.01"))
        history.change(at, seq, -refund)
        plain.append((at, amount - refund))
    end = T0 + timedelta(days=end_day)
    start = end - timedelta(days=window_days)
    expected = sum((a for at, a in plain if start < at <= end), Decimal(0))
    assert history.total(after=start, up_to=end) == expected
