"""Thin click adapter for the ``ledger`` library: parse, call one function, render."""
