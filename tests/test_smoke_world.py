from __future__ import annotations

from ledger import audit


def test_world_verifies(world: dict[str, object]) -> None:
    report = audit.verify_database(world["engine"])  # type: ignore[arg-type]
    assert report.products == 6
    assert report.suppliers == 4
    assert report.factors == 13
