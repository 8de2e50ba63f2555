"""The ledger as a C2SP ``tlog-tiles`` log: tile paths and tile contents.

Tile height is 8, so a full tile holds 256 hashes. A level-0 tile holds leaf hashes (the
RFC 6962 leaf hashes of ``entry_bytes``, stored in ``entries``); a hash at level ``L >= 1`` is
the root of a complete subtree over ``256**L`` leaves, which is exactly the stored
``merkle_nodes`` row at tree level ``8*L``. So every tile is a range read, nothing is hashed.

Only data covered by a signed checkpoint is served: a tile (full or partial) whose hashes
reach past the latest checkpoint's tree size does not exist yet (404), so a client never sees
entries the operator has not committed to.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from ledger.errors import InputError, NotFoundError
from ledger.store import Connection, serving

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256
_INDEX_PART = re.compile(r"x[0-9]{3}\Z")
_LAST_PART = re.compile(r"[0-9]{3}\Z")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}\Z")
_LEVEL = re.compile(r"0\Z|[1-9][0-9]?\Z")


@dataclass(frozen=True)
class TileRef:
    """A tile (``level`` >= 0) or an entry bundle (``level`` is None); ``width`` 256 is full."""

    level: int | None
    index: int
    width: int

    @property
    def path(self) -> str:
        head = "tile/entries" if self.level is None else f"tile/{self.level}"
        tail = "" if self.width == TILE_WIDTH else f".p/{self.width}"
        return f"{head}/{encode_index(self.index)}{tail}"


def encode_index(n: int) -> str:
    """``1234067`` -> ``x001/x234/067``: 3-digit groups, all but the last prefixed ``x``."""
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def parse_tile_path(path: str) -> TileRef:
    """Parse ``<L>/<N>[.p/<W>]`` or ``entries/<N>[.p/<W>]`` (the part after ``tile/``)."""
    parts = path.split("/")
    if len(parts) < 2:
        raise InputError(f"not a tile path: {path!r}")
    head, rest = parts[0], parts[1:]
    width = TILE_WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        if not _WIDTH.match(rest[-1]) or int(rest[-1]) > 255:
            raise InputError(f"bad partial width in {path!r}")
        width = int(rest[-1])
        rest = [*rest[:-2], rest[-2][: -len(".p")]]
    groups_ok = all(_INDEX_PART.match(p) for p in rest[:-1])
    if not rest or not _LAST_PART.match(rest[-1]) or not groups_ok:
        raise InputError(f"bad tile index in {path!r}")
    digits = [p.lstrip("x") for p in rest]
    if len(digits) > 1 and digits[0] == "000":
        raise InputError(f"tile index in {path!r} has a leading zero group")
    index = int("".join(digits))
    if head == "entries":
        return TileRef(None, index, width)
    if not _LEVEL.match(head) or int(head) > 63:
        raise InputError(f"bad tile level in {path!r}")
    return TileRef(int(head), index, width)


def _covered(ref: TileRef, size: int) -> bool:
    level = 0 if ref.level is None else ref.level
    span: int = TILE_WIDTH**level
    return (ref.index * TILE_WIDTH + ref.width) * span <= size


def read_tile(conn: Connection, ref: TileRef, size: int) -> bytes:
    """The tile's bytes for a log whose latest checkpoint has ``size`` leaves."""
    if not _covered(ref, size):
        raise NotFoundError(f"{ref.path} is beyond the latest checkpoint (size {size})")
    start = ref.index * TILE_WIDTH
    end = start + ref.width
    if ref.level is None:
        entries = serving.entry_bytes_range(conn, start, end)
        if any(len(e) > 0xFFFF for e in entries):
            raise InputError("an entry longer than 65535 bytes cannot go in an entry bundle")
        return b"".join(struct.pack(">H", len(e)) + e for e in entries)
    if ref.level == 0:
        hashes = serving.leaf_hashes(conn, start, end)
    else:
        hashes = serving.subtree_hashes(conn, TILE_HEIGHT * ref.level, start, end)
    if len(hashes) != ref.width:
        raise NotFoundError(f"{ref.path}: the store holds {len(hashes)} of {ref.width} hashes")
    return b"".join(hashes)
