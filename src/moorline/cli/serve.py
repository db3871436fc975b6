"""``moorline serve``: the model server for deployments."""

from __future__ import annotations

import sys

import click

from moorline.cli.context import CliState, err_console, handle_errors, pass_state, store_options
from moorline.errors import InvalidArgument


@click.command()
@click.argument("deployments", nargs=-1)
@click.option(
    "--all", "serve_all", is_flag=True, help="Serve every deployment (the default without names)."
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind. Beyond loopback every served deployment must require consumer "
    "keys, or pass --insecure.",
)
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port (0 picks a free one).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes, each a full replica on the same port (SO_REUSEPORT).",
)
@store_options
@click.option(
    "--default-deployment",
    default=None,
    help="The deployment POST /invocations calls (needed when serving several).",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Serve beyond loopback deployments that do not require consumer keys: anyone "
    "who reaches the port can call them. Only on a trusted network.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@pass_state
@handle_errors
def serve(
    state: CliState,
    *,
    deployments: tuple[str, ...],
    serve_all: bool,
    host: str,
    port: int,
    workers: int,
    store_opt: str | None,
    artifacts_opt: str | None,
    default_deployment: str | None,
    insecure: bool,
    log_level: str,
) -> None:
    """Serve DEPLOYMENTs (default: every deployment, including ones created later).

    \b
    Protocols:
      POST /v1/deployments/NAME/predict   MLflow JSON + optional "key"; answers
                                          with the version and a prediction id
      POST /v2/models/NAME/infer          Open Inference Protocol v2 (KServe, Triton)
      POST /invocations                   MLflow scoring (the default deployment)
      POST /v1/deployments/NAME/feedback  ground-truth labels for prediction ids
      GET  /health /ready /metrics /ping /v2/health/ready
    \b
    Traffic changes ('moorline traffic', 'moorline rollback') are picked up
    within about a second, without a restart and without failed requests.
    Example:
      moorline serve churn --port 8080 --workers 2
      curl -s localhost:8080/v1/deployments/churn/predict \\
        -H 'Content-Type: application/json' -d '{"inputs": [[0.1, 2.0, 3.5]]}'
    """
    from moorline.server.serving.workers import ServeOptions, prepare_for_loading
    from moorline.server.serving.workers import serve as run

    prepare_for_loading()  # before the store and model libraries are imported
    from moorline.bootstrap import build_services
    from moorline.store.sql.schema_version import ensure_schema

    if serve_all and deployments:
        raise InvalidArgument("Name deployments or pass --all, not both")
    if store_opt:
        state.store = store_opt
    if artifacts_opt:
        state.artifacts = artifacts_opt
    settings = state.settings(host=host, port=port, insecure=insecure)
    if settings.is_remote:
        raise InvalidArgument(
            "moorline serve reads deployments and writes the prediction log in the database: "
            "point --store at it (sqlite:/// or postgresql+psycopg://), not at a server URL"
        )
    # Once, before any worker starts; a store already at the packaged revision (the
    # usual case) is only checked, without importing Alembic.
    ensure_schema(settings.store_uri)
    services = build_services(settings, migrate=False)
    ok = False
    try:
        service = services.deployments
        names = tuple(dict.fromkeys(deployments)) or None
        served = [service.get(n) for n in names] if names else service.list_deployments()
        known = {d.name for d in served}
        if default_deployment is not None and default_deployment not in known:
            raise InvalidArgument(
                f"--default-deployment {default_deployment!r} is not among the served "
                f"deployments ({', '.join(sorted(known)) or 'none'})"
            )
        open_ones = [d.name for d in served if not d.settings.require_consumer]
        beyond = settings.binds_beyond_loopback
        if beyond and open_ones and not insecure:
            raise InvalidArgument(
                f"Binding {host} exposes deployment(s) {', '.join(open_ones)} that do not "
                "require a consumer key: set require_consumer on them (moorline deploy ... "
                "--require-consumer), or pass --insecure to serve them openly on a trusted "
                "network"
            )
        if beyond and insecure:
            err_console.print(
                f"[bold yellow]warning[/] serving on {host} with --insecure: anyone who reaches "
                "this port can call deployments that do not require a consumer key."
            )
        if not served:
            err_console.print(
                "[yellow]note[/] no deployment exists yet; new ones are served as they are "
                "created ('moorline deploy')."
            )
        ok = True
    finally:
        if not ok:
            services.close()
    options = ServeOptions(
        host=host,
        port=port,
        workers=workers,
        store_uri=settings.store_uri,
        artifacts_uri=settings.artifacts_uri,
        s3_endpoint_url=settings.s3_endpoint_url,
        names=names,
        default_deployment=default_deployment,
        # Beyond loopback (without --insecure) deployments created later need keys too.
        require_consumer=beyond and not insecure,
        log_level=log_level,
    )
    code = run(options, services)  # one worker reuses these services
    if code:
        sys.exit(code)
