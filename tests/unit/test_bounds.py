"""The ledger's own bounds: whatever the entry point (HTTP, batch, import, admin), a command
that would break one is refused with InvalidCommand naming the field, and records nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from ledger import bounds
from ledger.errors import InvalidCommand
from ledger.program import ProgramRules
from ledger.tiers import DEFAULT_TIERS, Tier
from tests.unit.member_helpers import RULES, SHOP, T0, accrue, new_events, new_member


def refused(error: pytest.ExceptionInfo[InvalidCommand]) -> tuple[str, str | None]:
    return error.value.slug, error.value.field


def test_a_till_typo_bonus_is_refused_naming_bonus_points() -> None:
    member = new_member()
    with pytest.raises(InvalidCommand) as error:
        accrue(member, "1.00", bonus=1_000_000)
    assert refused(error) == ("validation-error", "bonus_points")
    assert str(error.value) == (
        "this accrual would give 1000001 points; the program allows at most 100000 per accrual"
    )
    assert new_events(member) == [] and member.lifetime_earned == 0


def test_earned_points_over_the_limit_name_amount() -> None:
    member = new_member()
    with pytest.raises(InvalidCommand) as error:
        accrue(member, "100001.00")
    assert refused(error) == ("validation-error", "amount")
    assert accrue(member, "100000.00").points == 100_000  # the limit itself is allowed


def test_the_limit_is_the_programs_setting() -> None:
    member = new_member()
    rules = ProgramRules(max_points_per_accrual=50)
    with pytest.raises(InvalidCommand) as error:
        accrue(member, "40.00", bonus=11, rules=rules)
    assert refused(error) == ("validation-error", "bonus_points")
    assert accrue(member, "40.00", bonus=10, rules=rules).points == 50


def test_a_huge_amount_is_refused_by_the_ledger_itself() -> None:
    with pytest.raises(InvalidCommand) as error:
        accrue(new_member(), "999999999999999.00")
    assert refused(error) == ("validation-error", "amount")


def test_lifetime_earned_points_stay_bounded() -> None:
    member = new_member()
    member.lifetime_earned = bounds.MAX_MEMBER_POINTS - 10
    accrue(member, "10.00")
    with pytest.raises(InvalidCommand) as error:
        accrue(member, "1.00")
    assert refused(error) == ("validation-error", "amount")
    assert member.lifetime_earned == bounds.MAX_MEMBER_POINTS


def test_adjustments_and_redemptions_stay_bounded() -> None:
    member = new_member()
    for points in (bounds.MAX_POINTS_PER_OPERATION + 1, -bounds.MAX_POINTS_PER_OPERATION - 1):
        with pytest.raises(InvalidCommand) as error:
            member.adjust(T0, RULES, "a1", points, "x", allow_debt=True)
        assert refused(error) == ("validation-error", "points")
    member.lifetime_adjusted = -bounds.MAX_MEMBER_POINTS + 5
    with pytest.raises(InvalidCommand) as error:
        member.adjust(T0, RULES, "a2", -6, "x", allow_debt=True)
    assert refused(error) == ("validation-error", "points")
    with pytest.raises(InvalidCommand) as error:
        member.redeem(T0, RULES, SHOP, "r", "r1", bounds.MAX_POINTS_PER_OPERATION + 1, T0, None)
    assert refused(error) == ("validation-error", "points")
    assert new_events(member) == []


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        (ProgramRules(point_value=Decimal("999999999999999")), "point_value"),
        (ProgramRules(max_points_per_accrual=0), "max_points_per_accrual"),
        (ProgramRules(max_points_per_accrual=10**7 + 1), "max_points_per_accrual"),
        (ProgramRules(enrollment_bonus_points=10**8), "enrollment_bonus_points"),
        (
            ProgramRules(tiers=(Tier("basic", "B", Decimal(0), Decimal("1E9")),)),
            "tiers.0.multiplier",
        ),
        (
            ProgramRules(tiers=(*DEFAULT_TIERS, Tier("x", "X", Decimal("1E13"), Decimal(3)))),
            "tiers.4.threshold",
        ),
        (ProgramRules(tiers=(DEFAULT_TIERS[0], DEFAULT_TIERS[0])), "tiers"),
    ],
)
def test_a_program_out_of_bounds_is_refused(rules: ProgramRules, field: str) -> None:
    with pytest.raises(InvalidCommand) as error:
        rules.check_bounds()
    assert refused(error) == ("validation-error", field)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"earn_rate": Decimal("1000.01")}, "earn_rate"),
        ({"funding_rate": Decimal(101)}, "funding_rate"),
        ({"reimbursement_rate": Decimal(-1)}, "reimbursement_rate"),
    ],
)
def test_partner_rates_out_of_bounds_are_refused(change: dict[str, Decimal], field: str) -> None:
    with pytest.raises(InvalidCommand) as error:
        replace(SHOP, **change).check_bounds()  # type: ignore[arg-type]
    assert refused(error) == ("validation-error", field)


def test_a_program_configured_before_the_limit_existed_replays_with_its_default() -> None:
    stored = RULES.as_dict()
    del stored["max_points_per_accrual"]
    assert ProgramRules.from_dict(stored).max_points_per_accrual == 100_000
    assert (
        ProgramRules.from_dict({**stored, "max_points_per_accrual": 7}).max_points_per_accrual == 7
    )


def test_birth_dates_are_within_sane_bounds() -> None:
    bounds.check_birth_date(date(1900, 1, 1), T0)
    bounds.check_birth_date(date(2026, 1, 16), T0)  # today somewhere east of UTC
    for far in (date(9999, 12, 31), date(1899, 12, 31), date(2026, 1, 17)):
        with pytest.raises(InvalidCommand) as error:
            bounds.check_birth_date(far, T0)
        assert refused(error) == ("validation-error", "birth_date")
