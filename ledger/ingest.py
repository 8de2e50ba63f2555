"""Pass 1 of an import, in parallel: validate, canonicalize and hash chunks of a file.

The file is read once, in blocks, by the parent, which hashes it (``source_sha256``) and cuts
it at record boundaries into chunks of about :data:`CHUNK_BYTES`. Worker processes (forked,
so they share the parent's read-only product and factor tables) parse each chunk, build every
record payload with :func:`ledger.accounting.build_record`, canonicalize it once, hash its
leaf, and pickle the chunk's spool items to a file of their own. The parent only folds the
leaf hashes into ``records_root`` in file order. At most ``2 × jobs`` chunks are in flight,
so memory stays bounded whatever the file size.

CSV chunks are cut only where Python's ``csv`` reader, run over the whole file by the parent,
has just finished a record (:class:`_CsvScanner`), so what the supplier signs is exactly what
``csv`` reads, whatever the chunking. Line numbers are physical lines, as ``csv`` counts them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Protocol

from ledger import merkle
from ledger.accounting import RECORD_COLUMNS, RowProblems
from ledger.canonical import canonical_bytes
from ledger.errors import InputError
from ledger.rules import SubmissionRules, row_facts
from ledger.spool import Spool, SpoolItem, write_chunk_file
from ledger.state import record_values
from ledger.suggest import did_you_mean

CHUNK_BYTES = 2 << 20
PARALLEL_MIN_BYTES = 4 << 20  # below this, validating in-process is faster than forking
REQUIRED_HEADER = ("product_id", "stage", "activity")
HEADER_COLUMNS = (*RECORD_COLUMNS, "supplier_id")
DELIMITERS = (",", ";", "\t")


class RowBuilder(Protocol):
    def build(self, row: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Chunk:
    first_line: int  # physical line number of the chunk's first line
    data: bytes
    header: tuple[str, ...] | None  # CSV header; None for JSONL
    delimiter: str = ","


@dataclass
class ChunkResult:
    leaves: list[bytes] = field(default_factory=list)
    items: list[SpoolItem] | None = None  # in-process validation keeps items in memory
    path: str | None = None  # a worker writes them to a chunk file
    targets: list[tuple[int, str, str]] = field(default_factory=list)
    record_rows: list[tuple[int, str, str, str, str]] = field(default_factory=list)  # row_facts
    problems: list[str] = field(default_factory=list)


def _decode(chunk: Chunk, problems: list[str]) -> tuple[str, set[int]]:
    """Chunk text; a line that is not UTF-8 is reported on its own line and skipped."""
    try:
        return chunk.data.decode("utf-8"), set()
    except UnicodeDecodeError:
        bad: set[int] = set()
        for offset, raw in enumerate(chunk.data.split(b"\n")):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad.add(chunk.first_line + offset)
                problems.append(
                    f"line {chunk.first_line + offset}: row: not UTF-8 text ({exc.reason} at "
                    f"byte {exc.start + 1} of the line)"
                )
        return chunk.data.decode("utf-8", errors="surrogateescape"), bad


def _csv_rows(chunk: Chunk, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    header = chunk.header or ()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=chunk.delimiter)
    base = chunk.first_line - 1
    for fields in reader:
        if not fields:
            continue  # blank line, as csv.DictReader skips them
        line = base + reader.line_num
        if len(fields) > len(header):
            yield line, {"__extra__": "row has more fields than the header"}
            continue
        yield (
            line,
            {name: value for name, value in zip(header, fields, strict=False) if value != ""},
        )


def _jsonl_rows(chunk: Chunk, content: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for offset, text in enumerate(content.split("\n")):
        if not text.strip():
            continue
        line = chunk.first_line + offset
        try:
            obj = json.loads(text, parse_float=Decimal)
        except (ValueError, RecursionError) as exc:
            # JSONDecodeError has .msg; the int-size limit raises a plain ValueError and very
            # deep nesting a RecursionError: both are bad rows, not crashes.
            reason = getattr(exc, "msg", None) or str(exc).split(":")[0]
            yield line, {"__extra__": f"not valid JSON ({reason})"}
            continue
        if not isinstance(obj, dict):
            yield line, {"__extra__": "a JSONL line must be an object"}
            continue
        yield line, obj


def validate_chunk(
    chunk: Chunk, builder: RowBuilder, to_file: bool, directory: str | None = None
) -> ChunkResult:
    """Build, canonicalize and hash every row of a chunk; collect every problem."""
    result = ChunkResult()
    items: list[SpoolItem] = []
    text, bad_lines = _decode(chunk, result.problems)
    rows = _csv_rows(chunk, text) if chunk.header is not None else _jsonl_rows(chunk, text)
    try:
        for line, row in rows:
            if line in bad_lines:
                continue  # already reported as not UTF-8
            try:
                payload = builder.build(row)
            except RowProblems as exc:
                result.problems.extend(f"line {line}: {f}: {m}" for f, m in exc.problems)
                continue
            values = record_values(payload)
            result.record_rows.append(row_facts(line, values))
            if "supersedes" in payload:
                result.targets.append((line, "supersedes", payload["supersedes"]))
            if result.problems:
                continue  # this chunk will not be written: skip the work
            data = canonical_bytes(payload)
            items.append((line, "record", data, values))
            result.leaves.append(merkle.leaf_hash(data))
    except csv.Error as exc:
        result.problems.append(f"line {chunk.first_line}: row: malformed CSV ({exc})")
    if result.problems:
        result.leaves = []
    elif to_file and items:
        result.path = write_chunk_file(items, directory)
    else:
        result.items = items
    return result


def _read_header(
    raw: IO[bytes], sha: Any, delimiter: str | None = None
) -> tuple[tuple[str, ...], bytes, str]:
    """The CSV header line (BOM stripped), whatever was read past it, and the delimiter.

    Without an explicit ``delimiter`` the header decides: a spreadsheet saved with a
    semicolon (or tab) list separator has more of those than commas in its header line.
    Header problems are reported here, once, not once per data row.
    """
    data = b""
    while b"\n" not in data:
        block = raw.read(1 << 16)
        if not block:
            break
        sha.update(block)
        data += block
    head, _, rest = data.partition(b"\n")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"line 1: header: not UTF-8 text ({exc.reason})") from exc
    if delimiter is None:
        delimiter = max(DELIMITERS, key=text.count)  # ties keep the comma (first)
    try:
        header = tuple(name.strip() for name in next(csv.reader([text], delimiter=delimiter), []))
    except csv.Error as exc:
        raise InputError(f"line 1: header: malformed CSV ({exc})") from exc
    if header:
        problems = [
            f"line 1: header: unknown column {name!r}{did_you_mean(name, HEADER_COLUMNS)}"
            for name in header
            if name not in HEADER_COLUMNS
        ]
        missing = [name for name in REQUIRED_HEADER if name not in header]
        if missing:
            problems.append(f"line 1: header: missing column(s) {', '.join(sorted(missing))}")
        if problems:
            if len(problems) == 1:
                raise InputError(problems[0])
            raise InputError(f"{len(problems)} problems in the header line", problems)
    return header, rest, delimiter


def _cut(data: bytes) -> int:
    """Index just past the last newline in ``data`` (0 if none): a JSONL record boundary."""
    return data.rfind(b"\n") + 1


class _CsvScanner:
    """Feeds a real ``csv.reader`` the file's lines, remembering the text it consumed.

    A CSV record boundary is wherever Python's ``csv`` finishes a record, and nothing
    simpler finds it: counting quotes is fooled by a field like ``48x40" pallets`` (a quote
    inside an unquoted field is data), which then makes a later quoted multi-line note look
    like record boundaries. So the parent runs the reader itself over the whole file (the C
    parser costs about a microsecond a record) and cuts a chunk only right after a record the
    reader has finished, at the end of a physical line. Lines are split as ``newline=""``
    text files split them, exactly as the workers' readers split them. Bytes that are not
    UTF-8 ride through as surrogates and are encoded back unchanged; the worker reports them.
    """

    def __init__(self, raw: IO[bytes], first: bytes, sha: Any, progress: Any) -> None:
        self.raw, self.sha, self.progress = raw, sha, progress
        self.partial = first  # read from the file, not yet decoded (no newline yet)
        self.text = ""  # decoded since the last cut
        self.consumed = 0  # characters of ``text`` the reader has taken

    def lines(self) -> Iterator[str]:
        eof = False
        while not eof:
            block = self.raw.read(CHUNK_BYTES)
            if block:
                self.sha.update(block)
                if self.progress is not None:
                    self.progress(len(block))
                data = self.partial + block
                end = data.rfind(b"\n") + 1
                complete, self.partial = data[:end], data[end:]
            else:
                eof, complete, self.partial = True, self.partial, b""
            text = complete.decode("utf-8", errors="surrogateescape")
            self.text += text
            for line in io.StringIO(text, newline=""):
                self.consumed += len(line)
                yield line

    def cut(self) -> bytes:
        """The consumed text as the file's bytes; the scanner goes on from there."""
        taken, self.text = self.text[: self.consumed], self.text[self.consumed :]
        self.consumed = 0
        return taken.encode("utf-8", errors="surrogateescape")


def _csv_chunks(
    raw: IO[bytes],
    header: tuple[str, ...],
    first: bytes,
    sha: Any,
    progress: Any,
    size: int,
    delimiter: str = ",",
) -> Iterator[Chunk]:
    scanner = _CsvScanner(raw, first, sha, progress)
    reader = csv.reader(scanner.lines(), delimiter=delimiter)
    line = 2
    try:
        for _fields in reader:
            # a line ending "\r" is whole too: blocks are decoded up to a "\n", so a "\r\n"
            # pair is never split and a lone "\r" ends the line for the workers' readers too
            if scanner.consumed >= size and scanner.text[scanner.consumed - 1] in "\r\n":
                data = scanner.cut()
                yield Chunk(line, data, header, delimiter)
                line += data.count(b"\n")
    except csv.Error as exc:  # structural (a NUL, an over-long field): nothing to split
        raise InputError(f"line {reader.line_num + 1}: row: malformed CSV ({exc})") from exc
    data = scanner.cut()
    if data:
        yield Chunk(line, data, header, delimiter)


def read_chunks(
    raw: IO[bytes],
    csv_mode: bool,
    sha: Any,
    progress: Callable[[int], None] | None = None,
    size: int | None = None,
    delimiter: str | None = None,
) -> Iterator[Chunk]:
    """Read the file once, hashing it, and yield chunks that end on record boundaries."""
    size = CHUNK_BYTES if size is None else size
    buffer, line = b"", 1
    if csv_mode:
        header, buffer, delimiter = _read_header(raw, sha, delimiter)
        if header:
            yield from _csv_chunks(raw, header, buffer, sha, progress, size, delimiter)
        return
    if (buffer := raw.read(3)) == b"\xef\xbb\xbf":  # a UTF-8 BOM before JSONL
        sha.update(buffer)
        buffer = b""
    else:
        sha.update(buffer)
    while True:
        block = raw.read(size)
        if block:
            sha.update(block)
            if progress is not None:
                progress(len(block))
            buffer += block
        cut = len(buffer) if not block else _cut(buffer)
        if cut and (not block or len(buffer) >= size):
            data, buffer = buffer[:cut], buffer[cut:]
            yield Chunk(line, data, None)
            line += data.count(b"\n")
        if not block:
            return


_WORKER: tuple[RowBuilder, str] | None = None
_SPOOL_PREFIX = "carbon-ledger-import-"


def _init_worker(builder: RowBuilder, directory: str) -> None:
    global _WORKER
    _WORKER = (builder, directory)


def _work(chunk: Chunk) -> ChunkResult:
    assert _WORKER is not None
    return validate_chunk(chunk, _WORKER[0], to_file=True, directory=_WORKER[1])


def _sweep_orphans() -> None:
    """Remove spool directories of imports whose process is gone (killed mid-import)."""
    for path in Path(tempfile.gettempdir()).glob(f"{_SPOOL_PREFIX}*"):
        pid = path.name.removeprefix(_SPOOL_PREFIX).split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            continue  # another user's live process


@dataclass
class Pass1:
    spool: Spool
    problems: list[str]
    rules: SubmissionRules  # record ids and targets, checked against the ledger later
    source_sha256: str


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


def validate_file(
    raw: IO[bytes],
    file_size: int,
    csv_mode: bool,
    builder: RowBuilder,
    jobs: int | None = None,
    progress: Callable[[int], None] | None = None,
    supplier_id: str = "",
    delimiter: str | None = None,
) -> Pass1:
    """Validate a whole file into a spool; report every problem. Memory stays bounded."""
    sha = hashlib.sha256()
    _sweep_orphans()
    directory = tempfile.mkdtemp(prefix=f"{_SPOOL_PREFIX}{os.getpid()}-")
    spool = Spool(directory)
    out = Pass1(spool, [], SubmissionRules(supplier_id, directory), "")

    def take(result: ChunkResult) -> None:
        out.problems.extend(result.problems)
        out.rules.add_records(result.record_rows)
        out.rules.add_targets(result.targets)
        if result.path is not None:
            spool.add_chunk_file(result.path, result.leaves)
        elif result.items:
            for item, leaf in zip(result.items, result.leaves, strict=True):
                spool.add(*item, leaf=leaf)

    chunks = read_chunks(raw, csv_mode, sha, progress, delimiter=delimiter)
    jobs = default_jobs() if jobs is None else jobs
    try:
        if jobs <= 1 or file_size < PARALLEL_MIN_BYTES:
            for chunk in chunks:
                take(validate_chunk(chunk, builder, to_file=False))
        else:
            context = multiprocessing.get_context("fork")
            with context.Pool(
                jobs, initializer=_init_worker, initargs=(builder, directory)
            ) as pool:
                pending: deque[Any] = deque()
                for chunk in chunks:
                    pending.append(pool.apply_async(_work, (chunk,)))
                    if len(pending) >= 2 * jobs:
                        take(pending.popleft().get())
                while pending:
                    take(pending.popleft().get())
    except BaseException:
        out.rules.close()
        spool.close()
        raise
    out.source_sha256 = sha.hexdigest()
    return out
