"""One exception root for the whole library.

The CLI catches :class:`LedgerError` once and maps it to ``Error: ...`` on stderr with exit
code 1; anything else is a bug and surfaces as a traceback.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Root of every error the library raises on purpose."""


class InputError(LedgerError):
    """Bad input from a user: a malformed row, an unknown unit, a missing field.

    ``problems`` holds one ``line N: field: what is wrong`` string per bad row so that an
    import can report every bad row at once, not only the first.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = list(problems or [])


class KeyMaterialError(LedgerError):
    """A key file that cannot be used: missing, wrong format, wrong permissions, bad passphrase."""


class NotFoundError(LedgerError):
    """A supplier, product, factor, record or checkpoint that the ledger does not hold."""


class ConflictError(LedgerError):
    """The request contradicts what the ledger already holds (duplicate id, revoked key, ...)."""


class StorageError(LedgerError):
    """The database is unreachable, missing its schema, or from a newer version."""


class VerificationError(LedgerError):
    """Verification failed. ``seq`` names the first bad entry when there is one."""

    def __init__(self, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq
        self.reason = message


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof, or a signed note, does not verify."""
