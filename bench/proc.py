"""What the processes of a stack cost, read from /proc: their children, and the CPU seconds a
process tree or every process of a name has used (bench/stack.py row 3, bench/memory.py)."""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The direct children of a process (a Celery worker's prefork pool)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "children").read_text().split()
        except FileNotFoundError:  # a thread that ended while this read (the web's thread pool)
            continue
        found.extend(int(p) for p in text)
    return sorted(found)


def _stat(pid: int | str) -> tuple[str, float]:
    """The process's name and the CPU seconds it and its children that ended have used (user and
    system): a child's time moves into its parent's once it ends, so a tree's sum never falls."""
    text = Path(f"/proc/{pid}/stat").read_text()
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()  # from field 3, "state"
    return name, sum(int(f) for f in fields[11:15]) / CLOCK_TICKS  # utime, stime, cutime, cstime


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used by a process and its live descendants (0 for one that is gone)."""
    try:
        own, kids = _stat(pid)[1], children(pid)
    except (OSError, ValueError):
        return 0.0
    return own + sum(tree_cpu_seconds(child) for child in kids)


def named_cpu_seconds(name: str) -> float:
    """CPU seconds used by the live processes called ``name`` (PostgreSQL's backends, Redis)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                comm, seconds = _stat(entry.name)
            except (OSError, ValueError):
                continue
            total += seconds if comm == name else 0.0
    return total
