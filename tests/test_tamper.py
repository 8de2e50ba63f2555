"""Tamper matrix: edit a real SQLite ledger behind the library's back, then verify must name
the first bad seq and what is wrong (SPEC §4, §8 ``verify``, §9).

Every case drops the append-only triggers with raw ``sqlite3`` (as an attacker with file
access would), changes one thing, and checks both ``ledger.audit.verify_database`` and the
CLI (``carbon-ledger --db URL verify``: exit 1, ``Error: verification failed at seq N: ...``).
Forgeries that recompute hashes use ``rfc8785`` and ``hashlib`` directly, not the library's
own encoder, so a bug shared by the writer and the verifier cannot hide.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import text

from ledger import audit, keys, note, records, registry, transparency
from ledger.errors import VerificationError
from ledger.store import db
from ledger.store.db import make_engine
from ledger_cli.main import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
APPEND_ONLY_TRIGGERS = (
    "entries_no_update",
    "entries_no_delete",
    "checkpoints_no_update",
    "checkpoints_no_delete",
)
# Fixed by the sample world and samples/records (asserted by the fixture):
BEV_SUB, BEV_FIRST, BEV_LAST = 30, 31, 114  # sup-bev-2024.csv: 84 records
ELEC_SUB, ELEC_LAST = 115, 151  # sup-elec-2024.csv: 36 records
RETRACT_SUB, RETRACTION, RETRACTED = 152, 153, 50  # sup-bev retracts the record at seq 50
SIZE = 154
EDITED = 40  # an electricity record of sup-bev: 13727.7 kWh x 0.5366 = 7366.28382 kg


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """This module tampers with a real SQLite file through raw sqlite3."""
    return sqlite_url


@dataclass
class Ledger:
    url: str
    path: Path
    bev_key_id: str
    record_ids: dict[int, str]


def build(world: dict[str, Any]) -> None:
    """world + two imports + a retraction + a checkpoint, with the seqs the cases rely on."""
    engine = world["engine"]
    supplier_keys = world["keys"]
    bev = records.import_records(
        engine, SAMPLES / "records" / "sup-bev-2024.csv", "sup-bev", supplier_keys["sup-bev"]
    ).result
    elec = records.import_records(
        engine, SAMPLES / "records" / "sup-elec-2024.csv", "sup-elec", supplier_keys["sup-elec"]
    ).result
    assert bev is not None and elec is not None
    assert (bev.submission_seq, bev.first_seq, bev.last_seq) == (BEV_SUB, BEV_FIRST, BEV_LAST)
    assert (elec.submission_seq, elec.last_seq) == (ELEC_SUB, ELEC_LAST)
    with db.reading(engine) as conn:
        rid = conn.execute(
            text("SELECT record_id FROM records WHERE seq = :s"), {"s": RETRACTED}
        ).scalar_one()
    retraction = records.retract(engine, "sup-bev", supplier_keys["sup-bev"], rid, "misread")
    assert (retraction.submission_seq, retraction.last_seq) == (RETRACT_SUB, RETRACTION)
    assert transparency.sign_checkpoint(engine, world["operator"]).tree_size == SIZE
    engine.dispose()


def copy_sqlite(src: Path, dst: Path) -> None:
    with closing(sqlite3.connect(src)) as a, closing(sqlite3.connect(dst)) as b:
        a.backup(b)


@pytest.fixture(scope="module")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tamper-template")


@pytest.fixture
def ledger(request: pytest.FixtureRequest, template_dir: Path, tmp_path: Path) -> Ledger:
    """A fresh copy of one real SQLite ledger (built once per module from ``world``)."""
    template = template_dir / "ledger.db"
    if not template.exists():
        world: dict[str, Any] = request.getfixturevalue("world")
        build(world)
        copy_sqlite(Path(world["url"].removeprefix("sqlite:///")), template)
    path = tmp_path / "tampered.db"
    copy_sqlite(template, path)
    with closing(sqlite3.connect(path)) as c:
        ids = {int(s): str(r) for s, r in c.execute("SELECT seq, record_id FROM records")}
    bev_public = keys.load_public(SAMPLES / "keys" / "sup-bev.key.pub")
    raw_pub = bev_public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return Ledger(f"sqlite:///{path}", path, hashlib.sha256(raw_pub).hexdigest()[:16], ids)


# ---- independent hashing ----------------------------------------------------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf(data: bytes) -> bytes:
    return sha256(b"\x00" + data)


def mth(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash, straight from the definition."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def subtree_nodes(leaves: Sequence[bytes]) -> list[tuple[int, int, bytes]]:
    """Every complete subtree (level >= 1, index) of the tree over ``leaves``."""
    out: list[tuple[int, int, bytes]] = []
    level, row = 0, list(leaves)
    while len(row) > 1:
        row = [sha256(b"\x01" + row[i] + row[i + 1]) for i in range(0, len(row) - 1, 2)]
        level += 1
        out.extend((level, idx, node) for idx, node in enumerate(row))
    return out


# ---- raw tampering ----------------------------------------------------------------------


@contextmanager
def open_raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A raw connection with the append-only triggers dropped; commits on success."""
    with closing(sqlite3.connect(path)) as c:
        _drop_triggers(c)
        yield c
        c.commit()


def _drop_triggers(c: sqlite3.Connection) -> None:
    names = {
        n
        for (n,) in c.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name IN ('entries', 'checkpoints')"
        )
    }
    assert set(APPEND_ONLY_TRIGGERS) <= names
    for name in sorted(names):
        c.execute(f"DROP TRIGGER {name}")


def entry(c: sqlite3.Connection, seq: int) -> bytes:
    return bytes(c.execute("SELECT entry_bytes FROM entries WHERE seq = ?", (seq,)).fetchone()[0])


def put(c: sqlite3.Connection, seq: int, data: bytes, *, rehash: bool) -> None:
    """Overwrite an entry's bytes; ``rehash`` also recomputes its entry_hash and leaf_hash."""
    c.execute("UPDATE entries SET entry_bytes = ? WHERE seq = ?", (data, seq))
    if rehash:
        c.execute(
            "UPDATE entries SET entry_hash = ?, leaf_hash = ? WHERE seq = ?",
            (hashlib.sha256(data).hexdigest(), leaf(data), seq),
        )


def replace_bytes(c: sqlite3.Connection, seq: int, old: bytes, new: bytes, *, rehash: bool) -> None:
    data = entry(c, seq)
    assert data.count(old) == 1, (seq, old)
    put(c, seq, data.replace(old, new), rehash=rehash)


def mutate(
    c: sqlite3.Connection, seq: int, change: Callable[[dict[str, Any]], None], *, rehash: bool
) -> None:
    """Edit the decoded entry and write it back in canonical (RFC 8785) form."""
    obj = json.loads(entry(c, seq))
    change(obj)
    put(c, seq, rfc8785.dumps(obj), rehash=rehash)


def rechain(c: sqlite3.Connection, start: int) -> None:
    """Make everything from ``start`` on look consistent: prev links, entry and leaf hashes,
    and every merkle_nodes row recomputed from the (forged) entries."""
    prev = (
        "0" * 64
        if start == 0
        else str(
            c.execute("SELECT entry_hash FROM entries WHERE seq = ?", (start - 1,)).fetchone()[0]
        )
    )
    rows = c.execute("SELECT seq, entry_bytes FROM entries WHERE seq >= ? ORDER BY seq", (start,))
    for seq, data in rows.fetchall():
        obj = json.loads(bytes(data))
        obj["prev"] = prev
        new = rfc8785.dumps(obj)
        c.execute(
            "UPDATE entries SET entry_bytes = ?, prev_hash = ?, entry_hash = ?, leaf_hash = ? "
            "WHERE seq = ?",
            (new, prev, hashlib.sha256(new).hexdigest(), leaf(new), seq),
        )
        prev = hashlib.sha256(new).hexdigest()
    leaves = [leaf(bytes(d)) for (d,) in c.execute("SELECT entry_bytes FROM entries ORDER BY seq")]
    c.execute("DELETE FROM merkle_nodes")
    c.executemany(
        "INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)", subtree_nodes(leaves)
    )


def set_payload(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        assert field in obj["payload"]
        obj["payload"][field] = value

    return change


def flip_signature(obj: dict[str, Any]) -> None:
    raw = bytearray(base64.b64decode(obj["payload"]["signature"]))
    raw[10] ^= 0x01
    obj["payload"]["signature"] = base64.b64encode(bytes(raw)).decode("ascii")


def consistent_co2e_edit(c: sqlite3.Connection) -> None:
    """Raise the amount of the record at EDITED and its co2e to match exactly."""
    factor = json.loads(entry(c, 5))["payload"]  # cn-grid-electricity v1
    obj = json.loads(entry(c, EDITED))
    assert (obj["payload"]["factor_id"], obj["payload"]["factor_version"]) == (
        factor["factor_id"],
        factor["version"],
    )
    amount = Decimal(obj["payload"]["amount"]) + Decimal("0.1")
    co2e = amount * Decimal(factor["kgco2e_per_unit"])
    assert (str(amount), str(co2e)) == ("13727.8", "7366.33748")

    def change(o: dict[str, Any]) -> None:
        o["payload"]["amount"], o["payload"]["co2e_kg"] = str(amount), str(co2e)

    mutate(c, EDITED, change, rehash=True)
    c.execute(
        "UPDATE records SET amount = ?, co2e_kg = ? WHERE seq = ?", (str(amount), str(co2e), EDITED)
    )
    rechain(c, EDITED)


def consistent_co2e_edit_with_records_root(c: sqlite3.Connection) -> None:
    """As above, and re-derive the submission's records_root (its signature cannot follow)."""
    consistent_co2e_edit(c)
    payloads = [json.loads(entry(c, s))["payload"] for s in range(BEV_FIRST, BEV_LAST + 1)]
    root = mth([leaf(rfc8785.dumps(p)) for p in payloads]).hex()
    mutate(c, BEV_SUB, set_payload("records_root", root), rehash=True)
    rechain(c, BEV_SUB)


def recorded_at_backwards(c: sqlite3.Connection) -> None:
    earlier = "2020-01-01T00:00:00.000000Z"
    mutate(c, EDITED, lambda o: o.__setitem__("recorded_at", earlier), rehash=True)
    c.execute("UPDATE entries SET recorded_at = ? WHERE seq = ?", (earlier, EDITED))
    rechain(c, EDITED)


def swap_bytes(c: sqlite3.Connection) -> None:
    a, b = entry(c, EDITED), entry(c, EDITED + 1)
    put(c, EDITED, b, rehash=False)
    put(c, EDITED + 1, a, rehash=False)


EXTRA_RECORD = (
    "INSERT INTO records (record_id, seq, submission_seq, supplier_id, product_id, stage, "
    "activity, amount, unit, factor_id, factor_version, co2e_kg, units_covered, period_start, "
    "period_end, data_quality, allocation_group, status) VALUES ('injected', {seq}, 30, 'sup-bev', "
    "'6923451000013', 'production', 'electricity', '1', 'kWh', 'cn-grid-electricity', 1, "
    "'0.5366', '1', '2024-01-01', '2024-02-01', 'secondary', 'electricity', 'effective')"
)


@dataclass(frozen=True)
class Case:
    tamper: Callable[[sqlite3.Connection, Ledger], object]
    seq: int | None
    reason: str  # a distinctive part of the message; "{rid}" / "{kid}" are filled in


CASES: dict[str, Case] = {
    # -- entry bytes ---------------------------------------------------------------------
    "amount-digit": Case(
        lambda c, _: replace_bytes(
            c, EDITED, b'"amount":"13727.7"', b'"amount":"13727.8"', rehash=False
        ),
        EDITED,
        "entry_hash column does not match the entry bytes",
    ),
    "amount-digit-rehashed": Case(
        lambda c, _: replace_bytes(
            c, EDITED, b'"amount":"13727.7"', b'"amount":"13727.8"', rehash=True
        ),
        EDITED,
        "co2e_kg 7366.28382 of record {rid} is not amount × factor = 7366.33748",
    ),
    "units-digit-rehashed-breaks-next-prev": Case(
        lambda c, _: mutate(c, EDITED, set_payload("units_covered", "1"), rehash=True),
        EDITED + 1,
        "prev link broken: entry says prev",
    ),
    "last-record-rehashed-breaks-records-root": Case(
        lambda c, _: mutate(c, BEV_LAST, set_payload("units_covered", "1"), rehash=True),
        BEV_SUB,
        f"records_root of submission {BEV_SUB} does not match its entries",
    ),
    "submission-signature": Case(
        lambda c, _: mutate(c, BEV_SUB, flip_signature, rehash=False),
        BEV_SUB,
        "entry_hash column does not match the entry bytes",
    ),
    "submission-signature-rehashed": Case(
        lambda c, _: mutate(c, BEV_SUB, flip_signature, rehash=True),
        BEV_SUB,
        "submission signature by key {kid} does not verify",
    ),
    "deleted-middle-entry": Case(
        lambda c, _: c.execute("DELETE FROM entries WHERE seq = ?", (EDITED,)),
        EDITED,
        f"seq gap: expected seq {EDITED}, found seq {EDITED + 1}",
    ),
    "swapped-entry-bytes": Case(
        lambda c, _: swap_bytes(c),
        EDITED,
        f"entry bytes say seq {EDITED + 1}, expected {EDITED}",
    ),
    "non-canonical-space": Case(
        lambda c, _: replace_bytes(
            c, EDITED, b'{"kind":"record",', b'{"kind":"record", ', rehash=True
        ),
        EDITED,
        "entry bytes are not in canonical (RFC 8785) form",
    ),
    "co2e-recomputed-downstream": Case(
        lambda c, _: consistent_co2e_edit(c),
        BEV_SUB,
        f"records_root of submission {BEV_SUB} does not match its entries",
    ),
    "co2e-and-records-root-recomputed": Case(
        lambda c, _: consistent_co2e_edit_with_records_root(c),
        BEV_SUB,
        "submission signature by key {kid} does not verify",
    ),
    "recorded-at-backwards": Case(
        lambda c, _: recorded_at_backwards(c),
        EDITED,
        "recorded_at 2020-01-01T00:00:00.000000Z is earlier than the previous entry's",
    ),
    # -- derived columns of the entries table ---------------------------------------------
    "prev-hash-column": Case(
        lambda c, _: c.execute(
            "UPDATE entries SET prev_hash = ? WHERE seq = ?", ("0" * 64, EDITED)
        ),
        EDITED,
        "prev_hash column does not match the entry bytes",
    ),
    "leaf-hash-column": Case(
        lambda c, _: c.execute(
            "UPDATE entries SET leaf_hash = ? WHERE seq = ?", (bytes(32), EDITED)
        ),
        EDITED,
        "leaf_hash column does not match the entry bytes",
    ),
    "submission-seq-column": Case(
        lambda c, _: c.execute(
            "UPDATE entries SET submission_seq = ? WHERE seq = ?", (ELEC_SUB, EDITED)
        ),
        EDITED,
        "submission_seq column does not match the entry bytes",
    ),
    # -- index tables --------------------------------------------------------------------
    "records.co2e_kg": Case(
        lambda c, _: c.execute("UPDATE records SET co2e_kg = '1' WHERE seq = ?", (EDITED,)),
        EDITED,
        "index table records is out of step with the entries "
        "(column co2e_kg: table has '1', entries say '7366.28382')",
    ),
    "records.status": Case(
        lambda c, _: c.execute(
            "UPDATE records SET status = 'retracted', status_seq = ? WHERE seq = ?",
            (EDITED, EDITED),
        ),
        EDITED,
        "index table records has the wrong status for '{rid}'",
    ),
    "records.status_seq": Case(
        lambda c, _: c.execute("UPDATE records SET status_seq = NULL WHERE seq = ?", (RETRACTED,)),
        RETRACTED,
        "index table records has the wrong status for '{retracted}'",
    ),
    "records.extra-row": Case(
        lambda c, _: c.execute(EXTRA_RECORD.format(seq=5)),
        5,
        "index table records is out of step with the entries "
        "(row exists in the table but no entry creates it)",
    ),
    "records.extra-row-beyond-the-tree": Case(
        lambda c, _: c.execute(EXTRA_RECORD.format(seq=10**6)),
        10**6,
        "index table records is out of step with the entries "
        "(row exists in the table but no entry creates it)",
    ),
    "products.mass_kg": Case(
        lambda c, _: c.execute(
            "UPDATE products SET mass_kg = '6.4' WHERE product_id = '6923451000013'"
        ),
        19,
        "index table products row 6923451000013 is out of step with the entries "
        "(column mass_kg: table has '6.4', entries say '6.3')",
    ),
    "supplier_keys.revoked_seq": Case(
        lambda c, led: c.execute(
            "UPDATE supplier_keys SET revoked_seq = 100 WHERE key_id = ?", (led.bev_key_id,)
        ),
        1,
        "index table supplier_keys row {kid} is out of step with the entries "
        "(column revoked_seq: table has 100, entries say None)",
    ),
    "merkle_nodes.hash": Case(
        lambda c, _: c.execute(
            "UPDATE merkle_nodes SET hash = ? WHERE level = 3 AND idx = 2", (bytes(32),)
        ),
        None,
        "merkle_nodes table differs from the tree recomputed from the entries",
    ),
    "submission_nodes.hash": Case(
        lambda c, _: c.execute(
            "UPDATE submission_nodes SET hash = ? WHERE submission_seq = ? AND level = 2 "
            "AND idx = 3",
            (bytes(32), BEV_SUB),
        ),
        BEV_SUB,
        "submission_nodes table differs from the records_root tree of the submission",
    ),
    "checkpoints.root_hash": Case(
        lambda c, _: c.execute("UPDATE checkpoints SET root_hash = ?", ("00" * 32,)),
        None,
        "stored checkpoint #1: its columns do not match its signed note",
    ),
}


def cli_verify(url: str, *extra: str) -> Any:
    return CliRunner().invoke(cli, ["--db", url, "verify", *extra])


def test_untouched_ledger_verifies_with_the_right_counts(ledger: Ledger) -> None:
    report = audit.verify_database(make_engine(ledger.url))
    assert (report.entries, report.tree_size) == (SIZE, SIZE)
    assert report.submissions == 6 + 3  # six product registrations, two imports, one retraction
    assert report.records == 84 + 36
    assert (report.products, report.suppliers, report.factors, report.checkpoints) == (6, 4, 13, 1)
    with closing(sqlite3.connect(ledger.path)) as c:
        leaves = [
            leaf(bytes(d)) for (d,) in c.execute("SELECT entry_bytes FROM entries ORDER BY seq")
        ]
    assert report.root_hash == mth(leaves).hex()
    result = cli_verify(ledger.url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(
        f"OK: {SIZE} entries verified (9 submissions, 120 records, 6 products, 4 suppliers, "
        f"13 factors, 1 checkpoint); tree size {SIZE}, root {mth(leaves).hex()}"
    )


def test_rechain_helper_is_a_no_op_on_an_honest_ledger(ledger: Ledger) -> None:
    """The forgery helper re-encodes with rfc8785: on honest entries it must change nothing,
    which also cross-checks the library's canonical form against an independent encoder."""
    with closing(sqlite3.connect(ledger.path)) as c:
        before = c.execute("SELECT * FROM entries ORDER BY seq").fetchall()
        nodes = sorted(c.execute("SELECT level, idx, hash FROM merkle_nodes").fetchall())
    with open_raw(ledger.path) as c:
        rechain(c, 0)
        assert c.execute("SELECT * FROM entries ORDER BY seq").fetchall() == before
        assert sorted(c.execute("SELECT level, idx, hash FROM merkle_nodes").fetchall()) == nodes
    audit.verify_database(make_engine(ledger.url))


@pytest.mark.parametrize("name", list(CASES))
def test_tampering_is_caught_at_the_first_bad_seq(ledger: Ledger, name: str) -> None:
    case = CASES[name]
    with open_raw(ledger.path) as c:
        case.tamper(c, ledger)
    reason = case.reason.format(
        rid=ledger.record_ids[EDITED],
        retracted=ledger.record_ids[RETRACTED],
        kid=ledger.bev_key_id,
    )

    with pytest.raises(VerificationError) as caught:
        audit.verify_database(make_engine(ledger.url))
    assert caught.value.seq == case.seq, str(caught.value)
    assert reason in str(caught.value)

    result = cli_verify(ledger.url)
    assert result.exit_code == 1
    prefix = "Error: " if case.seq is None else f"Error: verification failed at seq {case.seq}: "
    assert result.stderr == f"{prefix}{caught.value}\n"
    assert reason in result.stderr


# ---- record_sums: the table every query reads -------------------------------------------
# A database writer who edits the per-group sums would change every figure a lender reads
# without touching an entry; verify recomputes the groups from the (proven) records table.

_GROUP_OF_EDITED = (
    "SELECT supplier_id, product_id, stage, allocation_group, data_quality, period_start, "
    "period_end FROM records WHERE seq = ?"
)
_SAME_GROUP = (
    "supplier_id = ? AND product_id = ? AND stage = ? AND allocation_group = ? "
    "AND data_quality = ? AND period_start = ? AND period_end = ?"
)


@pytest.mark.parametrize("change", ["co2e", "deleted", "records", "extra"])
def test_record_sums_tampering_is_caught(ledger: Ledger, change: str) -> None:
    with open_raw(ledger.path) as c:
        key = c.execute(_GROUP_OF_EDITED, (EDITED,)).fetchone()
        rows = c.execute(
            f"SELECT seq, co2e_kg FROM records WHERE status = 'effective' AND {_SAME_GROUP}", key
        ).fetchall()
        first_seq = min(seq for seq, _ in rows)
        total = sum((Decimal(v) for _, v in rows), Decimal(0))  # the group's true co2e sum
        where = f"WHERE {_SAME_GROUP}"
        if change == "co2e":
            c.execute(f"UPDATE record_sums SET co2e_kg = '1' {where}", key)
            what = f"column co2e_kg: table has 1, the records give {total}"
        elif change == "deleted":
            c.execute(f"DELETE FROM record_sums {where}", key)
            what = "row is missing from the table"
        elif change == "records":
            c.execute(f"UPDATE record_sums SET records = records + 1 {where}", key)
            what = f"column records: table has {len(rows) + 1}, the records give {len(rows)}"
        else:  # a group no record is in: a writer inventing emissions (or savings)
            key = ("sup-bev", *key[1:5], "1999-01-01", "1999-02-01")
            c.execute(
                "INSERT INTO record_sums VALUES (?, ?, ?, ?, ?, 'AR6', 0, ?, ?, 1, '-5000', '1', "
                "NULL)",
                key,
            )
            first_seq = None
            what = "row exists in the table but no effective record is in that group"
    reason = (
        f"index table record_sums is out of step with the records for group "
        f"{'/'.join(key[:5])} {key[5]}..{key[6]} ({what})"
    )
    with pytest.raises(VerificationError) as caught:
        audit.verify_database(make_engine(ledger.url))
    assert str(caught.value) == reason
    assert caught.value.seq == first_seq
    assert outcome(lambda: audit.verify_database(make_engine(ledger.url), jobs=2)) == (
        first_seq,
        reason,
    )
    result = cli_verify(ledger.url)
    assert result.exit_code == 1
    assert reason in result.stderr


# ---- appends that bypass the library ------------------------------------------------------
# INSERT is what the triggers allow, so a forged append must be caught by the checks alone.

SUBMISSION_DOMAIN = b"carbon-ledger/submission/v1\n"  # SPEC §4


def raw_append(c: sqlite3.Connection, kind: str, payload: dict[str, Any], sub: int | None) -> int:
    seq, prev, at = c.execute(
        "SELECT seq, entry_hash, recorded_at FROM entries ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    seq += 1
    data = rfc8785.dumps(
        {"v": 1, "seq": seq, "kind": kind, "recorded_at": at, "prev": prev, "payload": payload}
    )
    c.execute(
        "INSERT INTO entries (seq, kind, recorded_at, prev_hash, entry_hash, leaf_hash, "
        "entry_bytes, submission_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, kind, at, prev, hashlib.sha256(data).hexdigest(), leaf(data), data, sub),
    )
    return int(seq)


def forge_submission(
    c: sqlite3.Connection,
    signer: Ed25519PrivateKey,
    key_id: str,
    covered: bool,
    change: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """A submission of one record (a copy of the one at EDITED with a new id, ``change``d),
    signed by hand."""
    record = json.loads(entry(c, EDITED))["payload"]
    record["record_id"] = "forged-0001"
    if change is not None:
        change(record)
    fields: dict[str, Any] = {
        "supplier_id": "sup-bev",
        "key_id": key_id,
        "count": 1,
        "records_root": leaf(rfc8785.dumps(record)).hex(),
        "submitted_at": "2030-01-01T00:00:00.000000Z",
    }
    signature = signer.sign(SUBMISSION_DOMAIN + rfc8785.dumps(fields))
    fields["signature"] = base64.b64encode(signature).decode("ascii")
    sub = raw_append(c, "submission", fields, None) if covered else None
    raw_append(c, "record", record, sub)


@pytest.mark.parametrize("variant", ["control", "revoked-key", "impostor-key", "no-submission"])
def test_forged_appends_are_caught(ledger: Ledger, key_dir: Path, variant: str) -> None:
    assert keys.SUBMISSION_DOMAIN == SUBMISSION_DOMAIN
    engine = make_engine(ledger.url)
    operator = keys.load_private(key_dir / "operator.key")
    bev = keys.load_private(key_dir / "sup-bev.key")
    if variant == "revoked-key":  # a legitimate revocation by the operator, at seq SIZE
        revoked = registry.revoke_key(engine, "sup-bev", ledger.bev_key_id, operator, "lost")
        assert revoked == SIZE
    engine.dispose()
    signer = Ed25519PrivateKey.generate() if variant == "impostor-key" else bev
    with open_raw(ledger.path) as c:
        forge_submission(c, signer, ledger.bev_key_id, covered=variant != "no-submission")
    first = SIZE + (variant == "revoked-key")
    expected = {
        # the forgery is otherwise flawless: only the missing index rows give it away
        "control": (
            first,
            f"index table submissions row {first} is out of step with the entries "
            "(row is missing from the table)",
        ),
        "revoked-key": (
            first,
            f"submission signed with key {ledger.bev_key_id}, revoked at seq {SIZE}",
        ),
        "impostor-key": (first, f"submission signature by key {ledger.bev_key_id} does not verify"),
        "no-submission": (first, "record entry is not covered by a submission"),
    }[variant]

    with pytest.raises(VerificationError) as caught:
        audit.verify_database(make_engine(ledger.url))
    assert caught.value.seq == expected[0], str(caught.value)
    assert expected[1] in str(caught.value)
    split = outcome(lambda: audit.verify_database(make_engine(ledger.url), jobs=2))
    assert split == (caught.value.seq, str(caught.value))
    result = cli_verify(ledger.url)
    assert result.exit_code == 1
    assert result.stderr == f"Error: verification failed at seq {expected[0]}: {caught.value}\n"


# ---- the optimized paths against the reference ----------------------------------------------
# ``verify --jobs 2`` and the operator's incremental pre-sign audit (``audit.verify_appended``,
# which trusts the entries below the size it last signed once they hash to that root) must
# give the verdicts of the plain serial audit: same first bad seq, same message.

STATE_LABEL = "the checkpoint this operator key last signed (operator.key.state.json)"
PREFIX = BEV_SUB  # a state file signed at size 30: every EDITED case is "appended since"


def signed_note(path: Path, key_dir: Path, size: int) -> str:
    """A checkpoint note over the first ``size`` entries, as the operator's state would hold,
    its root computed here from the entry bytes (independent hashing)."""
    with closing(sqlite3.connect(path)) as c:
        leaves = [
            leaf(bytes(d))
            for (d,) in c.execute(
                "SELECT entry_bytes FROM entries WHERE seq < ? ORDER BY seq", (size,)
            )
        ]
        origin = json.loads(entry(c, 0))["payload"]["origin"]
    checkpoint = note.Checkpoint(origin, size, mth(leaves))
    return note.sign_checkpoint(checkpoint, origin, keys.load_private(key_dir / "operator.key"))


def outcome(run: Callable[[], object]) -> tuple[int | None, str] | None:
    try:
        run()
    except VerificationError as exc:
        return exc.seq, str(exc)
    return None


def prefix_intact(path: Path, signed: str, size: int) -> bool:
    """Do the entry bytes below ``size`` still hash to the root of ``signed``?"""
    with closing(sqlite3.connect(path)) as c:
        leaves = [
            leaf(bytes(d))
            for (d,) in c.execute(
                "SELECT entry_bytes FROM entries WHERE seq < ? ORDER BY seq", (size,)
            )
        ]
    return len(leaves) == size and base64.b64encode(mth(leaves)).decode() in signed


@pytest.mark.parametrize("name", list(CASES))
def test_optimized_paths_give_the_reference_verdict(
    ledger: Ledger, key_dir: Path, name: str
) -> None:
    notes = {n: signed_note(ledger.path, key_dir, n) for n in (PREFIX, SIZE)}
    with open_raw(ledger.path) as c:
        CASES[name].tamper(c, ledger)
    engine = make_engine(ledger.url)
    operator = keys.load_public(key_dir / "operator.key.pub")
    serial = outcome(lambda: audit.verify_database(engine, jobs=1))
    assert serial is not None
    assert outcome(lambda: audit.verify_database(engine, jobs=2)) == serial
    for size, signed in notes.items():
        reference = outcome(
            lambda s=signed: audit.verify_database(  # type: ignore[misc]
                engine, s, operator_pub=operator, seen_label=STATE_LABEL
            )
        )
        incremental = outcome(
            lambda s=signed: audit.verify_appended(engine, s, operator, STATE_LABEL)  # type: ignore[misc]
        )
        assert reference is not None
        if incremental is None:
            # accepted only when the signed prefix is intact and the damage is confined to
            # what the incremental audit leaves to the full verify: derived columns and the
            # large index tables' rows below the signed size (README, Performance)
            assert prefix_intact(ledger.path, signed, size), (name, size)
            assert name in NOT_PRE_SIGN[size], (name, size, reference)
        else:
            assert incremental == reference, (name, size)
            assert name not in NOT_PRE_SIGN[size]


#: tamper cases the incremental pre-sign audit does not refuse, by the signed size: they
#: leave the signed entry bytes intact and touch only what ``verify`` checks in full
NOT_PRE_SIGN = {
    PREFIX: {"records.extra-row"},
    SIZE: {
        "prev-hash-column",
        "leaf-hash-column",
        "submission-seq-column",
        "records.co2e_kg",
        "records.extra-row",
        "merkle_nodes.hash",
        "submission_nodes.hash",
    },
}


# ---- the operator's state file: appended forgeries and rewritten history ----------------------


@pytest.fixture
def state(ledger: Ledger, key_dir: Path) -> Path:
    """The operator's state file at SIZE, written by a checkpoint over the honest ledger."""
    path = key_dir / "operator.key.state.json"
    engine = make_engine(ledger.url)
    signed = transparency.sign_checkpoint(engine, keys.load_private(key_dir / "operator.key"), path)
    engine.dispose()
    assert (signed.tree_size, json.loads(path.read_text())["tree_size"]) == (SIZE, SIZE)
    return path


def refused_to_sign(ledger: Ledger, key_dir: Path, state: Path) -> tuple[int | None, str]:
    before = state.read_text()
    with pytest.raises(VerificationError) as caught:
        transparency.sign_checkpoint(
            make_engine(ledger.url), keys.load_private(key_dir / "operator.key"), state
        )
    assert state.read_text() == before
    with closing(sqlite3.connect(ledger.path)) as c:
        assert c.execute("SELECT MAX(tree_size) FROM checkpoints").fetchone()[0] == SIZE
    return caught.value.seq, str(caught.value)


@pytest.mark.parametrize("variant", ["impostor-key", "revoked-key", "wrong-co2e"])
def test_checkpoint_refuses_a_forgery_appended_after_its_state(
    ledger: Ledger, key_dir: Path, state: Path, variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries after the state's size get every check of the full audit, and the verdict
    comes from the incremental audit itself (the full audit is not run)."""
    engine = make_engine(ledger.url)
    operator = keys.load_private(key_dir / "operator.key")
    bev = keys.load_private(key_dir / "sup-bev.key")
    if variant == "revoked-key":  # a legitimate revocation by the operator, at seq SIZE
        assert registry.revoke_key(engine, "sup-bev", ledger.bev_key_id, operator, "lost") == SIZE
    engine.dispose()
    first = SIZE + (variant == "revoked-key")
    # EDITED's record: 13727.7 kWh x 0.5366 kgCO2e/kWh = 7366.28382 kg; "wrong-co2e" states 1
    change = (lambda r: r.__setitem__("co2e_kg", "1")) if variant == "wrong-co2e" else None
    signer = Ed25519PrivateKey.generate() if variant == "impostor-key" else bev
    with open_raw(ledger.path) as c:
        forge_submission(c, signer, ledger.bev_key_id, covered=True, change=change)
        rechain(c, SIZE)  # a careful writer also stores the Merkle nodes of the new entries
    expected = {
        "impostor-key": (first, f"submission signature by key {ledger.bev_key_id} does not verify"),
        "revoked-key": (
            first,
            f"submission signed with key {ledger.bev_key_id}, revoked at seq {SIZE}",
        ),
        "wrong-co2e": (
            first + 1,
            "co2e_kg 1 of record forged-0001 is not amount × factor = 7366.28382",
        ),
    }[variant]

    def no_full_audit(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the incremental audit fell back to the full one")

    monkeypatch.setattr(audit, "verify_database", no_full_audit)
    seq, message = refused_to_sign(ledger, key_dir, state)
    assert (seq, message) == (expected[0], f"refusing to sign a checkpoint: {expected[1]}")


@pytest.mark.parametrize(
    ("name", "seq"),
    [
        ("amount-digit-rehashed", EDITED),
        # every hash and Merkle node redone: the stored tree no longer extends the state
        ("co2e-and-records-root-recomputed", SIZE - 1),
        ("deleted-middle-entry", EDITED),
    ],
)
def test_checkpoint_refuses_history_rewritten_below_its_state(
    ledger: Ledger, key_dir: Path, state: Path, name: str, seq: int
) -> None:
    """A rewrite below the state's size breaks the signed root; the full audit then names
    the first bad seq, as ``verify`` does."""
    with open_raw(ledger.path) as c:
        CASES[name].tamper(c, ledger)
        c.execute("DELETE FROM checkpoints")  # the database's own record goes too
    engine = make_engine(ledger.url)
    reference = outcome(  # today's full pre-sign audit, the simple reference
        lambda: audit.verify_database(
            engine,
            json.loads(state.read_text())["checkpoint"],
            operator_pub=keys.load_public(key_dir / "operator.key.pub"),
            seen_label=STATE_LABEL,
        )
    )
    assert reference is not None and reference[0] == seq, reference
    before = state.read_text()
    with pytest.raises(VerificationError) as caught:
        transparency.sign_checkpoint(engine, keys.load_private(key_dir / "operator.key"), state)
    assert (caught.value.seq, str(caught.value)) == (
        seq,
        f"refusing to sign a checkpoint: {reference[1]}",
    )
    assert state.read_text() == before
