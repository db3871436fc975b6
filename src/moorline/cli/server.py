"""``moorline server``: the tracking server, its APIs and the web UI."""

from __future__ import annotations

import gc
import sys

import click

from moorline.cli.context import CliState, err_console, handle_errors, pass_state, store_options
from moorline.errors import InvalidArgument


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind. Anything but loopback requires API tokens or --insecure.",
)
@click.option(
    "--port",
    default=5000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port (0 picks a free one).",
)
@store_options
@click.option(
    "--insecure",
    is_flag=True,
    help="Serve beyond loopback WITHOUT authentication: anyone who can reach the "
    "port can read and change every experiment. Only on a trusted network.",
)
@click.option(
    "--auth/--no-auth",
    "auth",
    default=None,
    help="Require API tokens. Default: required when binding beyond loopback.",
)
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option(
    "--serve/--no-serve",
    "serve",
    default=True,
    show_default=True,
    help="Also serve every deployment on this port (/v2, /invocations, /v1/deployments/); "
    "'moorline serve' runs dedicated model servers.",
)
@pass_state
@handle_errors
def server(
    state: CliState,
    *,
    host: str,
    port: int,
    store_opt: str | None,
    artifacts_opt: str | None,
    insecure: bool,
    auth: bool | None,
    log_level: str,
    serve: bool,
) -> None:
    """Start the server: MLflow-compatible REST API, moorline's /api/v1 and the web UI.

    \b
    Point the mlflow client at it:
        export MLFLOW_TRACKING_URI=http://127.0.0.1:5000
    The schema is migrated at start; the embedded default keeps everything
    under ./.moorline (SQLite in WAL mode plus an artifact folder).
    """
    import socket

    import uvicorn

    from moorline.bootstrap import build_services, build_webhook_dispatcher
    from moorline.server.app import create_app

    if store_opt:
        state.store = store_opt
    if artifacts_opt:
        state.artifacts = artifacts_opt
    settings = state.settings(host=host, port=port, insecure=insecure)
    if settings.is_remote:
        raise InvalidArgument("The server needs a database store, not another server's URL")
    services = build_services(settings)
    required = auth if auth is not None else (settings.binds_beyond_loopback and not insecure)
    if settings.binds_beyond_loopback and not required:
        err_console.print(
            f"[bold yellow]warning[/] serving on {host} WITHOUT authentication (--insecure): "
            "anyone who reaches this port can read, change and delete all data."
        )
    if required and not any(t.active for t in services.auth.list_tokens()):
        raise InvalidArgument(
            f"Binding {host} requires authentication, and no API token exists yet. "
            "Create one with 'moorline token create NAME' (same --store), or pass --insecure "
            "to serve without authentication on a trusted network."
        )
    serving = None
    if serve:  # beside the API; with authentication on, every call needs a consumer key
        from moorline.server.serving import build_serving_app

        serving = build_serving_app(services, require_consumer=required)
    app = create_app(services, auth_required=required, serving=serving)

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise InvalidArgument(f"Cannot listen on {host}:{port}: {exc.strerror}") from exc
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(f"moorline server listening on http://{shown_host}:{bound_port}", err=False)
    sys.stdout.flush()
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        http="httptools",
        loop="uvloop",
        lifespan="off" if serving is None else "on",
        timeout_graceful_shutdown=10,
    )
    # Everything loaded so far lives for the whole process: keep it out of the
    # collector's way, so large responses (metric histories) are not slowed
    # down by full collections over the imported modules.
    gc.collect()
    gc.freeze()
    # Webhook deliveries run beside the server, never in a request's thread.
    dispatcher = build_webhook_dispatcher(services)
    # Due monitors run beside the server too; a database lease makes each due
    # run happen once whatever the number of replicas.
    from moorline.monitoring.scheduler import MonitorScheduler

    scheduler = MonitorScheduler(services.local_monitors)
    # Pipeline triggers and runs too: a lease per run in the database, so every
    # trigger starts one run whatever the number of replicas.
    from moorline.pipelines.scheduler import PipelineScheduler

    pipelines = PipelineScheduler(services.pipelines)
    # Canaries are judged beside the server (a lease per canary in the database);
    # an accepted challenger of a pipeline goes out as one of them.
    from moorline.serving.rollout import CanaryLoop, PipelineRollout

    canaries = services.canaries
    services.pipelines.set_rollout(PipelineRollout(canaries, pipelines=services.pipelines))
    canary_loop = CanaryLoop(canaries, leases=services.local_monitors.store)
    try:
        if dispatcher is not None:
            dispatcher.start()
        scheduler.start()
        pipelines.start()
        canary_loop.start()
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        canary_loop.close()
        pipelines.close()
        scheduler.close()
        if dispatcher is not None:
            dispatcher.close()
        services.close()
