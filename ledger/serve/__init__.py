"""``carbon-ledger serve``: the PACT v3 API, label pages and the log as C2SP tiles (SPEC §10)."""
