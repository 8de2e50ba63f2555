"""Exact decimal parsing and formatting (SPEC §3: every quantity is a decimal string).

Division appears in two places (unit conversions such as MJ → kWh, and reusable packaging
divided by ``reuse_cycles``). A quotient with a finite decimal expansion is kept exactly; one
without (÷ 3, ÷ 3.6) is rounded half-even to :data:`CO2E_PLACES` decimal places. That rule is
part of the data contract: ``verify`` recomputes with it, so it is reproducible bit for bit.

Internal: not part of the library API (the facade is :mod:`ledger`).
"""

from __future__ import annotations

import re
from decimal import Context, Decimal, Inexact, localcontext
from fractions import Fraction

from ledger.errors import InputError

CO2E_PLACES = 12
MAX_DIGITS = 30
_LOOSE_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?\Z")
#: exact decimal arithmetic: raises rather than rounds (sums and products of decimal strings)
EXACT = Context(prec=200, traps=[Inexact])


#: already canonical, non-negative and within bounds: the common case, checked by one regex
_CANONICAL_RE = re.compile(r"(0|[1-9][0-9]{0,14})(\.[0-9]{0,14}[1-9])?\Z")


def canonical_text(text: str, value: Decimal) -> str:
    """``fmt(value)``, reusing ``text`` when it is already canonical (the hot-path case)."""
    return text if _CANONICAL_RE.match(text) else fmt(value)


def parse_decimal(text: str, *, allow_zero: bool = True) -> Decimal:
    """Parse a plain, non-negative decimal string ("1200.5"): no exponent, bounded size."""
    if type(text) is str and _CANONICAL_RE.match(text):
        if text == "0" and not allow_zero:
            raise InputError(f"{text} must be greater than 0")
        return Decimal(text)
    if not isinstance(text, str) or not _LOOSE_RE.match(text):
        raise InputError(f"{text!r} is not a plain decimal number like 1200.5")
    value = Decimal(text)
    if len(value.as_tuple().digits) > MAX_DIGITS or abs(value) >= Decimal(10) ** 15:
        raise InputError(f"{text} is too large (at most 15 integer and {MAX_DIGITS} total digits)")
    if value < 0:
        raise InputError(f"{text} must not be negative")
    if value == 0 and not allow_zero:
        raise InputError(f"{text} must be greater than 0")
    return value


def fmt(value: Decimal) -> str:
    """Canonical decimal string: no exponent, no trailing zeros, no negative zero."""
    if value == 0:
        return "0"
    # positional notation is exact (no context rounding); then drop the trailing zeros of
    # the fraction, which is what normalize() would drop (tests/test_decimals.py checks it)
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def mul(a: Decimal, b: Decimal) -> Decimal:
    """Exact product of two decimals."""
    return EXACT.multiply(a, b)


def to_decimal(value: Fraction) -> Decimal:
    """Exact when the expansion is finite, else half-even to CO2E_PLACES places."""
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    with localcontext(EXACT):
        if den == 1:
            places = max(twos, fives)
            scaled = value.numerator * 10**places // value.denominator
            return Decimal(scaled).scaleb(-places)
    quantum = Decimal(1).scaleb(-CO2E_PLACES)
    with localcontext(Context(prec=200)):
        return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(quantum)
