"""The click group, shared options, rendering helpers and the one error handler."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ledger import __version__
from ledger.errors import InputError, LedgerError, VerificationError
from ledger.vocab import DEFAULT_DB_URL as DEFAULT_URL

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.note import VerifierKey  # cryptography loads only when a command needs it
    from ledger.store import Engine


@dataclass
class Ctx:
    db_url: str
    as_json: bool
    verbose: bool
    _engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from ledger.store.db import make_engine  # the CLI starts without SQLAlchemy

            self._engine = make_engine(self.db_url)
        return self._engine


def _set_global(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Store ``--db``/``--json``/``-v`` given after a subcommand on the shared :class:`Ctx`."""
    obj = ctx.find_object(Ctx)
    if obj is None or value is None or value is False or param.name is None:
        return
    setattr(obj, param.name, value)


def _global_options() -> list[click.Option]:
    """``--db``, ``--json`` and ``-v`` as accepted after any subcommand (``factor list --json``).

    They are not exposed to the callback: their callback writes them onto the :class:`Ctx`
    the root group made, so every command reads ``obj.db_url`` and ``obj.as_json`` whichever
    side of the subcommand the user typed them.
    """
    common: dict[str, Any] = {"expose_value": False, "callback": _set_global, "is_eager": True}
    return [
        click.Option(
            ["--db", "db_url"], default=None, help="Database URL (as before the command).", **common
        ),
        click.Option(
            ["--json", "as_json"],
            is_flag=True,
            default=None,
            help="Machine-readable JSON output.",
            **common,
        ),
        click.Option(
            ["-v", "--verbose", "verbose"],
            is_flag=True,
            default=None,
            help="Show tracebacks for errors.",
            **common,
        ),
    ]


class LedgerCommand(click.Command):
    """Every leaf command: takes the global options after its name too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_global_options())


class _Group(click.Group):
    command_class = LedgerCommand
    group_class: type[click.Group] | type[type] | None = type  # subgroups: same class as parent


class LedgerSubGroup(_Group):
    """A command group below the root (``factor``, ``label``, ...): global options too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(_global_options())


class LedgerGroup(_Group):
    """Maps every LedgerError to ``Error: ...`` on stderr and exit code 1, in one place.

    With ``--json`` the same failure is also one ``{"ok": false, "error": {...}}`` object on
    stdout, so a script reads every outcome from stdout with the exit code unchanged.
    """

    group_class = LedgerSubGroup

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LedgerError as exc:
            obj = ctx.obj
            if isinstance(obj, Ctx) and obj.verbose:
                raise
            report_error(exc, isinstance(obj, Ctx) and obj.as_json)
            ctx.exit(1)
        except click.UsageError as exc:
            obj = ctx.obj
            if isinstance(obj, Ctx) and obj.as_json:
                click.echo(json_text(error_object(type(exc).__name__, exc.format_message())))
            raise


def json_text(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def error_object(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    """The one JSON shape of a failure: ``{"ok": false, "error": {"type", "message", ...}}``."""
    return {"ok": False, "error": {"type": kind, "message": message, **extra}}


#: problems listed under an error message; the rest are counted ("… and N more")
MAX_SHOWN = 100


def report_error(exc: LedgerError, as_json: bool = False) -> None:
    message = str(exc)
    if isinstance(exc, VerificationError) and exc.seq is not None:
        message = f"verification failed at seq {exc.seq}: {message}"
    click.echo(f"Error: {message}", err=True)
    problems = exc.problems if isinstance(exc, InputError) else []
    shown, more = problems[:MAX_SHOWN], max(0, len(problems) - MAX_SHOWN)
    for problem in shown:
        click.echo(f"  {problem}", err=True)
    if more:
        click.echo(f"  … and {more} more (import --errors FILE writes them all)", err=True)
    if as_json:
        extra: dict[str, Any] = {}
        if isinstance(exc, VerificationError) and exc.seq is not None:
            extra["seq"] = exc.seq
        if problems:
            extra["problems"] = shown
        if more:
            extra["more"] = more
        click.echo(json_text(error_object(type(exc).__name__, str(exc), **extra)))


@click.group(cls=LedgerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_url",
    envvar="CARBON_LEDGER_DB",
    default=DEFAULT_URL,
    show_default=True,
    help="Database URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB "
    "(env CARBON_LEDGER_DB). Accepted before or after the command.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Machine-readable JSON output (before or after the command).",
)
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
        if isinstance(data, dict):
            data = {"ok": True, **data}
        click.echo(json_text(data))
    elif callable(human):
        human()
    else:
        click.echo(human)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain aligned text table (right-aligns numbers)."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def numeric(text: str) -> bool:
        return text.replace(".", "", 1).lstrip("+-").replace("%", "").replace(",", "").isdigit()

    lines = []
    for n, row in enumerate(cells):
        parts = [
            c.rjust(w) if n and numeric(c) else c.ljust(w) for c, w in zip(row, widths, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


F = TypeVar("F", bound=Callable[..., Any])


def witness_options(func: F) -> F:
    """``--witness-pub`` (repeatable) and ``--min-witnesses``, the same on every command."""
    func = click.option(
        "--min-witnesses",
        type=click.IntRange(0),
        help="How many of the --witness-pub keys must have cosigned (default: all of them).",
    )(func)
    return click.option(
        "--witness-pub",
        multiple=True,
        help="A witness public key you trust (PEM file or name+hash+base64); repeatable.",
    )(func)


def witness_quorum(
    witness_pub: Sequence[str], min_witnesses: int | None
) -> tuple[list[VerifierKey], int]:
    """Parse the witness keys; without --min-witnesses every given witness must cosign."""
    from ledger import keys

    witnesses = [keys.load_verifier(spec) for spec in witness_pub]
    if min_witnesses is not None and min_witnesses > len(witnesses):
        raise InputError(
            f"--min-witnesses {min_witnesses} is more than the {len(witnesses)} --witness-pub "
            "key(s) given"
        )
    return witnesses, len(witnesses) if min_witnesses is None else min_witnesses


def existing_file(path: Path) -> Path:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return path


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 record``, ``2 records``: counts in messages read as English."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"


def is_stdio(path: Path | None) -> bool:
    return path is not None and str(path) == "-"


def write_out(out: Path | None, body: str) -> None:
    """Write ``body`` to ``out``; ``None`` or ``-`` means stdout (every ``--out`` takes ``-``)."""
    if out is None or is_stdio(out):
        click.echo(body, nl=not body.endswith("\n"))
        return
    try:
        out.write_text(body if body.endswith("\n") else body + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror}") from exc


@contextmanager
def input_file(path: Path) -> Iterator[Path]:
    """``path`` itself, or for ``-`` a temporary copy of stdin.

    The importer hashes the file, sizes its progress line and picks CSV or JSONL by suffix,
    so stdin is spooled once to a file named ``stdin.csv`` or ``stdin.jsonl`` (a first
    non-blank byte ``{`` means JSONL).
    """
    if not is_stdio(path):
        yield existing_file(path)
        return
    stream = sys.stdin.buffer
    head = stream.read(1 << 16)
    kind = "jsonl" if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"
    with tempfile.TemporaryDirectory(prefix="carbon-ledger-stdin-") as tmp:
        target = Path(tmp) / f"stdin.{kind}"
        with target.open("wb") as handle:
            handle.write(head)
            shutil.copyfileobj(stream, handle, 1 << 20)
        yield target


def interactive() -> bool:
    """A person at a terminal (who can answer a passphrase prompt)."""
    return sys.stdin.isatty()


def load_key(path: Path) -> Ed25519PrivateKey:
    """A private key; an encrypted one asks for its passphrase on a terminal (hidden input)
    when CARBON_LEDGER_PASSPHRASE is unset."""

    def ask(question: str) -> str:
        return str(click.prompt(question, hide_input=True, err=True))

    from ledger import keys

    return keys.load_private(path, ask if interactive() else None)


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
