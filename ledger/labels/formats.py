"""Label format names and defaults: importable without pandas, so the CLI starts fast.

Internal: not part of the library API (the facade is :mod:`ledger`).
"""

from __future__ import annotations

FORMATS = ("json", "pact", "svg", "html", "csv")
SUFFIX = {
    "json": ".label.json",
    "pact": ".pact.json",
    "svg": ".svg",
    "html": ".html",
    "csv": ".csv",
}
#: the self-verifying label JSON (SPEC §7)
LABEL_FORMAT = "carbon-label/v2"
