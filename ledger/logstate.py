"""What a key last signed or cosigned of a log: the operator's and the witnesses' own state.

Both keep, outside the database, the origin, size and root of the last checkpoint their key
put its name to, and that signed note (C2SP tlog-witness semantics for witnesses; SPEC §4's
state file beside the operator key). One shape, one reader, one atomic 0600 writer.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger import note


@dataclass(frozen=True)
class LogState:
    """The last checkpoint a key signed (or cosigned) of the log ``origin``."""

    origin: str
    tree_size: int
    root_hash: bytes
    checkpoint: str  # the signed note as it was given out, so it can be opened like any other


def read_log_state(path: Path) -> LogState | None:
    """The state at ``path``; None when there is none yet.

    Raises ``OSError`` when the file cannot be read, and ``ValueError``, ``KeyError`` or
    ``TypeError`` when it is not a state; callers say which file it is in their message.
    """
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    data = json.loads(raw)
    return LogState(
        str(data["origin"]),
        int(data["tree_size"]),
        bytes.fromhex(data["root_hash"]),
        str(data["checkpoint"]),
    )


def write_log_state(path: Path, checkpoint: note.Checkpoint, signed: str) -> None:
    """Record that this key signed ``signed`` (the note of ``checkpoint``)."""
    write_private_json(
        path,
        {
            "origin": checkpoint.origin,
            "tree_size": checkpoint.size,
            "root_hash": checkpoint.root_hash.hex(),
            "checkpoint": signed,
        },
    )


def write_private_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON atomically (temp file, fsync, rename) with mode 0600.

    A crash leaves the old file or the new one, never half of one; the state says what a
    key signed or cosigned, which is nobody else's business to edit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            json.dump(data, handle, indent=2, sort_keys=True, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
