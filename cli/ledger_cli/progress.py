"""Terminal progress: what is being done, a count, a rate and an ETA, on stderr only.

Every long step draws one line, redrawn at most ten times a second::

    writing: 40,000/100,000 records  40%  21,400 records/s  ETA 0:00:03

Nothing is drawn when stderr is not a terminal (pipes, CI, tests), so output stays clean.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ledger.progress import Advance

_REDRAW_SECONDS = 0.1


def show_progress() -> bool:
    """Progress lines only on an interactive terminal; quiet when piped."""
    return sys.stderr.isatty() and not os.environ.get("CI")


def _amount(value: float, unit: str) -> str:
    if unit == "B":
        for scale, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if value >= scale:
                return f"{value / scale:,.1f} {name}"
        return f"{value:,.0f} B"
    return f"{value:,.0f}"


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class Line:
    """One phase's progress line on stderr."""

    def __init__(self, what: str, total: int, unit: str) -> None:
        self.what, self.total, self.unit = what, total, unit
        self.done = 0
        self.started = time.monotonic()
        self.drawn = 0.0
        self.width = 0
        self.draw(force=True)

    def advance(self, n: int) -> None:
        self.done += n
        self.draw()

    def text(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        unit = "" if self.unit == "B" else f" {self.unit}"
        parts = [f"{self.what}: {_amount(self.done, self.unit)}"]
        if self.total:
            parts[0] += f"/{_amount(self.total, self.unit)}{unit}"
            parts.append(f"{min(100, 100 * self.done // self.total):3d}%")
        else:
            parts[0] += unit
        rate_unit = "B" if self.unit == "B" else self.unit
        parts.append(f"{_amount(rate, self.unit)}{'' if self.unit == 'B' else ' ' + rate_unit}/s")
        if self.total and rate > 0 and elapsed >= 1:  # a rate from one tick is noise
            parts.append(f"ETA {_clock(max(0, self.total - self.done) / rate)}")
        else:
            parts.append(f"elapsed {_clock(elapsed)}")
        return "  ".join(parts)

    def draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.drawn < _REDRAW_SECONDS:
            return
        self.drawn = now
        line = self.text()
        sys.stderr.write("\r" + line.ljust(self.width))
        sys.stderr.flush()
        self.width = len(line)

    def close(self) -> None:
        self.draw(force=True)
        sys.stderr.write("\n")
        sys.stderr.flush()


class TerminalPhases:
    """A :class:`ledger.progress.Phases` drawing each phase as a line (a no-op when piped)."""

    def __init__(self) -> None:
        self.enabled = show_progress()
        self.current: Line | None = None

    def __call__(self, what: str, total: int, unit: str) -> Advance | None:
        if not self.enabled:
            return None
        self.close()
        self.current = Line(what, total, unit)
        return self.current.advance

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None


@contextmanager
def phases() -> Iterator[TerminalPhases]:
    tracker = TerminalPhases()
    try:
        yield tracker
    finally:
        tracker.close()


@contextmanager
def progress_bar(total: int, label: str, unit: str = "entries") -> Iterator[Advance | None]:
    """One phase: ``with progress_bar(n, "verifying") as update: work(progress=update)``."""
    with phases() as tracker:
        yield tracker(label, total, unit)
