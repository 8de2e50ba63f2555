"""Console entry point: importing the command modules registers them on the group."""

from __future__ import annotations

from ledger_cli import (  # noqa: F401  (importing a module registers its commands)
    admin,
    auditing,
    declaring,
    demo,
    labels,
    maintenance,
    querying,
    serving,
    supply,
)
from ledger_cli.app import cli

__all__ = ["cli", "main"]


def main() -> None:
    cli(prog_name="carbon-ledger")
