"""``moorline reproduce TARGET``: re-run a training at its commit and compare the metrics.

Exit codes: 0 every metric identical; 1 some metric differs (or exists on one
side only); 2 the run cannot be reproduced as asked (no commit recorded, a
dirty tree without --allow-dirty, commit or entry point missing); 5 the
entry point failed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from moorline.cli._records import cell, echo_json, fmt_number, json_number, print_table
from moorline.cli.context import CliState, console, err_console, handle_errors, pass_state
from moorline.registry.reproduce import ReproduceReport, ReproduceService, store_environment

EXIT_DIFFERENT = 1


@click.command()
@click.argument("target", metavar="TARGET")
@click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="The git repository the run was trained from.",
)
@click.option(
    "--allow-dirty",
    is_flag=True,
    help="Reproduce even if the run recorded uncommitted changes (it then re-runs the commit).",
)
@click.option("--timeout", type=click.FloatRange(min=1), help="Stop the entry point after SECONDS.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--show-output", is_flag=True, help="Print the end of the entry point's output.")
@pass_state
@handle_errors
def reproduce(
    state: CliState,
    *,
    target: str,
    repo: Path,
    allow_dirty: bool,
    timeout: float | None,
    as_json: bool,
    show_output: bool,
) -> None:
    """Re-run the training of TARGET at its recorded commit and compare metrics.

    TARGET is a model URI (models:/churn/3, models:/churn@champion) or a run id.
    The recorded entry point runs in a temporary git worktree of --repo, with
    the recorded params (env MOORLINE_REPRODUCE_PARAMS, JSON) and dataset
    versions (moorline.load_dataset returns them), logging to the same store.
    The new run is tagged moorline.reproduction_of=<original run id>.

    \b
    Examples:
        moorline reproduce models:/churn@champion
        moorline reproduce 3f2a... --repo ~/src/churn --json

    Exits 0 when every metric is identical, 1 when one differs.
    """
    services = state.services()
    settings = services.settings
    env = store_environment(
        store_uri=settings.store_uri,
        artifacts_uri=settings.artifacts_uri,
        s3_endpoint_url=settings.s3_endpoint_url,
        token=settings.token,
    )
    service = ReproduceService(services.tracking, services.registry, store_env=env)
    report = service.reproduce(target, repo=repo, allow_dirty=allow_dirty, timeout_s=timeout)
    if show_output and report.output_tail:
        err_console.print(Text(report.output_tail))
    if as_json:
        echo_json(report_json(report))
    else:
        _print(report)
    if not report.identical:
        sys.exit(EXIT_DIFFERENT)


def report_json(report: ReproduceReport) -> dict[str, Any]:
    def number(value: float | None) -> float | str | None:
        return None if value is None else json_number(value)

    return {
        "original_run_id": report.original_run_id,
        "reproduced_run_id": report.reproduced_run_id,
        "commit": report.commit,
        "entry_point": report.entry_point,
        "command": list(report.command),
        "identical": report.identical,
        "metrics": [
            {
                "key": m.key,
                "original": number(m.original),
                "reproduced": number(m.reproduced),
                "abs_diff": number(m.abs_diff),
                "identical": m.identical,
            }
            for m in report.metrics
        ],
        "environment_differences": [
            {"package": d.package, "recorded": d.recorded, "current": d.current}
            for d in report.environment_differences
        ],
    }


def _print(report: ReproduceReport) -> None:
    console.print(
        f"reproduced run [bold]{report.original_run_id}[/] as [bold]{report.reproduced_run_id}[/]"
        f" at commit {report.commit[:12]}",
        highlight=False,
    )
    table = Table(box=None, header_style="bold")
    for name in ("metric", "original", "reproduced", "abs diff", ""):
        table.add_column(name, justify="left" if name in ("metric", "") else "right")
    for m in report.metrics:
        table.add_row(
            cell(m.key),
            cell(fmt_number(m.original)),
            cell(fmt_number(m.reproduced)),
            cell(fmt_number(m.abs_diff) if m.abs_diff is not None else "missing"),
            Text("same", style="green") if m.identical else Text("DIFFERENT", style="red"),
        )
    print_table(table)
    for d in report.environment_differences:
        console.print(
            f"note: {d.package} was {d.recorded} when the run was recorded, "
            f"here {d.current or 'not installed'}",
            style="yellow",
            highlight=False,
        )
    verdict = "all metrics identical" if report.identical else "metrics differ"
    console.print(verdict, style="green" if report.identical else "red")
