"""Every command of the CLI is documented in the README (sqlite-utils' test_docs is the model).

The test walks the real click tree, so a command added later is covered without editing it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click

from ledger_cli.main import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """Every leaf command as its words on the command line, e.g. ``supplier add``."""
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name))


def documented(path: str, text: str) -> bool:
    """``carbon-ledger [global options] PATH`` in a command line, or ```PATH`` inline code."""
    words = re.escape(path) + r"(?![\w-])"
    global_options = r"(?:\s+--?[\w-]+(?:[ =](?!-)\S+)?)*"
    return bool(
        re.search(r"carbon-ledger" + global_options + r"\s+" + words, text)
        or re.search(r"`" + words, text)
    )


def test_the_walk_sees_nested_commands() -> None:
    paths = set(command_paths(cli))
    assert {"supplier add", "label verify", "query intensity", "verify"} <= paths
    assert "supplier" not in paths  # groups count through their commands


def test_documented_matches_only_the_command_itself() -> None:
    assert documented("import", "`import FILE.csv` validates")
    assert documented("query intensity", "carbon-ledger --db sqlite:///x query intensity --by x")
    assert not documented("import", "carbon-ledger factor import samples/factors.csv")
    assert not documented("supplier add", "`supplier addresses`")


def test_every_command_is_in_the_readme() -> None:
    missing = [path for path in command_paths(cli) if not documented(path, README)]
    assert missing == [], f"commands missing from README.md: {', '.join(missing)}"
