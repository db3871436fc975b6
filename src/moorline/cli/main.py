"""``moorline``: the root command and its groups."""

from __future__ import annotations

import functools
import importlib

import click

from moorline import __version__
from moorline.cli.context import CliState

#: Commands run by importing their own module alone, not every command's: ``moorline
#: drift`` is a data tool whose peak memory is measured against Evidently's, and the
#: other modules (server, store, serving...) add some 12 MB it never uses. ``moorline
#: serve`` is a model server held to a memory and start-up budget per worker.
_STANDALONE = {"drift": "moorline.cli.drift", "serve": "moorline.cli.serve"}


class _Root(click.Group):
    """The root group. Commands are registered on first need: a standalone command
    imports its module only; anything else (help, any other command) registers all."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _STANDALONE and cmd_name not in self.commands:
            module = importlib.import_module(_STANDALONE[cmd_name])
            self.add_command(getattr(module, cmd_name))
        elif cmd_name not in _STANDALONE:
            _register_once()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        _register_once()
        return super().list_commands(ctx)


@click.group(
    cls=_Root,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="moorline")
@click.option(
    "--store",
    envvar="MOORLINE_TRACKING_URI",
    help="Metadata store: sqlite:///path, postgresql+psycopg://... or http(s)://server "
    "[env MOORLINE_TRACKING_URI; default sqlite:///.moorline/moorline.db]",
)
@click.option(
    "--artifacts",
    envvar="MOORLINE_ARTIFACTS_URI",
    help="Artifact root: a folder or s3://bucket/prefix "
    "[env MOORLINE_ARTIFACTS_URI; default .moorline/artifacts]",
)
@click.pass_context
def cli(ctx: click.Context, store: str | None, artifacts: str | None) -> None:
    """moorline: experiment tracking, model registry, monitoring, retraining and serving.

    Runs embedded by default (SQLite and a local folder under ./.moorline).
    Point --store at PostgreSQL or at a moorline server to share state.
    """
    state = CliState(store, artifacts)
    ctx.obj = state
    ctx.call_on_close(state.close)


def _register() -> None:
    from moorline.cli import db, models, server, token

    cli.add_command(server.server)
    cli.add_command(db.db)
    cli.add_command(token.token)
    cli.add_command(models.models)
    from moorline.cli import approvals, audit, policy, webhooks

    cli.add_command(policy.policy)
    cli.add_command(approvals.approvals)
    cli.add_command(audit.audit_group)
    cli.add_command(webhooks.webhooks_group)
    from moorline.cli import datasets, lineage, reproduce

    cli.add_command(datasets.datasets)
    cli.add_command(lineage.lineage)
    cli.add_command(reproduce.reproduce)
    from moorline.cli import drift

    cli.add_command(drift.drift)
    from moorline.cli import monitor

    cli.add_command(monitor.monitor)
    from moorline.cli import pipeline, remediation

    cli.add_command(pipeline.pipeline)
    cli.add_command(remediation.remediation)
    from moorline.cli import consumers, deployments

    cli.add_command(deployments.deploy)
    cli.add_command(deployments.traffic)
    cli.add_command(deployments.rollback)
    cli.add_command(deployments.deployments)
    cli.add_command(consumers.consumers)
    from moorline.cli import canary

    cli.add_command(canary.canary)
    from moorline.cli import serve

    cli.add_command(serve.serve)
    from moorline.cli import demo

    cli.add_command(demo.demo)
    try:
        from moorline.cli import experiments, runs
    except ImportError:  # pragma: no cover - while the modules are being written
        return
    cli.add_command(experiments.experiments)
    cli.add_command(runs.runs)


@functools.cache
def _register_once() -> None:
    _register()


def main() -> None:
    cli(prog_name="moorline")
