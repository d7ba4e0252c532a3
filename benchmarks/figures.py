"""How a benchmark prints its figures: one row each, its label, what was measured, the floor it
must stay within and ``ok`` or ``MISSED`` (nothing for a figure without a floor)."""

from __future__ import annotations


def print_figures(figures: list[tuple[str, str, str, bool | None]], measured_width: int = 58) -> None:
    width = max(len(label) for label, *_ in figures)
    for label, measured, limit, ok in figures:
        verdict = "" if ok is None else ("ok" if ok else "MISSED")
        print(f"{label:<{width}}  {measured:<{measured_width}} {limit:<19} {verdict}")
