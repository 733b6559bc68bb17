"""Plain-text output for people: headings, tables, checks, a progress bar.

Standard library only. The progress bar redraws one line with ``\\r`` on a
terminal and prints a few plain lines otherwise (logs, CI, pipes).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO


class Checked:
    """A scenario result: passes when every check it made passed."""

    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


@dataclass(frozen=True)
class Check:
    """One invariant the drill verified, and what it saw."""

    name: str
    ok: bool
    detail: str = ""

    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        return f"  [{mark}] {self.name}" + (f" -- {self.detail}" if self.detail else "")


class Report:
    """Where a scenario writes its story (stdout by default)."""

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        isatty = getattr(self.stream, "isatty", None)
        self.tty = tty if tty is not None else bool(isatty and isatty())
        self._lock = threading.Lock()

    def line(self, text: str = "") -> None:
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def heading(self, text: str) -> None:
        self.line()
        self.line(f"== {text} ==")

    def table(
        self, header: Sequence[str], rows: Iterable[Sequence[object]], indent: int = 2
    ) -> None:
        """Left-aligned text, right-aligned numbers."""
        cells = [[str(c) for c in header]] + [[_cell(c) for c in row] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        numeric = [
            all(_is_number(row[i]) for row in cells[1:]) and len(cells) > 1
            for i in range(len(header))
        ]
        pad = " " * indent
        for n, row in enumerate(cells):
            parts = [
                text.rjust(widths[i]) if numeric[i] else text.ljust(widths[i])
                for i, text in enumerate(row)
            ]
            self.line(pad + "  ".join(parts).rstrip())
            if n == 0:
                self.line(pad + "  ".join("-" * w for w in widths))

    def timeline(
        self, header: Sequence[str], rows: Iterable[Sequence[object]], indent: int = 2
    ) -> None:
        """Like :meth:`table`, but a two-item row ``(time, text)`` is a note
        that spans the remaining columns (it does not widen them)."""
        rows = list(rows)
        full = [row for row in rows if len(row) == len(header)]
        cells = [[str(c) for c in header]] + [[_cell(c) for c in row] for row in full]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        pad = " " * indent
        self.line(pad + "  ".join(h.ljust(widths[i]) for i, h in enumerate(header)).rstrip())
        self.line(pad + "  ".join("-" * w for w in widths))
        for row in rows:
            if len(row) == len(header):
                texts = [_cell(c) for c in row]
                self.line(pad + "  ".join(t.ljust(widths[i]) for i, t in enumerate(texts)).rstrip())
            else:
                self.line(pad + _cell(row[0]).ljust(widths[0]) + "  " + _cell(row[1]))

    def checks(self, checks: Sequence[Check]) -> None:
        self.line("Checks:")
        for check in checks:
            self.line(check.line())

    def progress(self, total: int, label: str) -> Progress:
        return Progress(self, total, label)


class Progress:
    """A ``[#####-----] 75/150`` bar; thread-safe ``advance``."""

    WIDTH = 30

    def __init__(self, report: Report, total: int, label: str) -> None:
        self.report = report
        self.total = max(1, total)
        self.label = label
        self.done = 0
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._next_plain = 0.25
        self._draw()

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
            self._draw()

    def finish(self) -> float:
        elapsed = time.monotonic() - self._started
        with self._lock:
            if self.report.tty:
                self.report.stream.write("\n")
                self.report.stream.flush()
        return elapsed

    def _draw(self) -> None:
        share = self.done / self.total
        if self.report.tty:
            filled = round(self.WIDTH * share)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self.report.stream.write(f"\r  {self.label} [{bar}] {self.done}/{self.total}")
            self.report.stream.flush()
        elif self.done == 0 or share >= self._next_plain or self.done == self.total:
            # Plain lines at 0, 25, 50, 75 and 100 %: readable in a log file.
            while self._next_plain <= share:
                self._next_plain += 0.25
            self.report.line(f"  {self.label}: {self.done}/{self.total}")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
