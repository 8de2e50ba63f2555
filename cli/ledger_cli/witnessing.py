"""Witness commands: cosign a checkpoint consistent with what was cosigned before; attach
collected cosignatures to the ledger's checkpoint."""

from __future__ import annotations

from pathlib import Path

import click

from ledger.errors import InputError
from ledger_cli.app import Ctx, cli, emit, existing_file, pass_ctx

FILE = click.Path(path_type=Path, dir_okay=False)


@cli.group("witness")
def witness_group() -> None:
    """Act as a witness of a ledger's checkpoints (C2SP tlog-witness / tlog-cosignature)."""


@witness_group.command("cosign")
@click.argument("checkpoint", type=FILE)
@click.option("--witness-key", required=True, type=FILE, help="The witness's private key.")
@click.option(
    "--name", help="The witness's key name (default: the key file's name without suffix)."
)
@click.option(
    "--state",
    "state_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="The witness's own state directory (last cosigned size and root per log).",
)
@click.option(
    "--operator-pub",
    required=True,
    help="The log operator's public key you trust (PEM file or name+hash+base64).",
)
@click.option(
    "--bundle", type=FILE, help="Compute the consistency proof from this export, not --db."
)
@click.option("--out", type=FILE, help="Write the cosigned note here (default: stdout).")
@pass_ctx
def cosign_cmd(
    obj: Ctx,
    checkpoint: Path,
    witness_key: Path,
    name: str | None,
    state_dir: Path,
    operator_pub: str,
    bundle: Path | None,
    out: Path | None,
) -> None:
    """Cosign CHECKPOINT if it extends the last checkpoint this witness cosigned.

    Verifies the operator's signature, proves consistency from the witness's state to
    CHECKPOINT (RFC 9162, computed from the database or --bundle), and prints the note with
    a tlog-cosignature/v1 line added. A checkpoint that does not extend what was cosigned
    before (a split view or a rollback) is refused.

    \b
    Example:  carbon-ledger witness cosign seen.cp --witness-key w1.key --state w1-state \\
                  --operator-pub operator.key.pub --bundle ledger.jsonl --out seen.w1.cp
    """
    from ledger import keys, witness  # the CLI starts without the database

    signed = existing_file(checkpoint).read_text(encoding="utf-8")
    proofs = (
        witness.bundle_proof_source(existing_file(bundle))
        if bundle is not None
        else witness.db_proof_source(obj.engine)  # --db, before or after the command
    )
    cosigned = witness.cosign(
        signed,
        keys.load_verifier(operator_pub),
        keys.load_private(existing_file(witness_key)),
        name or witness_key.stem,
        state_dir,
        proofs,
    )
    if out is None:
        click.echo(cosigned, nl=False)
    else:
        out.write_text(cosigned, encoding="utf-8")
        emit(obj, {"out": str(out)}, f"wrote the cosigned checkpoint to {out}")


@witness_group.command("attach")
@click.argument("cosigned", nargs=-1, type=FILE)
@pass_ctx
def attach_cmd(obj: Ctx, cosigned: tuple[Path, ...]) -> None:
    """Store COSIGNED checkpoint notes' cosignatures with the ledger's checkpoint (operator).

    The merged note becomes the latest checkpoint, so labels and proofs carry the witnesses.

    \b
    Example:  carbon-ledger witness attach seen.w1.cp seen.w2.cp
    """
    if not cosigned:
        raise InputError("give at least one cosigned checkpoint file")
    notes = [existing_file(p).read_text(encoding="utf-8") for p in cosigned]
    from ledger import witness  # the CLI starts without the database

    stored = witness.attach(obj.engine, notes)
    emit(
        obj,
        {"id": stored.id, "tree_size": stored.tree_size, "note": stored.note},
        lambda: click.echo(stored.note, nl=False),
    )
