"""Shared CLI plumbing: global options, building services once, rendering errors."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.text import Text

from moorline.bootstrap import Services, Settings, build_services
from moorline.cli.errors import EXIT_CODES
from moorline.errors import MoorlineError

F = TypeVar("F", bound=Callable[..., Any])

console = Console()
err_console = Console(stderr=True)


class CliState:
    """Options of the root command, and the services built from them on first use."""

    def __init__(self, store: str | None, artifacts: str | None) -> None:
        self.store = store
        self.artifacts = artifacts
        self._services: Services | None = None

    def settings(self, **overrides: object) -> Settings:
        return Settings.from_env(store_uri=self.store, artifacts_uri=self.artifacts, **overrides)

    def services(self) -> Services:
        if self._services is None:
            self._services = build_services(self.settings())
        return self._services

    def close(self) -> None:
        if self._services is not None:
            self._services.close()


pass_state = click.make_pass_decorator(CliState)


def store_options(func: F) -> F:
    """``--store`` and ``--artifacts`` for a command that runs a server, passed as
    ``store_opt`` and ``artifacts_opt`` (they override the global options)."""
    func = click.option(
        "--artifacts",
        "artifacts_opt",
        default=None,
        help="Artifact root (overrides the global --artifacts).",
    )(func)
    return click.option(
        "--store",
        "store_opt",
        default=None,
        help="Metadata store URI (overrides the global --store).",
    )(func)


def handle_errors(func: F) -> F:
    """Render MoorlineError as one clear line and exit with its mapped code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MoorlineError as exc:
            # Text, not markup (a message may hold brackets); one line whatever the
            # terminal's width (the terminal wraps it; logs and grep see it whole)
            line = Text.assemble(("error", "bold red"), f" [{exc.code.value}] {exc.message}")
            err_console.print(line, soft_wrap=True, highlight=False)
            sys.exit(EXIT_CODES.get(exc.code, 4))

    return wrapper  # type: ignore[return-value]
