"""A bounded-memory buffer for a submission's entries between validation and writing.

A submission is signed over the ``records_root`` of all its payloads, and the submission
entry comes *before* the entries it covers, so every payload must be built before the first
byte is written. The spool keeps them in memory up to :data:`CHUNK` items and pickles full
chunks to a temporary file, so importing 10^6 records does not hold 10^6 payloads in memory,
and nothing is validated or canonicalized twice.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from ledger import merkle

CHUNK = 20_000
SpoolItem = tuple[int, str, dict[str, Any], bytes]  # (line, kind, payload, payload_bytes)
Node = tuple[int, int, bytes]  # (level, index, hash) of a completed records_root subtree


class Spool:
    """Append-then-iterate storage for (line, kind, payload, payload_bytes) items."""

    def __init__(self) -> None:
        self._buffer: list[SpoolItem] = []
        self._nodes: list[Node] = []
        self._file: IO[bytes] | None = None
        self._chunks = 0
        self.count = 0
        self.tree = merkle.CompactRange()

    def add(self, line: int, kind: str, payload: dict[str, Any], payload_bytes: bytes) -> None:
        self._buffer.append((line, kind, payload, payload_bytes))
        for node in self.tree.append(merkle.leaf_hash(payload_bytes)):
            if node[0] > 0:
                self._nodes.append(node)
        self.count += 1
        if len(self._buffer) >= CHUNK:
            if self._file is None:
                # closed by close() / __exit__, not a with-block: it outlives this call
                self._file = tempfile.TemporaryFile(prefix="carbon-ledger-spool-")  # noqa: SIM115
            chunk = (self._buffer, self._nodes)
            pickle.dump(chunk, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._chunks += 1
            self._buffer, self._nodes = [], []

    @property
    def records_root(self) -> str:
        """RFC 6962 root over the payloads' canonical bytes, in order (SPEC §4)."""
        return self.tree.root().hex()

    def chunks(self) -> Iterator[tuple[list[SpoolItem], list[Node]]]:
        """Items with the records_root subtree nodes they completed, in order."""
        if self._file is not None:
            self._file.seek(0)
            for _ in range(self._chunks):
                yield pickle.load(self._file)
        yield self._buffer, self._nodes

    def __iter__(self) -> Iterator[SpoolItem]:
        for items, _nodes in self.chunks():
            yield from items

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
