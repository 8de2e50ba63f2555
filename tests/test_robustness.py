"""Every bad input is an `Error:` and exit 1, never a traceback or a partial write (13.5).

The named cases are the crashes an adversarial pass found; the hypothesis tests mutate real
labels, bundles, checkpoints and import files at random and assert the same contract.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import bundle, query, records, transparency
from ledger.canonical import canonical_bytes
from ledger.labels.export import compute, statement_seqs
from ledger.outputs import read_rows as read_output_rows
from ledger_cli.main import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
WATER = "6923451000013"
_TEMPLATE: dict[str, Path] = {}


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url  # raw file edits below use sqlite3; the contract is the same on both


@pytest.fixture
def audited(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """A ledger with records, a checkpoint (seen.cp), a JSON label and an export bundle.

    Built once per session in a template directory and copied for each test.
    """
    if "dir" not in _TEMPLATE:
        template = tmp_path.parent / "robustness-template"
        template.mkdir(exist_ok=True)
        world = request.getfixturevalue("make_world")(f"sqlite:///{template / 'ledger.db'}")
        engine = world["engine"]
        records.declare_outputs(
            engine,
            "sup-bev",
            world["keys"]["sup-bev"],
            read_output_rows(SAMPLES / "outputs" / "sup-bev-2025.csv"),
        )
        records.import_records(
            engine, SAMPLES / "records" / "sup-bev-2025.csv", "sup-bev", world["keys"]["sup-bev"]
        )
        transparency.sign_checkpoint(engine, world["operator"])
        window = query.parse_window("2025-01-01", "2026-01-01")
        seqs, _skipped = statement_seqs(engine, [WATER], window, world["operator"], "checkpoint")
        label = compute(engine, WATER, window, seqs[WATER])
        cp = transparency.sign_checkpoint(engine, world["operator"])
        (template / "seen.cp").write_text(cp.note, encoding="utf-8")
        (template / "label.json").write_text(json.dumps(label.document), encoding="utf-8")
        bundle.export_bundle(engine, template / "bundle.jsonl")
        engine.dispose()
        shutil.copytree(world["key_dir"], template / "keys")
        _TEMPLATE["dir"] = template
    here = tmp_path / "copy"
    shutil.copytree(_TEMPLATE["dir"], here)
    for key in (here / "keys").glob("*.key"):
        key.chmod(0o600)
    return {"dir": here, "url": f"sqlite:///{here / 'ledger.db'}", "keys": here / "keys"}


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def assert_clean_refusal(result: Result, message: str | None = None) -> None:
    """Exit 1 with `Error: …` on stderr; never an uncaught exception."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: "), result.stderr
    if message is not None:
        assert message in result.stderr, result.stderr


# ---- named cases ---------------------------------------------------------------------------


def test_verify_checkpoint_that_is_not_utf8(audited: dict[str, Any]) -> None:
    bad = audited["dir"] / "bad.cp"
    bad.write_bytes(b"\xff\xfe not a note\n")
    result = run("--db", audited["url"], "verify", "--checkpoint", str(bad))
    assert_clean_refusal(result, f"Error: {bad} is not UTF-8 text")


def label_with(audited: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> Path:
    doc = json.loads((audited["dir"] / "label.json").read_text(encoding="utf-8"))
    change(doc)
    path = audited["dir"] / "mutated.label.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _set(*path: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        # a forger recomputes the digest, so the structure itself must be checked
        from ledger.labels.offline import evidence_digest

        if isinstance(doc.get("evidence"), dict):
            with contextlib.suppress(Exception):  # an unencodable value: leave the digest
                doc["evidence_sha256"] = evidence_digest(doc["evidence"])

    return change


@pytest.mark.parametrize(
    "change",
    [
        _set("evidence", value=[]),
        _set("evidence", value="x"),
        _set("evidence", "entries", value=[]),
        _set("evidence", "entries", value={"0": 5}),
        _set("evidence", "entries", value={"x": "{}"}),
        _set("evidence", "nodes", value=[]),
        _set("evidence", "nodes", value={"0:1": 5}),
        _set("evidence", "nodes", value={"x": "ab"}),
        _set("evidence", "nodes", value={"1:0": "zz"}),
        _set("evidence", "submission_nodes", value={"a:b": "00"}),
        _set("evidence", "submission_nodes", value=[1]),
        _set("evidence", "tree_size", value="12"),
        _set("evidence", "checkpoint", value=5),
        _set("evidence", "origin", value=None),
        _set("window", value=[]),
        _set("product", value="x"),
    ],
)
def test_label_verify_on_wrongly_typed_evidence(audited: dict[str, Any], change: Any) -> None:
    path = label_with(audited, change)
    pub = audited["keys"] / "operator.key.pub"
    assert_clean_refusal(run("label", "verify", str(path), "--operator-pub", str(pub)))


def bundle_with(audited: dict[str, Any], change: Callable[[list[bytes]], None]) -> Path:
    lines = (audited["dir"] / "bundle.jsonl").read_bytes().splitlines()
    change(lines)
    path = audited["dir"] / "mutated.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _header(**fields: Any) -> Callable[[list[bytes]], None]:
    def change(lines: list[bytes]) -> None:
        header = json.loads(lines[0])
        for key, value in fields.items():
            if value is _DROP:
                del header[key]
            else:
                header[key] = value
        lines[0] = json.dumps(header).encode()

    return change


_DROP = object()


def _entry(change_obj: Callable[[dict[str, Any]], None]) -> Callable[[list[bytes]], None]:
    """Change the first record entry and re-canonicalize it (hashes no longer link)."""

    def change(lines: list[bytes]) -> None:
        for i, line in enumerate(lines):
            if line.startswith(b'{"kind":"record"'):
                obj = json.loads(line)
                change_obj(obj)
                lines[i] = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
                return

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_header(checkpoints="x"), "header"),
        (_header(checkpoints=None), "header"),
        (_header(tree_size=_DROP), "header"),
        (_entry(lambda o: o.pop("payload")), "entry envelope has the wrong fields"),
        (_entry(lambda o: o["payload"].pop("record_id")), "record_id"),
        (_entry(lambda o: o["payload"].update(amount="abc")), None),
        (_entry(lambda o: o["payload"].update(co2e_kg=None)), None),
    ],
)
def test_verify_bundle_on_malformed_bundles(
    audited: dict[str, Any], change: Any, message: str | None
) -> None:
    path = bundle_with(audited, change)
    assert_clean_refusal(run("verify", "--bundle", str(path)), message)


def raw_db(audited: dict[str, Any]) -> sqlite3.Connection:
    con = sqlite3.connect(audited["dir"] / "ledger.db", isolation_level=None)
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        con.execute(f"DROP TRIGGER {name}")
    return con


def first_record_seq(con: sqlite3.Connection) -> int:
    return int(con.execute("SELECT min(seq) FROM entries WHERE kind = 'record'").fetchone()[0])


def test_verify_on_text_entry_bytes(audited: dict[str, Any]) -> None:
    con = raw_db(audited)
    seq = first_record_seq(con)
    con.execute("UPDATE entries SET entry_bytes = CAST(entry_bytes AS TEXT) WHERE seq = ?", (seq,))
    con.close()
    result = run("--db", audited["url"], "verify")
    assert_clean_refusal(result, f"verification failed at seq {seq}: entry_bytes column is")


def test_verify_on_text_leaf_hash(audited: dict[str, Any]) -> None:
    con = raw_db(audited)
    seq = first_record_seq(con)
    con.execute("UPDATE entries SET leaf_hash = hex(leaf_hash) WHERE seq = ?", (seq,))
    con.close()
    result = run("--db", audited["url"], "verify")
    assert_clean_refusal(result, f"verification failed at seq {seq}: leaf_hash column is")


def test_verify_on_junk_genesis(audited: dict[str, Any]) -> None:
    con = raw_db(audited)
    con.execute("UPDATE entries SET entry_bytes = x'00ff7b7d' WHERE seq = 0")
    con.close()
    result = run("--db", audited["url"], "verify")
    assert_clean_refusal(result, "seq 0")


def test_verify_on_a_recanonicalized_row_with_recomputed_hashes(audited: dict[str, Any]) -> None:
    """A record without its record_id, re-encoded canonically, every later hash recomputed."""
    con = raw_db(audited)
    seq = first_record_seq(con)
    rows = con.execute("SELECT seq, entry_bytes FROM entries WHERE seq >= ? ORDER BY seq", (seq,))
    prev = con.execute("SELECT entry_hash FROM entries WHERE seq = ?", (seq - 1,)).fetchone()[0]
    for s, data in rows.fetchall():
        obj = json.loads(data)
        if s == seq:
            del obj["payload"]["record_id"]
        obj["prev"] = prev
        new = canonical_bytes(obj)
        prev = hashlib.sha256(new).hexdigest()
        con.execute(
            "UPDATE entries SET entry_bytes = ?, entry_hash = ?, prev_hash = ?, leaf_hash = ? "
            "WHERE seq = ?",
            (new, prev, obj["prev"], hashlib.sha256(b"\x00" + new).digest(), s),
        )
    con.close()
    result = run("--db", audited["url"], "verify")
    assert_clean_refusal(result, f"verification failed at seq {seq}: record entry lacks")


def test_verify_names_the_rewritten_middle_entry(audited: dict[str, Any]) -> None:
    """recorded_at is outside every signature: a forger moves one entry's time (still in
    order), recomputes every later hash, and leaves the stored Merkle nodes. The signed root
    fails, and the stored nodes point at the entry (issue 13.6: not the checkpoint's size)."""
    con = raw_db(audited)
    seq = first_record_seq(con) - 1  # the import's submission: later than the entry before
    before = con.execute("SELECT recorded_at FROM entries WHERE seq = ?", (seq - 1,)).fetchone()
    pair = seq - seq % 2  # the level-1 node over (pair, pair + 1) is the finest stored one
    prev = con.execute("SELECT entry_hash FROM entries WHERE seq = ?", (seq - 1,)).fetchone()[0]
    rows = con.execute("SELECT seq, entry_bytes FROM entries WHERE seq >= ? ORDER BY seq", (seq,))
    for s, data in rows.fetchall():
        obj = json.loads(data)
        if s == seq:
            assert obj["recorded_at"] > before[0]
            obj["recorded_at"] = before[0]
        obj["prev"] = prev
        new = canonical_bytes(obj)
        prev = hashlib.sha256(new).hexdigest()
        con.execute(
            "UPDATE entries SET entry_bytes = ?, entry_hash = ?, prev_hash = ?, leaf_hash = ?, "
            "recorded_at = ? WHERE seq = ?",
            (new, prev, obj["prev"], hashlib.sha256(b"\x00" + new).digest(), obj["recorded_at"], s),
        )
    con.close()
    result = run("--db", audited["url"], "verify")
    assert_clean_refusal(
        result,
        f"Error: verification failed at seq {pair}: Merkle root at size ",
    )
    assert f"no longer match the bytes of seq {pair} or {pair + 1}" in result.stderr


@pytest.mark.parametrize("command", ["checkpoint", "export"])
def test_out_in_a_missing_directory_fails_before_storing_anything(
    audited: dict[str, Any], command: str
) -> None:
    out = audited["dir"] / "no-such-dir" / "file"
    args = {
        "checkpoint": ["checkpoint", "--operator-key", str(audited["keys"] / "operator.key")],
        "export": ["export"],
    }[command]
    bev = str(audited["keys"] / "sup-bev.key")
    appended = run(
        *("--db", audited["url"], "append", "--supplier", "sup-bev", "--key", bev),
        *("--product", WATER, "--stage", "production", "--activity", "electricity"),
        *("--amount", "1", "--unit", "kWh", "--factor", "cn-grid-electricity"),
        *("--units-covered", "1", "--period-start", "2025-12-01", "--period-end", "2026-01-01"),
    )
    assert appended.exit_code == 0, appended.output  # so checkpoint has a new tree to sign
    con = sqlite3.connect(audited["dir"] / "ledger.db")
    before = con.execute("SELECT count(*) FROM checkpoints").fetchone()
    con.close()
    result = run("--db", audited["url"], *args, "--out", str(out))
    assert_clean_refusal(result, f"Error: {out.parent}: no such directory")
    con = sqlite3.connect(audited["dir"] / "ledger.db")
    assert con.execute("SELECT count(*) FROM checkpoints").fetchone() == before
    con.close()
    assert not out.parent.exists()


def test_keygen_where_a_directory_cannot_be_made(tmp_path: Path) -> None:
    """keygen makes missing directories (keys/ in the examples); when it cannot, it says so."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory", encoding="utf-8")
    out = blocker / "new.key"
    result = run("keygen", "--out", str(out))
    assert_clean_refusal(result, f"Error: cannot write key file {out}: ")


# ---- mutation fuzzing through the CLI ---------------------------------------------------------

FUZZ = settings(
    max_examples=30,  # a few seconds; 400 each also passed when this was written
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2**70) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def assert_contract(result: Result) -> None:
    """Exit 0 or 1; on 1 an `Error:` message; never an uncaught exception."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code in (0, 1), result.output
    if result.exit_code == 1:
        assert result.stderr.startswith("Error: "), result.stderr


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value (dict keys and list indexes)."""
    out = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            out += paths_of(inner, (*prefix, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value[:3]):
            out += paths_of(inner, (*prefix, i))
    return out


def mutate_bytes(data: bytes, draw: Any) -> bytes:
    """Flip, insert or delete a few bytes at drawn positions."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, max(len(out) - 1, 0)))
        op = draw(st.sampled_from(["flip", "insert", "delete"]))
        if op == "flip" and out:
            out[at] ^= draw(st.integers(1, 255))
        elif op == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif out:
            del out[at : at + draw(st.integers(1, 8))]
    return bytes(out)


@FUZZ
@given(data=st.data())
def test_fuzz_label_verify(audited: dict[str, Any], data: st.DataObject) -> None:
    doc = json.loads((audited["dir"] / "label.json").read_text(encoding="utf-8"))
    evidence = doc["evidence"]
    # mostly the evidence (where the crashes were), with bounded fan-out
    small = {
        **doc,
        "evidence": {**evidence, "entries": dict(list(evidence["entries"].items())[:4])},
    }
    path = data.draw(st.sampled_from(paths_of(small)))
    mutated = copy.deepcopy(doc)
    if path:
        target = mutated
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = data.draw(json_values)
    else:
        mutated = data.draw(json_values)
    if data.draw(st.booleans()) and isinstance(mutated, dict):
        from ledger.labels.offline import evidence_digest

        with contextlib.suppress(Exception):  # no longer encodable: keep the old digest
            mutated["evidence_sha256"] = evidence_digest(mutated["evidence"])
    out = audited["dir"] / "fuzz.label.json"
    out.write_text(json.dumps(mutated), encoding="utf-8")
    pub = audited["keys"] / "operator.key.pub"
    assert_contract(run("label", "verify", str(out), "--operator-pub", str(pub)))


@FUZZ
@given(data=st.data())
def test_fuzz_verify_bundle(audited: dict[str, Any], data: st.DataObject) -> None:
    lines = (audited["dir"] / "bundle.jsonl").read_bytes().splitlines()
    at = data.draw(st.integers(0, min(len(lines) - 1, 40)))
    if data.draw(st.booleans()):
        lines[at] = mutate_bytes(lines[at], data.draw)
    else:
        try:
            obj = json.loads(lines[at])
        except ValueError:
            obj = None
        path = data.draw(st.sampled_from(paths_of(obj)))
        if path:
            target = obj
            for key in path[:-1]:
                target = target[key]  # type: ignore[index]
            target[path[-1]] = data.draw(json_values)  # type: ignore[index]
        else:
            obj = data.draw(json_values)
        lines[at] = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    out = audited["dir"] / "fuzz.jsonl"
    out.write_bytes(b"\n".join(lines) + b"\n")
    assert_contract(run("verify", "--bundle", str(out)))


@FUZZ
@given(data=st.data())
def test_fuzz_verify_checkpoint(audited: dict[str, Any], data: st.DataObject) -> None:
    note = (audited["dir"] / "seen.cp").read_bytes()
    out = audited["dir"] / "fuzz.cp"
    out.write_bytes(mutate_bytes(note, data.draw))
    assert_contract(run("--db", audited["url"], "verify", "--checkpoint", str(out)))


@FUZZ
@given(data=st.data())
def test_fuzz_import_writes_all_or_nothing(audited: dict[str, Any], data: st.DataObject) -> None:
    rows = (SAMPLES / "records" / "sup-bev-2024.csv").read_bytes().splitlines(keepends=True)
    source = b"".join(rows[:6])  # the header and five records
    out = audited["dir"] / "fuzz.csv"
    out.write_bytes(mutate_bytes(source, data.draw))
    con = sqlite3.connect(audited["dir"] / "ledger.db")
    before = con.execute("SELECT count(*) FROM entries").fetchone()[0]
    con.close()
    bev = str(audited["keys"] / "sup-bev.key")
    result = run("--db", audited["url"], "import", str(out), "--supplier", "sup-bev", "--key", bev)
    assert_contract(result)
    con = sqlite3.connect(audited["dir"] / "ledger.db")
    after = con.execute("SELECT count(*) FROM entries").fetchone()[0]
    con.close()
    if result.exit_code == 1:
        assert after == before  # nothing was written
    else:
        assert after > before
