"""Console entry point: importing the command modules registers them on the group."""

from __future__ import annotations

from ledger_cli import admin, auditing, demo, labels, querying, supply  # noqa: F401  (registers commands)
from ledger_cli.app import cli

__all__ = ["cli", "main"]


def main() -> None:
    cli(prog_name="carbon-ledger")
