"""What a product registration must satisfy before it is signed (SPEC §4 ``product``).

A product id is what the PACT exporter (:mod:`ledger.labels.export`) turns into a
``productIds`` URN, so it is checked against the same rules at the door rather than failing
— or silently switching id scheme — at export time:

- all digits: a GTIN-8/12/13/14 with a valid GS1 check digit (exported as ``urn:gtin:…``);
- ``urn:…``: a URN the exporter passes through (``urn:<nid>:<nss>``, nid 2-32 characters);
- anything else: an internal id without ``:``, exported as ``urn:pact:<domain>:product-id:<id>``.

``mass_kg`` per declared unit must lie in [:data:`MIN_MASS_KG`, :data:`MAX_MASS_KG`]: below a
milligram or above a thousand tonnes per declared unit is a unit mistake (g for kg, a whole
shipment for one piece), and it would scale every per-kg intensity by the same mistake.
"""

from __future__ import annotations

from decimal import Decimal

from ledger.decimals import fmt
from ledger.errors import InputError
from ledger.labels import pact

MIN_MASS_KG = Decimal("0.000001")  # 1 mg
MAX_MASS_KG = Decimal("1000000")  # 1000 t


def check_product_id(product_id: str) -> str:
    """Refuse an id the PACT exporter could not export as the product's own URN."""
    if product_id.isascii() and product_id.isdigit():
        try:
            pact.gtin_urn(product_id)
        except InputError as exc:
            raise InputError(
                f"product_id: {exc} (a numeric product id must be a GTIN-8/12/13/14 "
                "with a valid GS1 check digit)"
            ) from None
    elif product_id.lower().startswith("urn:"):
        try:
            pact._urns([product_id], "product_id")
        except InputError as exc:
            raise InputError(f"{exc}; PACT needs urn:<nid>:<nss>, e.g. urn:gtin:…") from None
    elif ":" in product_id:
        raise InputError(
            f"product_id: {product_id!r} has ':' but is not a URN; use a GTIN, a urn:… id, "
            "or an internal id without ':'"
        )
    return product_id


def check_mass(mass_kg: Decimal) -> Decimal:
    if not MIN_MASS_KG <= mass_kg <= MAX_MASS_KG:
        raise InputError(
            f"mass_kg: {fmt(mass_kg)} kg per declared unit is outside "
            f"{fmt(MIN_MASS_KG)}-{fmt(MAX_MASS_KG)} kg "
            "(1 mg to 1000 t); is the unit right?"
        )
    return mass_kg
