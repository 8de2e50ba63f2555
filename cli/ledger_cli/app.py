"""The click group, shared options, rendering helpers and the one error handler."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ledger import __version__
from ledger.errors import InputError, LedgerError, VerificationError
from ledger.store import Engine
from ledger.store.db import DEFAULT_URL, make_engine


@dataclass
class Ctx:
    db_url: str
    as_json: bool
    verbose: bool
    _engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.db_url)
        return self._engine


class LedgerGroup(click.Group):
    """Maps every LedgerError to ``Error: ...`` on stderr and exit code 1, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LedgerError as exc:
            obj = ctx.obj
            if isinstance(obj, Ctx) and obj.verbose:
                raise
            report_error(exc)
            ctx.exit(1)


def report_error(exc: LedgerError) -> None:
    message = str(exc)
    if isinstance(exc, VerificationError) and exc.seq is not None:
        message = f"verification failed at seq {exc.seq}: {message}"
    click.echo(f"Error: {message}", err=True)
    if isinstance(exc, InputError):
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)


@click.group(cls=LedgerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_url",
    envvar="CARBON_LEDGER_DB",
    default=DEFAULT_URL,
    show_default=True,
    help="Database URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB "
    "(env CARBON_LEDGER_DB).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="carbon-ledger")
@click.pass_context
def cli(ctx: click.Context, db_url: str, as_json: bool, verbose: bool) -> None:
    """carbon-ledger: a verifiable, append-only ledger of product carbon footprints.

    \b
    Suppliers append signed emission records; auditors verify every hash, signature,
    checkpoint and emission figure; platforms export carbon labels anyone can check.

    \b
    Start with:  carbon-ledger demo --dir /tmp/carbon-demo
    """
    ctx.obj = Ctx(db_url, as_json, verbose)


pass_ctx = click.make_pass_decorator(Ctx)


def emit(obj: Ctx, data: Any, human: Callable[[], None] | str) -> None:
    """Print JSON in --json mode, else the human rendering."""
    if obj.as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str))
    elif callable(human):
        human()
    else:
        click.echo(human)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain aligned text table (right-aligns numbers)."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def numeric(text: str) -> bool:
        return (
            text.replace(".", "", 1).replace("-", "", 1).replace("%", "").replace(",", "").isdigit()
        )

    lines = []
    for n, row in enumerate(cells):
        parts = [
            c.rjust(w) if n and numeric(c) else c.ljust(w) for c, w in zip(row, widths, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def show_progress() -> bool:
    """Progress bars only on an interactive terminal; quiet when piped."""
    return sys.stderr.isatty() and not os.environ.get("CI")


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    if not show_progress():
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def existing_file(path: Path) -> Path:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return path


def read_text(path: Path) -> str:
    """A UTF-8 text file the user named, or a clear error."""
    try:
        return existing_file(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc


def output_path(path: Path) -> Path:
    """An --out path whose directory exists, checked before any work is done or stored."""
    if not path.parent.is_dir():
        raise InputError(f"{path.parent}: no such directory")
    return path
