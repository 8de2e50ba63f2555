"""A bounded-memory buffer for a submission's entries between validation and writing.

A submission is signed over the ``records_root`` of all its payloads, and the submission
entry comes *before* the entries it covers, so every payload must be built before the first
byte is written. The spool keeps items in chunks: small submissions in memory, large imports
in temporary files (written by the validating worker processes themselves, so payloads are
never pickled twice). Each item is ``(line, kind, payload_bytes, index)`` where ``index`` is
the record's index values (:func:`ledger.state.record_values`) for records and the payload
dict otherwise, so nothing is parsed, validated or canonicalized twice.

Internal: not part of the library API (the facade is :mod:`ledger`).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from typing import IO, Any

from ledger import merkle

CHUNK = 20_000
SpoolItem = tuple[int, str, bytes, Any]  # (line, kind, payload_bytes, index values or payload)
Node = tuple[int, int, bytes]  # (level, index, hash) of a completed records_root subtree


def write_chunk_file(items: list[SpoolItem], directory: str | None = None) -> str:
    """Pickle one chunk of items to a new temporary file; the spool deletes it."""
    fd, path = tempfile.mkstemp(prefix="carbon-ledger-chunk-", dir=directory)
    with os.fdopen(fd, "wb") as handle:
        pickle.dump(items, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return path


class Spool:
    """Append-then-iterate storage of a submission's items, in order."""

    def __init__(self, directory: str | None = None) -> None:
        self._directory = directory  # removed on close, with every chunk file in it
        self._buffer: list[SpoolItem] = []
        self._sources: list[str | list[SpoolItem]] = []  # chunk file paths or in-memory lists
        self._nodes: list[Node] = []
        self._node_file: IO[bytes] | None = None
        self.count = 0
        self.tree = merkle.CompactRange()

    def _add_leaf(self, leaf: bytes) -> None:
        for node in self.tree.append(leaf):
            if node[0] > 0:
                self._nodes.append(node)

    def add(
        self, line: int, kind: str, payload_bytes: bytes, index: Any, leaf: bytes | None = None
    ) -> None:
        """Add one item built in this process (``leaf`` if its hash is already known)."""
        self._buffer.append((line, kind, payload_bytes, index))
        self._add_leaf(leaf if leaf is not None else merkle.leaf_hash(payload_bytes))
        self.count += 1
        if len(self._buffer) >= CHUNK:
            self._seal(self._buffer)
            self._buffer = []

    def add_chunk_file(self, path: str, leaves: Sequence[bytes]) -> None:
        """Add a chunk a worker already wrote to ``path``, with its items' leaf hashes."""
        if self._buffer:
            self._seal(self._buffer)
            self._buffer = []
        for leaf in leaves:
            self._add_leaf(leaf)
        self.count += len(leaves)
        self._seal(path)

    def _seal(self, source: str | list[SpoolItem]) -> None:
        """Close a chunk: remember its source and park its records_root nodes on disk."""
        self._sources.append(source)
        if self._node_file is None:
            # closed by close() / __exit__: it outlives this call
            self._node_file = tempfile.TemporaryFile(prefix="carbon-ledger-nodes-")  # noqa: SIM115
        pickle.dump(self._nodes, self._node_file, protocol=pickle.HIGHEST_PROTOCOL)
        self._nodes = []
        if isinstance(source, list) and self.count > CHUNK:
            self._sources[-1] = write_chunk_file(source, self._directory)  # bounded memory

    @property
    def records_root(self) -> str:
        """RFC 6962 root over the payloads' canonical bytes, in order (SPEC §4)."""
        return self.tree.root().hex()

    def chunks(self) -> Iterator[tuple[list[SpoolItem], list[Node]]]:
        """Items with the records_root subtree nodes they completed, in order."""
        if self._buffer:
            self._seal(self._buffer)
            self._buffer = []
        if self._node_file is not None:
            self._node_file.seek(0)
        for source in self._sources:
            nodes: list[Node] = pickle.load(self._node_file) if self._node_file else []
            if isinstance(source, str):
                with open(source, "rb") as handle:
                    items: list[SpoolItem] = pickle.load(handle)
            else:
                items = source
            yield items, nodes

    def __iter__(self) -> Iterator[SpoolItem]:
        for items, _nodes in self.chunks():
            yield from items

    def close(self) -> None:
        for source in self._sources:
            if isinstance(source, str):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(source)
        self._sources = []
        if self._node_file is not None:
            self._node_file.close()
            self._node_file = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
