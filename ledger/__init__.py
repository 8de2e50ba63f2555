"""carbon-ledger: a verifiable, append-only ledger of product carbon footprints.

The library holds all logic; ``ledger_cli`` is a thin click adapter over it.
"""

from __future__ import annotations

__version__ = "0.1.0"
SPEC_VERSION = 1
