"""Reads for the output rules: the book of owners and declared outputs (SPEC §5)."""

from __future__ import annotations

from sqlalchemy import Connection, text

from ledger.outputs import OutputBook


def load_output_book(conn: Connection) -> OutputBook:
    """Every product's owner and every output's period and status, as the ledger holds them."""
    book = OutputBook()
    for product_id, supplier_id in conn.execute(
        text("SELECT product_id, supplier_id FROM products")
    ):
        book.product(product_id, supplier_id)
    rows = conn.execute(
        text(
            "SELECT output_id, product_id, supplier_id, period_start, period_end, status "
            "FROM outputs"
        )
    ).mappings()
    for row in rows:
        book.load(row["output_id"], dict(row), row["status"])
    return book
