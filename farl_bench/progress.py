"""What a person watching a run sees: rich bars in a terminal, and one log line as each cell of the
grid starts and ends (with its wall time and the grid's ETA), which reads well piped, in a log file
or under Slurm."""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

if TYPE_CHECKING:
    from farl_bench.results.record import RunRecord

log = logging.getLogger(__name__)

#: Called with (description, total) to start a progress bar; returns an advance(n) callable.
ProgressFactory = Callable[[str, int], Callable[[int], None]]


def no_bars(description: str, total: int) -> Callable[[int], None]:
    """A ProgressFactory that shows nothing."""
    return lambda n: None


class RateColumn(ProgressColumn):
    """Steps a second, or seconds a step when slower than one a second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed:
            return Text("")
        return Text(f"{speed:.1f}/s" if speed >= 1 else f"{1 / speed:.1f} s/step", style="progress.data.speed")


@contextmanager
def bars(console: Console) -> Iterator[ProgressFactory]:
    """Rich bars on `console` with count, rate, elapsed time and ETA; a bar goes away when it is full,
    so a long grid shows the cells bar and the current cell's bars only."""
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
               TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        def start(description: str, total: int) -> Callable[[int], None]:
            task = progress.add_task(description, total=total)
            left = total

            def advance(n: int) -> None:
                nonlocal left
                left -= n
                if left > 0:
                    progress.advance(task, n)
                elif task in progress.task_ids:
                    progress.remove_task(task)

            return advance

        yield start


def duration(seconds: float) -> str:
    """'42 s', '14 min', '2 h 05 min'."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds / 60 + 0.5)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def headline(record: RunRecord | None) -> str:
    """'f1_mean 71.2': the record's first headline metric on the whole test split ('' if it has none)."""
    if record is None:
        return ""
    name = record.headline_metrics[0]
    metric = record.metrics.get("test", {}).get(name)
    return f"{name} {metric.value:.4g}" if metric else ""


class GridLog:
    """Logs `[i/N] <cell>: started`, then `[i/N] <cell>: f1_mean 71.2 (42 s; grid ETA 14 min)`, and
    advances the grid's bar. Cells already recorded count toward i but not toward the ETA, which is
    the mean time of the cells run so far times the cells left."""

    def __init__(self, total: int, results: Path, advance: Callable[[int], None],
                 clock: Callable[[], float] = time.monotonic):
        self.total, self.results, self.advance, self.clock = total, results, advance, clock
        self.seen = self.timed = 0
        self.spent = self.started = 0.0

    def skipped(self, cell: str) -> None:
        self.seen += 1
        log.info("[%d/%d] %s: already in %s/ (--force re-runs it)", self.seen, self.total, cell, self.results)
        self.advance(1)

    def start(self, cell: str) -> None:
        self.started = self.clock()
        log.info("[%d/%d] %s: started", self.seen + 1, self.total, cell)

    def finish(self, cell: str, record: RunRecord | None) -> None:
        seconds = self.clock() - self.started
        self.seen, self.timed, self.spent = self.seen + 1, self.timed + 1, self.spent + seconds
        left = self.total - self.seen
        eta = f"grid ETA {duration(self.spent / self.timed * left)}" if left else "grid done"
        result = headline(record)
        log.info("[%d/%d] %s: %s(%s; %s)", self.seen, self.total, cell, f"{result} " if result else "",
                 duration(seconds), eta)
        self.advance(1)
