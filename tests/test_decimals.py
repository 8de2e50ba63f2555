"""ledger.decimals: the canonical decimal text, against its definition."""

from __future__ import annotations

from decimal import Context, Decimal

from hypothesis import given
from hypothesis import strategies as st

from ledger.decimals import fmt


def reference_fmt(value: Decimal) -> str:
    """The definition: normalized (with enough digits never to round), then positional."""
    if value == 0:
        return "0"
    return format(value.normalize(Context(prec=max(28, len(value.as_tuple().digits)))), "f")


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_fmt_is_the_normalized_positional_text(value: Decimal) -> None:
    assert fmt(value) == reference_fmt(value)


def test_fmt_examples() -> None:
    assert fmt(Decimal("1200.500")) == "1200.5"
    assert fmt(Decimal("1E+2")) == "100"  # an exponent is written out
    assert fmt(Decimal("5.000E+3")) == "5000"
    assert fmt(Decimal("1.23E-5")) == "0.0000123"
    assert fmt(Decimal("-0.50")) == "-0.5"
    assert fmt(Decimal("-0")) == "0"  # no negative zero
    assert fmt(Decimal("10.0")) == "10"
    assert fmt(Decimal("123456789012345678901234567890.10")) == "123456789012345678901234567890.1"
