"""Expand a validated suite into cells, ordered so that every cell comes after its dependencies."""

from __future__ import annotations

from collections.abc import Iterable

from trustbench.runner.cells import Cell
from trustbench.runner.config import Suite, protocol_module

__all__ = ["expand", "order"]


def expand(suite: Suite) -> list[Cell]:
    """All cells of ``suite`` (each benchmark's protocol ``grid``), without duplicates, in run order."""
    cells: list[Cell] = []
    for entry in suite.entries:
        cells.extend(protocol_module(entry.protocol).grid(suite.name, entry.name, entry, entry.seeds))
    unique = {cell.key: cell for cell in reversed(cells)}  # first occurrence wins
    return order(c for c in cells if unique.get(c.key) is c)


def order(cells: Iterable[Cell]) -> list[Cell]:
    """Stable topological order: each cell after those of its ``depends_on`` that are in the list.

    Dependencies outside the list (already in the store) impose no order. A cycle is a ValueError.
    """
    cells = list(cells)
    keys = {c.key for c in cells}
    done: set[str] = set()
    out: list[Cell] = []
    pending = cells
    while pending:
        waiting = []
        for cell in pending:
            if all(d in done or d not in keys for d in cell.depends_on):
                out.append(cell)
                done.add(cell.key)
            else:
                waiting.append(cell)
        if len(waiting) == len(pending):
            raise ValueError(f"cells depend on each other in a cycle: {[c.key for c in waiting]}.")
        pending = waiting
    return out
