"""How the demo shows what happens: step lines, one line per streamed week, the
remediation record's steps as they land, and the closing summary (rich)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

if TYPE_CHECKING:
    from moorline.pipelines.models import Remediation, Step

_MARK = {
    "ok": ("✓", "green"),
    "started": ("▶", "cyan"),
    "pending": ("…", "yellow"),
    "failed": ("✗", "bold red"),
    "skipped": ("-", "dim"),
    "deduplicated": ("=", "magenta"),
}


def clip(text: str, limit: int = 220) -> str:
    """One line of at most ``limit`` characters.

    >>> clip("a\\nb" + "c" * 10, 6)
    'a bcc…'
    """
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Display:
    """Prints the story on ``console``; :meth:`streaming` shows a progress bar over
    the streamed days while the lines above it keep coming."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress: Progress | None = None
        self._task: Any = None

    def title(self, text: str) -> None:
        self.console.print(Text(text, style="bold"))

    def line(self, text: str = "", style: str | None = None) -> None:
        self.console.print(Text(text, style=style or ""), highlight=False)

    def step(self, label: str, text: str) -> None:
        line = Text()
        line.append(f"{label:<10}", style="bold cyan")
        line.append(text)
        self.console.print(line, highlight=False)

    def event(self, status: str, name: str, reason: str, *, indent: int = 4) -> None:
        mark, style = _MARK.get(status, ("•", ""))
        line = Text(" " * indent)
        line.append(f"{mark} {name:<16}", style=style)
        line.append(clip(reason))
        self.console.print(line, highlight=False)

    def remediation_steps(self, steps: Sequence[Step]) -> None:
        for step in steps:
            self.event(step.status.value, step.step, step.reason)
            for reason in step.details.get("reasons") or ():
                if isinstance(reason, Mapping):
                    ok = "✓" if reason.get("passed") else "✗"
                    self.line(" " * 23 + clip(f"{ok} {reason.get('message')}", 200), "dim")

    @contextlib.contextmanager
    def streaming(self, total_days: int) -> Iterator[None]:
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("days"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self._progress = progress
        with progress:
            self._task = progress.add_task("streaming", total=total_days)
            try:
                yield
            finally:
                self._progress = None

    def advance(self, description: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, description=description)

    @contextlib.contextmanager
    def waiting(self, text: str) -> Iterator[None]:
        """A spinner while something long runs (the pipeline's training)."""
        if self._progress is not None:
            self._progress.update(self._task, description=text)
            yield
            return
        with self.console.status(text):
            yield

    def timeline(self, record: Remediation) -> None:
        first = record.steps[0].at if record.steps else record.created_at
        for step in record.steps:
            mark, style = _MARK.get(step.status.value, ("•", ""))
            line = Text("  ")
            line.append(f"{_clock(step.at)} +{(step.at - first) / 1000:6.1f}s  ", style="dim")
            line.append(f"{mark} {step.step:<16}", style=style)
            line.append(clip(step.reason, 160))
            self.console.print(line, highlight=False)

    def markup(self, text: str) -> None:
        self.console.print(text, highlight=False)

    @staticmethod
    def escape(text: str) -> str:
        return escape(text)


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%H:%M:%S")


__all__ = ["Display", "clip"]
