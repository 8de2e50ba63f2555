"""A record's stage and activity must be those of the factor it pins (append and verify)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import rfc8785

from ledger import audit, records
from ledger.errors import InputError, VerificationError

WATER = "6923451000013"


def row(stage: str, factor: str) -> dict[str, str]:
    return {
        "product_id": WATER, "stage": stage, "activity": "electricity", "amount": "100",
        "unit": "kWh", "factor_id": factor, "units_covered": "10",
        "period_start": "2025-01-01", "period_end": "2025-02-01",
    }  # fmt: skip


def test_a_warehousing_factor_is_refused_for_production(world: dict[str, object]) -> None:
    with pytest.raises(InputError) as caught:
        records.append_record(
            world["engine"],
            "sup-bev",
            world["keys"]["sup-bev"],  # type: ignore[arg-type,index]
            row("production", "cn-grid-electricity-wh"),
        )
    assert (
        "stage: 'production' does not match factor cn-grid-electricity-wh stage 'warehousing'"
        in str(caught.value)
    )
    payload, _ = records.append_record(
        world["engine"],
        "sup-bev",
        world["keys"]["sup-bev"],  # type: ignore[arg-type,index]
        row("warehousing", "cn-grid-electricity-wh"),
    )
    assert payload["co2e_kg"] == "53.06"


def test_verify_catches_a_stage_that_does_not_match_the_factor(world: dict[str, object]) -> None:
    """Feed the entries as a bundle would, with one record's stage forged (canonical bytes,
    no stored columns): the verifier reaches the semantic check at that seq and names it."""
    if not str(world["url"]).startswith("sqlite"):
        pytest.skip("tampering uses sqlite3 directly")
    _payload, result = records.append_record(
        world["engine"],
        "sup-bev",
        world["keys"]["sup-bev"],  # type: ignore[arg-type,index]
        row("production", "cn-grid-electricity"),
    )
    from ledger.verify import ChainVerifier

    db = Path(str(world["url"]).removeprefix("sqlite:///"))
    with sqlite3.connect(db) as conn:
        entries = [
            bytes(b) for (b,) in conn.execute("SELECT entry_bytes FROM entries ORDER BY seq")
        ]
    import json

    seq = result.first_seq
    forged = json.loads(entries[seq])
    forged["payload"]["stage"] = "warehousing"
    entries[seq] = rfc8785.dumps(forged)
    verifier = ChainVerifier()
    with pytest.raises(VerificationError) as caught:
        for data in entries:
            verifier.feed(data)
    assert caught.value.seq == seq
    assert "is warehousing/electricity but its factor is for production/electricity" in str(
        caught.value
    )
    assert audit.verify_database(world["engine"]).records == 1  # type: ignore[arg-type]
