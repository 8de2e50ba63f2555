"""Operator commands: keygen, init, supplier, factor, checkpoint."""

from __future__ import annotations

import base64
from pathlib import Path

import click

from ledger.decimals import fmt
from ledger_cli.app import (
    Ctx,
    cli,
    emit,
    existing_file,
    is_stdio,
    load_key,
    output_path,
    pass_ctx,
    plural,
    table,
    write_out,
)

KEY = click.Path(path_type=Path, dir_okay=False)


@cli.command()
@click.option("--out", required=True, type=KEY, help="Private key path; PATH.pub is written too.")
@click.option(
    "--name",
    help="Key name in the printed verifier key (default: OUT's file name without suffix). "
    "An operator key signs as the ledger's origin; a witness picks its own name.",
)
@click.option(
    "--witness", is_flag=True, help="Print a cosignature (type 0x04) verifier key for a witness."
)
@pass_ctx
def keygen(obj: Ctx, out: Path, name: str | None, witness: bool) -> None:
    """Generate an Ed25519 key pair: OUT (private, mode 0600) and OUT.pub.

    Prints the public key as a C2SP note verifier key (name+hash+base64), which every
    --operator-pub and --witness-pub option accepts as well as the PEM file. Set
    CARBON_LEDGER_PASSPHRASE to encrypt the private key.

    \b
    Examples:  carbon-ledger keygen --out keys/sup-bev.key
               carbon-ledger keygen --out keys/w1.key --name witness.example/w1 --witness
    """
    from ledger import keys, note

    private = keys.generate()
    sig_type = note.SIG_TYPE_COSIGNATURE if witness else note.SIG_TYPE_ED25519
    vkey = note.verifier_key(name or out.stem, private.public_key(), sig_type)  # checks the name
    pub = keys.write_keypair(private, out)
    kid = keys.key_id(private.public_key())
    emit(
        obj,
        {"private": str(out), "public": str(pub), "key_id": kid, "verifier_key": vkey},
        f"wrote {out} (private, 0600) and {pub}; key_id {kid}\nverifier key: {vkey}",
    )


@cli.command()
@click.option("--operator-key", required=True, type=KEY, help="The operator's private key.")
@click.option("--origin", help="Checkpoint origin name (default carbon-ledger/<ledger id>).")
@pass_ctx
def init(obj: Ctx, operator_key: Path, origin: str | None) -> None:
    """Create the ledger schema and its genesis entry, signed by the operator.

    \b
    Example:  carbon-ledger init --operator-key keys/operator.key --origin example.com/ledger
    """
    from ledger import note, registry

    info = registry.init_ledger(obj.engine, load_key(operator_key), origin)
    vkey = note.verifier_key(info.origin, info.operator_public_key)
    emit(
        obj,
        {
            "ledger_id": info.ledger_id,
            "origin": info.origin,
            "operator_key_id": info.operator_key_id,
            "operator_verifier_key": vkey,
        },
        f"initialised ledger {info.ledger_id} (origin {info.origin}) at {obj.db_url}\n"
        f"operator verifier key: {vkey}",
    )


@cli.group()
def supplier() -> None:
    """Register suppliers and manage their signing keys (operator)."""


@supplier.command("add")
@click.argument("supplier_id")
@click.option("--name", required=True)
@click.option("--country", required=True, help="ISO 3166-1 alpha-2, e.g. CN.")
@click.option("--public-key", required=True, type=KEY, help="The supplier's PEM public key.")
@click.option("--operator-key", required=True, type=KEY)
@pass_ctx
def supplier_add(
    obj: Ctx, supplier_id: str, name: str, country: str, public_key: Path, operator_key: Path
) -> None:
    """Register supplier SUPPLIER_ID with its public key.

    \b
    Example:  carbon-ledger supplier add sup-bev --name "Qinghe Beverages" --country CN \\
                --public-key sup-bev.key.pub --operator-key operator.key
    """
    from ledger import keys, registry

    pub = keys.load_public(existing_file(public_key))
    seq = registry.add_supplier(obj.engine, supplier_id, name, country, pub, load_key(operator_key))
    emit(
        obj,
        {"seq": seq, "supplier_id": supplier_id, "key_id": keys.key_id(pub)},
        f"registered supplier {supplier_id} (key {keys.key_id(pub)}) at seq {seq}",
    )


@supplier.command("rotate-key")
@click.argument("supplier_id")
@click.option("--public-key", required=True, type=KEY)
@click.option("--operator-key", required=True, type=KEY)
@pass_ctx
def supplier_rotate(obj: Ctx, supplier_id: str, public_key: Path, operator_key: Path) -> None:
    """Give SUPPLIER_ID a new key; its current keys stop signing new submissions.

    \b
    Example:  carbon-ledger supplier rotate-key sup-bev --public-key new.key.pub \\
                --operator-key operator.key
    """
    from ledger import keys, registry

    pub = keys.load_public(existing_file(public_key))
    seq = registry.rotate_key(obj.engine, supplier_id, pub, load_key(operator_key))
    emit(
        obj,
        {"seq": seq, "key_id": keys.key_id(pub)},
        f"rotated {supplier_id} to key {keys.key_id(pub)} at seq {seq}",
    )


@supplier.command("revoke-key")
@click.argument("supplier_id")
@click.argument("key_id")
@click.option("--reason", default="revoked by operator", show_default=True)
@click.option("--operator-key", required=True, type=KEY)
@pass_ctx
def supplier_revoke(
    obj: Ctx, supplier_id: str, key_id: str, reason: str, operator_key: Path
) -> None:
    """Revoke KEY_ID of SUPPLIER_ID: later submissions signed with it are refused.

    \b
    Example:  carbon-ledger supplier revoke-key sup-bev 3f2a9c0d1e2b4a5c --operator-key operator.key
    """
    from ledger import registry

    seq = registry.revoke_key(obj.engine, supplier_id, key_id, load_key(operator_key), reason)
    emit(obj, {"seq": seq}, f"revoked key {key_id} of {supplier_id} at seq {seq}")


@supplier.command("list")
@pass_ctx
def supplier_list(obj: Ctx) -> None:
    """List suppliers and their keys.

    \b
    Example:  carbon-ledger supplier list
    """
    from ledger.store import db, queries

    with db.reading(obj.engine) as conn:
        rows = queries.supplier_keys(conn)
    data = [
        {"supplier_id": r[0], "name": r[1], "country": r[2], "key_id": r[3], "active": r[4] is None}
        for r in rows
    ]
    emit(
        obj,
        data,
        lambda: click.echo(
            table(
                [
                    (
                        d["supplier_id"],
                        d["name"],
                        d["country"],
                        d["key_id"],
                        "active" if d["active"] else "retired",
                    )
                    for d in data
                ],
                ["supplier_id", "name", "country", "key_id", "key"],
            )
        ),
    )


@cli.group()
def factor() -> None:
    """Emission factors (operator)."""


@factor.command("import")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--operator-key", required=True, type=KEY)
@pass_ctx
def factor_import(obj: Ctx, file: Path, operator_key: Path) -> None:
    """Import emission factors from a CSV file; each becomes an operator-signed entry.

    Columns: factor_id, version, activity, stage, unit, kgco2e_per_unit, gwp (AR5 or AR6),
    source, year, region. Factors are immutable: a changed value is a new version. Factor
    versions already in the ledger with the same definition are skipped, so re-importing a
    file is a no-op; a different definition under an existing id and version is refused.

    \b
    Example:  carbon-ledger factor import samples/factors.csv --operator-key operator.key
    """
    from ledger import registry

    result = registry.import_factors(obj.engine, file, load_key(operator_key))
    message = f"imported {plural(len(result.seqs), 'factor')}"
    if result.skipped:
        message += f"; skipped {plural(result.skipped, 'factor version')} already in the ledger"
    emit(
        obj,
        {"imported": len(result.seqs), "seqs": result.seqs, "skipped": result.skipped},
        message,
    )


@factor.command("list")
@pass_ctx
def factor_list(obj: Ctx) -> None:
    """List emission factors with their stage (a record's stage must match it) and source.

    \b
    Example:  carbon-ledger --json factor list
    """
    from ledger import registry
    from ledger.store import db

    with db.reading(obj.engine) as conn:
        factors = registry.load_factors(conn)
    data = [
        {
            "factor_id": f.factor_id,
            "version": f.version,
            "activity": f.activity,
            "stage": f.stage,
            "unit": f.unit,
            "kgco2e_per_unit": fmt(f.kgco2e_per_unit),
            "gwp": f.gwp,
            "source": f.source,
            "year": f.year,
            "region": f.region,
        }
        for f in sorted(factors.values(), key=lambda f: (f.factor_id, f.version))
    ]
    emit(
        obj,
        data,
        lambda: click.echo(
            table(
                [
                    (
                        d["factor_id"],
                        d["version"],
                        d["activity"],
                        d["stage"],
                        d["unit"],
                        d["kgco2e_per_unit"],
                        d["gwp"],
                        d["year"],
                        d["region"],
                    )
                    for d in data
                ],
                [
                    "factor_id",
                    "v",
                    "activity",
                    "stage",
                    "unit",
                    "kgCO2e/unit",
                    "gwp",
                    "year",
                    "region",
                ],
            )
        ),
    )


@cli.command()
@click.option("--operator-key", required=True, type=KEY)
@click.option(
    "--state",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The operator's signing state (default: OPERATOR_KEY.state.json beside the key).",
)
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), help="Also write the note here."
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processes for the pre-sign audit, as for `verify --jobs`.",
)
@pass_ctx
def checkpoint(
    obj: Ctx, operator_key: Path, state: Path | None, out: Path | None, jobs: int
) -> None:
    """Audit the ledger, then sign a C2SP tlog-checkpoint of it and store it.

    Signing is an audit step: every entry is verified first (hashes, links, signatures, key
    validity, co2e), and the tree must extend the checkpoint this key last signed, as
    recorded in its state file (not in the database). Anything else is refused, naming the
    seq. Auditors keep the latest checkpoint and later run `verify --checkpoint` against it.

    \b
    Example:  carbon-ledger checkpoint --operator-key operator.key --out seen.cp
    """
    if out is not None and not is_stdio(out):
        output_path(out)  # before signing: a stored checkpoint is not taken back
    from ledger import transparency

    state_path = state or transparency.default_state_path(operator_key)
    cp = transparency.sign_checkpoint(obj.engine, load_key(operator_key), state_path, jobs)
    root_b64 = base64.b64encode(bytes.fromhex(cp.root_hash)).decode()
    root_line = f"tree size {cp.tree_size}, root {cp.root_hash} (hex), {root_b64} (base64)"
    to_stdout = out is None or is_stdio(out)
    if not to_stdout:
        write_out(out, cp.note)
    if obj.as_json:
        data = {"id": cp.id, "tree_size": cp.tree_size, "root_hash": cp.root_hash}
        emit(
            obj,
            {**data, "root_hash_base64": root_b64, "note": cp.note, "state": str(state_path)},
            "",
        )
    else:
        click.echo(cp.note, nl=False)
        # the note names the root in base64, `verify` in hex: show both. Without --out the
        # line goes to stderr, so that stdout stays the bare note (`checkpoint > seen.cp`)
        click.echo(root_line, err=to_stdout)
