"""Units of SPEC §3 and exact conversion between them.

Conversions are rational (kWh → MJ is × 18/5), so they are carried out as ``Fraction`` and only
turned into a decimal at the end (:func:`ledger.decimals.to_decimal`). Converting across
dimensions is an error that names both units. The unit table is :data:`ledger.vocab.UNITS`.

Internal: not part of the library API (the facade is :mod:`ledger`).
"""

from __future__ import annotations

import functools
from fractions import Fraction

from ledger.errors import InputError
from ledger.vocab import UNITS


def dimension(unit: str) -> str:
    """The dimension of ``unit`` (energy, mass, ...); an unknown unit is an InputError."""
    try:
        return UNITS[unit][0]
    except KeyError:
        known = ", ".join(UNITS)
        raise InputError(f"unknown unit {unit!r} (units are case-sensitive: {known})") from None


@functools.lru_cache(maxsize=1024)
def ratio(from_unit: str, to_unit: str) -> Fraction:
    """Multiplier taking an amount in ``from_unit`` to ``to_unit``.

    Cached: every recomputed co2e asks it (10^4 times in a label check), and the unit table
    has a few dozen pairs; an error is raised afresh each time, never cached."""
    if from_unit == to_unit:
        dimension(from_unit)
        return Fraction(1)
    from_dim, from_size = UNITS.get(from_unit, (dimension(from_unit), Fraction(0)))
    to_dim, to_size = UNITS.get(to_unit, (dimension(to_unit), Fraction(0)))
    if from_dim != to_dim:
        raise InputError(
            f"cannot convert {from_unit} ({from_dim}) to {to_unit} ({to_dim}): different dimensions"
        )
    return from_size / to_size
