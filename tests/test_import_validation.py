"""Import validation (SPEC §5): every bad row is reported as ``line N: field: ...``; nothing is
written when any row is bad."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from ledger import audit, keys, records
from ledger.accounting import RECORD_COLUMNS
from ledger.errors import InputError, LedgerError
from ledger_cli.main import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
WATER = "6923451000013"
HEADER = ("record_id,product_id,stage,activity,amount,unit,factor_id,co2e_kg,units_covered,"
          "period_start,period_end,data_quality,distance_km,mass_kg,evidence_sha256")


@dataclass
class World:
    engine: Engine
    url: str
    db_path: Path
    key_dir: Path
    bev: Ed25519PrivateKey


@pytest.fixture
def world_sqlite(tmp_path: Path, key_dir: Path, make_world: Callable[..., Any]) -> World:
    """The sample operator, suppliers, factors and products on a real SQLite file."""
    db_path = tmp_path / "l.db"
    built = make_world(f"sqlite:///{db_path}", "test.example/import")
    return World(built["engine"], built["url"], db_path, key_dir, built["keys"]["sup-bev"])


def entry_state(engine: Engine) -> tuple[int, str]:
    """(entry count, SHA-256 over every entry's bytes in seq order)."""
    digest = hashlib.sha256()
    count = 0
    with engine.connect() as conn:
        for (data,) in conn.execute(text("SELECT entry_bytes FROM entries ORDER BY seq")):
            digest.update(hashlib.sha256(bytes(data)).digest())
            count += 1
    return count, digest.hexdigest()


def file_state(db_path: Path) -> tuple[str, str]:
    """SHA-256 of the SQLite file and of its WAL (a missing WAL counts as empty)."""
    wal = db_path.with_name(db_path.name + "-wal")
    return (hashlib.sha256(db_path.read_bytes()).hexdigest(),
            hashlib.sha256(wal.read_bytes() if wal.exists() else b"").hexdigest())


def co2e_of(engine: Engine, record_id: str) -> tuple[str, str, str]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT amount, unit, co2e_kg FROM records WHERE record_id = :r"),
                           {"r": record_id}).one()
    return str(row[0]), str(row[1]), str(row[2])


BAD_CSV = "\n".join([
    HEADER,
    # line 2: fine
    f"ok-1,{WATER},production,electricity,100,kWh,cn-grid-electricity,,10,2025-01-01,2025-02-01,"
    "secondary,,,",
    f"bad-date,{WATER},production,electricity,100,kWh,cn-grid-electricity,,10,2025-13-01,"
    "2025-02-01,secondary,,,",
    f"neg,{WATER},production,electricity,-5,kWh,cn-grid-electricity,,10,2025-01-01,2025-02-01,"
    "secondary,,,",
    f"stage,{WATER},assembly,electricity,100,kWh,cn-grid-electricity,,10,2025-01-01,2025-02-01,"
    "secondary,,,",
    f"no-uc,{WATER},production,electricity,100,kWh,cn-grid-electricity,,,2025-01-01,2025-02-01,"
    "secondary,,,",
    # line 7: 100 kWh x 0.5306 is 53.06
    f"disagree,{WATER},production,electricity,100,kWh,cn-grid-electricity,53.07,10,2025-01-01,"
    "2025-02-01,secondary,,,",
    f"exp,{WATER},production,electricity,1e3,kWh,cn-grid-electricity,,10,2025-01-01,2025-02-01,"
    "secondary,,,",
    # line 9: fine
    f"ok-2,{WATER},transport,road_freight,,,desnz-hgv-average,,10,2025-01-01,2025-02-01,"
    "secondary,120,5000,",
    f"tr,{WATER},transport,road_freight,,,desnz-hgv-average,,10,2025-01-01,2025-02-01,"
    "secondary,120,,",
    f"meas,{WATER},production,electricity,100,kWh,,12.5,10,2025-01-01,2025-02-01,primary,,,",
]) + "\n"
BAD_CSV_PROBLEMS = [
    "line 3: period_start: '2025-13-01' is not a valid calendar date",
    "line 4: amount: -5 must not be negative",
    "line 5: stage: 'assembly' is not one of production, warehousing, transport, packaging",
    "line 6: units_covered: is required",
    "line 7: co2e_kg: stated 53.07 but amount × factor is 53.06",
    "line 8: amount: '1e3' is not a plain decimal number like 1200.5",
    "line 10: mass_kg: give both or neither",
    "line 11: evidence_sha256: a measured co2e_kg needs evidence_sha256",
]


@pytest.mark.parametrize("dry_run", [False, True])
def test_bad_csv_lists_every_bad_row_and_writes_nothing(
    world_sqlite: World, tmp_path: Path, dry_run: bool
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(BAD_CSV, encoding="utf-8")
    before_entries = entry_state(world_sqlite.engine)
    world_sqlite.engine.dispose()  # checkpoint the WAL so that the files are at rest
    before_files = file_state(world_sqlite.db_path)

    args = ["--db", world_sqlite.url, "import", str(path), "--supplier", "sup-bev",
            "--key", str(world_sqlite.key_dir / "sup-bev.key")]
    result = CliRunner().invoke(cli, args + (["--dry-run"] if dry_run else []))

    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "Error: 8 problem(s) in bad.csv; nothing was written"
    assert [line.strip() for line in lines[1:]] == BAD_CSV_PROBLEMS
    assert all(line.startswith("  line ") for line in lines[1:])
    assert file_state(world_sqlite.db_path) == before_files
    assert entry_state(world_sqlite.engine) == before_entries


def test_bad_jsonl_line_numbers_count_blank_lines(world_sqlite: World, tmp_path: Path) -> None:
    good = {"product_id": WATER, "stage": "production", "activity": "electricity",
            "amount": "1", "unit": "kWh", "factor_id": "cn-grid-electricity",
            "units_covered": "1", "period_start": "2025-01-01", "period_end": "2025-02-01"}
    lines = [
        json.dumps(good),
        "",
        json.dumps({**good, "units_covered": None}),
        "{not json",
        "[1, 2]",
        json.dumps({**good, "note": "\ud800"}),  # a lone surrogate, escaped as \ud800
        json.dumps(good)[:-1] + ', "units_covered": ' + "9" * 5000 + "}",
        "[" * 50_000 + "]" * 50_000,
        json.dumps({**good, "factor_version": "\u00b2"}),
        json.dumps({**good, "amount": True, "colour": "green"}),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = entry_state(world_sqlite.engine)
    with pytest.raises(InputError) as info:
        records.import_records(world_sqlite.engine, path, "sup-bev", world_sqlite.bev)
    assert str(info.value) == "10 problem(s) in bad.jsonl; nothing was written"
    problems = info.value.problems
    assert problems[:4] == [
        "line 3: units_covered: is required",
        "line 4: row: not valid JSON (Expecting property name enclosed in double quotes)",
        "line 5: row: a JSONL line must be an object",
        "line 6: note: contains a lone surrogate, which is not valid Unicode",
    ]
    # the wording of these two comes from the json module; the line and field are ours
    assert problems[4].startswith("line 7: row: not valid JSON (")
    assert "4300 digits" in problems[4]
    assert problems[5].startswith("line 8: row: not valid JSON (maximum recursion depth")
    assert problems[6:] == [
        "line 9: factor_version: '²' is not a whole number",
        "line 10: amount: expected text, got True",
        "line 10: colour: unknown column",
        "line 10: amount: is required (or distance_km and mass_kg for transport)",
    ]
    assert entry_state(world_sqlite.engine) == before


# ---------------------------------------------------------------- JSONL numbers, conversions


def test_jsonl_decimals_and_strings_give_the_same_co2e_as_csv(
    world_sqlite: World, tmp_path: Path
) -> None:
    csv_path = tmp_path / "r.csv"
    csv_path.write_text(
        "record_id,product_id,stage,activity,amount,unit,factor_id,factor_version,units_covered,"
        "period_start,period_end,data_quality,reuse_cycles\n"
        f"c-1,{WATER},production,electricity,27045.3,kWh,cn-grid-electricity,1,88374,2024-01-01,"
        "2024-02-01,secondary,\n"
        f"c-2,{WATER},packaging,reusable_crate,27838.80,kg,desnz-pp-crate,,30931,2024-01-01,"
        "2024-02-01,secondary,50\n",
        encoding="utf-8",
    )
    numbers = tmp_path / "numbers.jsonl"
    numbers.write_text(
        '{"record_id":"n-1","product_id":"' + WATER + '","stage":"production",'
        '"activity":"electricity","amount":27045.3,"unit":"kWh",'
        '"factor_id":"cn-grid-electricity","factor_version":1,"units_covered":88374,'
        '"period_start":"2024-01-01","period_end":"2024-02-01"}\n'
        '{"record_id":"n-2","product_id":"' + WATER + '","stage":"packaging",'
        '"activity":"reusable_crate","amount":27838.80,"unit":"kg","factor_id":"desnz-pp-crate",'
        '"units_covered":30931,"period_start":"2024-01-01","period_end":"2024-02-01",'
        '"reuse_cycles":50}\n',
        encoding="utf-8",
    )
    strings = tmp_path / "strings.jsonl"
    with strings.open("w", encoding="utf-8") as handle:
        for rid, stage, activity, amount, unit, fid, version, covered, reuse in [
            ("s-1", "production", "electricity", "27045.3", "kWh", "cn-grid-electricity", "1",
             "88374", None),
            ("s-2", "packaging", "reusable_crate", "27838.8", "kg", "desnz-pp-crate", None,
             "30931", "50"),
        ]:
            row = {"record_id": rid, "product_id": WATER, "stage": stage, "activity": activity,
                   "amount": amount, "unit": unit, "factor_id": fid, "factor_version": version,
                   "units_covered": covered, "period_start": "2024-01-01",
                   "period_end": "2024-02-01", "reuse_cycles": reuse}
            handle.write(json.dumps(row) + "\n")
    for path in (csv_path, numbers, strings):  # the same records three times, on purpose
        report = records.import_records(world_sqlite.engine, path, "sup-bev", world_sqlite.bev,
                                        allow_duplicate=True)
        assert report.rows == 2 and report.result is not None
    for prefix in ("c", "n", "s"):
        assert co2e_of(world_sqlite.engine, f"{prefix}-1") == ("27045.3", "kWh", "14512.50798")
        assert co2e_of(world_sqlite.engine, f"{prefix}-2") == (
            "27838.8", "kg", "1430.12866452192")
    assert audit.verify_database(world_sqlite.engine).records == 6


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        # tkm = distance_km x mass_kg / 1000, then x 0.12522 kgCO2e/tkm
        ("d-1,transport,road_freight,,,desnz-hgv-average,1276,97038.9",
         ("123821.6364", "tkm", "15504.945310008")),
        ("d-2,transport,road_freight,,,desnz-hgv-average,0.5,0.001",
         ("0.0000005", "tkm", "0.00000006261")),
        # 30 significant digits in: the conversion must stay exact, not round to 28 digits
        ("d-3,transport,road_freight,,,desnz-hgv-average,1234567890.12345,98765432.1234567",
         ("121932631153786.750221003729615", "tkm", "15268404073077.1768626740870223903")),
        # t -> kg for a per-kg factor, g -> kg, L -> m3
        ("t-1,packaging,corrugated_box,4.479,t,desnz-corrugated-board,,",
         ("4.479", "t", "5373.59067")),
        ("t-2,packaging,corrugated_box,3.969,t,desnz-corrugated-board,,",
         ("3.969", "t", "4761.72837")),
        ("g-1,packaging,plastic_film,250,g,desnz-plastic-film,,", ("250", "g", "0.7291275")),
        ("l-1,production,natural_gas,500,L,cn-natural-gas,,", ("500", "L", "1.0811")),
        ("m-1,production,electricity,2.5,MWh,cn-grid-electricity,,", ("2.5", "MWh", "1326.5")),
        ("j-1,production,electricity,1,GJ,cn-grid-electricity,,",
         ("1", "GJ", "147.388888888889")),
    ],
)
def test_conversions_give_exact_co2e(
    world_sqlite: World, tmp_path: Path, row: str, expected: tuple[str, str, str]
) -> None:
    path = tmp_path / "conv.csv"
    path.write_text(
        "record_id,stage,activity,amount,unit,factor_id,distance_km,mass_kg,product_id,"
        "units_covered,period_start,period_end\n"
        f"{row},{WATER},10,2025-01-01,2025-02-01\n",
        encoding="utf-8",
    )
    records.import_records(world_sqlite.engine, path, "sup-logi",
                           keys.load_private(world_sqlite.key_dir / "sup-logi.key"))
    assert co2e_of(world_sqlite.engine, row.split(",")[0]) == expected
    audit.verify_database(world_sqlite.engine)


# ---------------------------------------------------------------- hypothesis: malformed files

VALID_ROWS: list[dict[str, Any]] = [
    {"product_id": WATER, "stage": "production", "activity": "electricity", "amount": "100.5",
     "unit": "kWh", "factor_id": "cn-grid-electricity", "units_covered": "10",
     "period_start": "2025-01-01", "period_end": "2025-02-01"},
    {"product_id": WATER, "stage": "transport", "activity": "road_freight",
     "factor_id": "desnz-hgv-average", "distance_km": "120", "mass_kg": "5000.5",
     "units_covered": "3", "period_start": "2025-01-01", "period_end": "2025-01-02"},
    {"product_id": WATER, "stage": "packaging", "activity": "reusable_crate", "amount": "1.8",
     "unit": "t", "factor_id": "desnz-pp-crate", "reuse_cycles": "3", "units_covered": "7",
     "period_start": "2025-01-01", "period_end": "2025-02-01", "data_quality": "primary"},
    {"product_id": WATER, "stage": "production", "activity": "electricity", "amount": "25",
     "unit": "kWh", "co2e_kg": "12.5",
     "data_quality": "primary", "evidence_sha256": "ab" * 32, "units_covered": "1",
     "period_start": "2025-03-01", "period_end": "2025-04-01", "note": "meter 中 \U0001f600"},
]
ODD = ["", " ", "-1", "-0", "0", "0.0", "1e3", "1E+3", "NaN", "Infinity", "9" * 40,
       "999999999999999", "1000000000000000", "0." + "0" * 40 + "1", "+5", ".5", "5.", "1_000",
       "0x10", "１２", "𝟙", "2025-02-30", "2025-13-01", "2025-1-1", "20250101", "kwh", "KG",
       "tkm", "piece", "transport", "primary", "\x00", "\x1b[31m", "a\nb", 'q"q', "\u202e",
       "\ud800", "\udfff", "x\udc80y", "\U0001f600", "cn-grid-electricity", WATER]
odd_values = st.one_of(
    st.sampled_from(ODD),
    st.text(max_size=8),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=4),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=3,
                min_value=-(10**16), max_value=10**16).map(str),
    st.integers(min_value=-(2**80), max_value=2**80),  # raw JSON numbers
    st.decimals(allow_nan=False, allow_infinity=False, places=4,
                min_value=-(10**6), max_value=10**6),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)


@st.composite
def malformed_row(draw: st.DrawFn) -> dict[str, Any]:
    row = dict(draw(st.sampled_from(VALID_ROWS)))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        action = draw(st.sampled_from(["set", "set", "delete", "extra"]))
        if action == "set":
            row[draw(st.sampled_from(RECORD_COLUMNS))] = draw(odd_values)
        elif action == "delete" and row:
            row.pop(draw(st.sampled_from(sorted(row))))
        else:
            row[draw(st.text(max_size=6))] = draw(odd_values)
    return row


def _jsonl_value(value: Any, raw: list[str]) -> Any:
    if isinstance(value, Decimal):  # written as a bare JSON number, read back as Decimal
        raw.append(str(value))
        return f"@@raw{len(raw) - 1}@@"
    return value


def render(kind: str, rows: list[dict[str, Any]], shape: str) -> bytes:
    """Serialize rows as CSV or JSONL, with some deliberately broken file shapes."""
    if kind == "jsonl":
        lines = []
        for row in rows:
            raw: list[str] = []
            text_ = json.dumps({k: _jsonl_value(v, raw) for k, v in row.items()})
            for i, number in enumerate(raw):
                text_ = text_.replace(f'"@@raw{i}@@"', number)
            lines.append(text_)
        if shape == "garbage_line":
            lines.insert(len(lines) // 2, "{oops")
        body = "\n".join(lines) + ("\n" if lines else "")
        return body.encode("utf-8")  # json.dumps escapes lone surrogates as \udXXX
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    if not columns:
        columns = ["product_id", "stage", "activity"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n" if shape == "crlf" else "\n")
    writer.writerow(columns)
    for row in rows:
        cells = ["" if row.get(c) is None else str(row.get(c)) for c in columns]
        if shape == "short_row":
            cells = cells[:-1]
        elif shape == "long_row":
            cells.append("surplus")
        writer.writerow(cells)
    data = out.getvalue()
    if shape == "header_only":
        data = data.splitlines(keepends=True)[0]
    elif shape == "empty":
        data = ""
    prefix = "\ufeff" if shape == "bom" else ""
    return (prefix + data).encode("utf-8", errors="surrogatepass")


_files = itertools.count()


@settings(max_examples=70, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["csv", "jsonl"]),
    rows=st.lists(malformed_row(), min_size=0, max_size=3),
    shape=st.sampled_from(["normal", "normal", "normal", "crlf", "bom", "short_row", "long_row",
                           "header_only", "empty", "garbage_line"]),
)
def test_malformed_imports_fail_cleanly_or_verify(
    world_sqlite: World, tmp_path: Path, kind: str, rows: list[dict[str, Any]], shape: str
) -> None:
    path = tmp_path / f"f{next(_files)}.{kind}"
    path.write_bytes(render(kind, rows, shape))
    before = entry_state(world_sqlite.engine)
    try:
        report = records.import_records(world_sqlite.engine, path, "sup-bev", world_sqlite.bev,
                                        allow_duplicate=True)
    except LedgerError as exc:
        event(f"refused: {type(exc).__name__}")
        assert str(exc)
        assert entry_state(world_sqlite.engine) == before
        return
    event("imported")
    assert report.result is not None and report.rows >= 1
    count, _ = entry_state(world_sqlite.engine)
    assert count == before[0] + report.rows + 1
    verified = audit.verify_database(world_sqlite.engine)
    assert verified.entries == count


def test_valid_rows_of_the_generator_import(world_sqlite: World, tmp_path: Path) -> None:
    """The generator's base rows are valid, so the property test does exercise successes."""
    for kind in ("csv", "jsonl"):
        path = tmp_path / f"valid.{kind}"
        path.write_bytes(render(kind, [dict(r) for r in VALID_ROWS], "normal"))
        report = records.import_records(world_sqlite.engine, path, "sup-bev", world_sqlite.bev,
                                        allow_duplicate=True)  # csv, then jsonl of the same rows
        assert report.rows == len(VALID_ROWS)
    assert audit.verify_database(world_sqlite.engine).records == 2 * len(VALID_ROWS)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty.csv holds no records; nothing was written"),
        ("header.csv", HEADER.encode() + b"\n", "header.csv holds no records; nothing was written"),
        ("blank.jsonl", b"\n \n", "blank.jsonl holds no records; nothing was written"),
        ("cols.csv", b"product_id,amount\nx,1\n",
         "line 1: header: missing column(s) activity, stage"),
        ("latin1.csv", "product_id,stage,activity\nCaf\u00e9,a,b\n".encode("latin-1"),
         "not UTF-8 text (invalid continuation byte"),
        ("records.txt", b"x", "unknown file type '.txt'; use .csv or .jsonl"),
    ],
)
def test_file_level_refusals(
    world_sqlite: World, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    before = entry_state(world_sqlite.engine)
    with pytest.raises(InputError) as info:
        records.import_records(world_sqlite.engine, path, "sup-bev", world_sqlite.bev)
    # the reason is in the message, or in the per-line problems listed under it
    reported = [str(info.value), *info.value.problems]
    assert any(message in line for line in reported), reported
    assert entry_state(world_sqlite.engine) == before


def test_missing_file_is_an_input_error(world_sqlite: World, tmp_path: Path) -> None:
    path = tmp_path / "gone.csv"
    with pytest.raises(InputError) as info:
        records.import_records(world_sqlite.engine, path, "sup-bev", world_sqlite.bev)
    assert str(info.value) == f"cannot read {path}: No such file or directory"


def test_sample_files_copy_cleanly(world_sqlite: World, tmp_path: Path) -> None:
    """A real sample file imports, and a byte-identical copy is refused as a duplicate."""
    source = SAMPLES / "records" / "sup-bev-2024.csv"
    copy = tmp_path / "copy.csv"
    shutil.copyfile(source, copy)
    report = records.import_records(world_sqlite.engine, source, "sup-bev", world_sqlite.bev)
    assert report.rows == 84
    before = entry_state(world_sqlite.engine)
    with pytest.raises(LedgerError) as info:
        records.import_records(world_sqlite.engine, copy, "sup-bev", world_sqlite.bev)
    assert str(info.value) == (
        f"this file (sha256 {report.source_sha256[:16]}…) was already imported in the "
        f"submission at seq {report.result.submission_seq if report.result else -1}; "
        "use --allow-duplicate to import it again"
    )
    assert entry_state(world_sqlite.engine) == before


@pytest.mark.parametrize(
    "content",
    [
        # a bare CR inside an unquoted header name: the csv module raises csv.Error
        b"product_id,stage,activity,\rx\n" + WATER.encode() + b",production,electricity,1\n",
        b"product_id,stage,activity\r\n" + WATER.encode() + b",production,elec\rtricity\n",
        b'product_id,stage,activity\n"unterminated,production,electricity\n',
    ],
    ids=["cr-in-header", "cr-in-row", "open-quote"],
)
def test_malformed_csv_is_an_input_error(
    world_sqlite: World, tmp_path: Path, content: bytes
) -> None:
    """Found by the property test above: a malformed CSV must be a LedgerError, not a crash."""
    path = tmp_path / "malformed.csv"
    path.write_bytes(content)
    before = entry_state(world_sqlite.engine)
    with pytest.raises(InputError):
        records.import_records(world_sqlite.engine, path, "sup-bev", world_sqlite.bev)
    assert entry_state(world_sqlite.engine) == before


def test_non_utf8_byte_is_reported_on_its_own_line(world_sqlite: World, tmp_path: Path) -> None:
    good = (f"{WATER},production,electricity,1,kWh,cn-grid-electricity,1,2025-01-01,"
            "2025-02-01\n").encode()
    path = tmp_path / "latin1-late.csv"
    path.write_bytes(
        b"product_id,stage,activity,amount,unit,factor_id,units_covered,period_start,period_end\n"
        + good * 6  # lines 2-7
        + b"6923451000013,production,electricity,1,kWh,cn-grid-electricity,1,2025-01-01,"
        b"2025-02-01,Caf\xe9\n"  # line 8: a Latin-1 byte
        + good
    )
    before = entry_state(world_sqlite.engine)
    with pytest.raises(InputError) as info:
        records.import_records(world_sqlite.engine, path, "sup-bev", world_sqlite.bev)
    reported = [str(info.value), *info.value.problems]
    assert any("not UTF-8" in line for line in reported), reported
    # if the problem names a line, it must be the line that holds the bad byte
    assert all(line.startswith("line 8:") for line in reported if "not UTF-8" in line
               and line.startswith("line ")), reported
    assert entry_state(world_sqlite.engine) == before
