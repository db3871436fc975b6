"""``moorline demo``: the closed loop end to end on real data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from moorline.cli.context import CliState, console, err_console, handle_errors, pass_state


@click.command()
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the store to use (DIR/moorline.db and DIR/artifacts). Default: the "
    "store 'moorline server' uses (MOORLINE_HOME, ./.moorline; or --store/--artifacts).",
)
@click.option(
    "--reset",
    is_flag=True,
    help="Delete the demo's model, deployment, monitor and pipeline first when they exist "
    "(their history stays: runs, audit log, remediation records).",
)
@click.option(
    "--fast",
    is_flag=True,
    help="Hourly rows, two-second weeks, May to July: about a minute (for tests).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the measured summary as JSON on stdout (the story goes to stderr).",
)
@pass_state
@handle_errors
def demo(state: CliState, *, home: Path | None, reset: bool, fast: bool, as_json: bool) -> None:
    """Run the closed loop on Victoria's electricity demand, end to end.

    \b
    Trains a model on January-April 2014, registers it (with its training
    data), deploys it, and streams May onwards through a real model server
    with the true demand sent back as feedback. A monitor on the logged
    predictions sees the error grow into winter; its alert starts the
    retraining pipeline; the challenger is validated against the champion,
    goes out as a canary and is promoted by the canary analysis. Prints the
    timeline, the error before and after, and where to look in the UI.
    Exit code 0 when the retrained model ends up serving, 1 otherwise.
    """
    from moorline.demo.display import Display
    from moorline.demo.records import DemoOptions
    from moorline.demo.story import run_demo

    if home is not None:
        folder = home.expanduser().resolve()
        folder.mkdir(parents=True, exist_ok=True)
        state.store = f"sqlite:///{folder / 'moorline.db'}"
        state.artifacts = str(folder / "artifacts")
    settings = state.settings()
    options = DemoOptions.fast(reset=reset) if fast else DemoOptions(reset=reset)
    display = Display(err_console if as_json else console)
    display.title("moorline demo: drift -> retrain -> validate -> canary -> promote")
    display.line(f"store {settings.store_uri}, artifacts {settings.artifacts_uri}", style="dim")
    summary = run_demo(settings, options, display)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=2))
    if not summary.ok:
        sys.exit(1)
