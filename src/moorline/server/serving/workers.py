"""Running the model server: one worker in this process, or N worker processes.

Each worker is a full replica (its own models, routing table, batchers,
prediction log and metrics) on uvicorn with httptools and uvloop. With
several workers each binds its own listening socket with ``SO_REUSEPORT``
and the kernel spreads connections over them. uvicorn's own multi-worker
mode is not used: its workers share one socket without ``TCP_NODELAY`` and
stall about 40 ms on every keep-alive request (uvicorn issue #3149).

The supervisor forwards SIGTERM/SIGINT to the workers as SIGTERM (each
stops accepting, finishes its in-flight requests and flushes its
prediction log and serving usage), restarts a worker that dies, and stops
everything when a worker cannot start at all (a deployment that cannot be
loaded).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import gc
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

from moorline.errors import InvalidArgument, MoorlineError
from moorline.server.supervisor import EXIT_CANNOT_SERVE

if TYPE_CHECKING:
    from moorline.bootstrap import Services

log = logging.getLogger("moorline.serving")

#: GIL switch interval of a worker (Python's default is 5 ms).
SWITCH_INTERVAL_S: Final = 0.001
#: glibc malloc arenas of a worker: one for all its threads (see :func:`prepare_for_loading`).
MALLOC_ARENAS: Final = 1
#: glibc's ``mallopt`` parameter number for the arena limit (``malloc.h``).
M_ARENA_MAX: Final = -8


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeOptions:
    """What ``moorline serve`` was asked for, passed to every worker."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    store_uri: str
    artifacts_uri: str
    s3_endpoint_url: str | None = None
    names: tuple[str, ...] | None = None
    default_deployment: str | None = None
    require_consumer: bool = False
    log_level: str = "info"
    poll_interval_s: float = 0.5
    graceful_timeout_s: float = 30.0
    #: seconds between two writes of serving usage (requests and CPU per version)
    usage_interval_s: float = 30.0


def open_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A bound TCP socket (not listening yet); ``reuse_port`` lets several processes
    bind the same port, each with its own accept queue."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        if not hasattr(socket, "SO_REUSEPORT"):  # pragma: no cover - not on Linux
            sock.close()
            raise InvalidArgument("Several workers need SO_REUSEPORT, which this OS lacks")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InvalidArgument(f"Cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


def configure_logging(level: str, worker: int | None) -> None:
    """Progress lines on stderr: moorline's at INFO, uvicorn's at ``level`` or WARNING."""
    tag = "" if worker is None else f" [worker {worker}]"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s moorline-serve{tag}: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("moorline").setLevel(
        logging.DEBUG if level == "debug" else logging.INFO if level != "error" else logging.ERROR
    )
    uvicorn_level = "DEBUG" if level == "debug" else "WARNING"
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).setLevel(uvicorn_level)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def prepare_for_loading() -> None:
    """Set up this process to load models lean and fast; :func:`settle_after_loading`
    ends it once they are loaded. Measured with a 100-tree forest and a scaled
    logistic regression served together:

    - The cyclic garbage collector is off until then. Importing the model
      libraries and loading the models creates a few hundred thousand objects
      that live as long as the process; every full collection walked them
      again, and so did a ``gc.collect()`` once loaded (0.3 to 0.5 s of CPU of
      a start in all). The cyclic garbage start-up leaves (some 7,000 small
      objects from loading, under 1 MiB) is frozen with the rest instead.
    - On glibc, one malloc arena for all threads (as ``MALLOC_ARENA_MAX=1``):
      every thread that allocates (model loading, predict calls, the prediction
      log, the event loop's helpers) would otherwise get an arena of its own
      that keeps what it freed: 3.5 MiB less resident with the benchmark's two
      models, requests/s unchanged within the noise (hey, 16 and 64
      connections).
    - skops is imported without its scan of every scikit-learn module
      (:func:`moorline.models.flavors.sklearn.defer_estimator_scan`): 13 to
      15 MiB and about half a second less per worker.
    - pandas is imported without PyArrow for scikit-learn, XGBoost and LightGBM
      models (:mod:`moorline.models.lean_imports`): 60 MiB less resident per
      worker, most of it PyArrow's shared libraries.
    """
    gc.disable()
    libc = _glibc()
    if libc is not None:
        libc.mallopt(M_ARENA_MAX, MALLOC_ARENAS)
    from moorline.models.flavors.sklearn import defer_estimator_scan
    from moorline.models.lean_imports import prefer_lean_pandas

    defer_estimator_scan()
    prefer_lean_pandas()


def settle_after_loading() -> None:
    """Once the models are loaded and warmed: freeze what exists (models and
    libraries live as long as the process, so no collection walks them again),
    turn the collector back on, and hand freed heap pages back to the OS
    (``malloc_trim``, glibc only: about 1 MiB)."""
    gc.freeze()
    gc.enable()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (``mallopt`` and ``malloc_trim``), else None."""
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):  # not glibc (musl, macOS)
        return None
    if not version:
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # pragma: no cover - glibc under another name
        return None


def run_worker(
    options: ServeOptions,
    index: int | None = None,
    sock: socket.socket | None = None,
    services: Services | None = None,
) -> int:
    """Serve in this process until SIGTERM/SIGINT; returns the exit code.

    ``services``: reuse these (closed at the end) instead of building new ones.
    """
    import uvicorn

    from moorline.bootstrap import Settings, build_services
    from moorline.server.serving import build_serving_app

    configure_logging(options.log_level, index)
    prepare_for_loading()
    # The predict thread holds the GIL for a model's Python parts; a shorter switch
    # interval than the default 5 ms lets the event loop read and answer requests
    # meanwhile, so more of them join the next batch.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    settings = Settings.from_env(
        {},
        store_uri=options.store_uri,
        artifacts_uri=options.artifacts_uri,
        s3_endpoint_url=options.s3_endpoint_url,
        host=options.host,
        port=options.port,
    )
    if services is None:
        services = build_services(settings, migrate=False)
    outcome = {"code": 0}
    server: uvicorn.Server | None = None
    _Server = _uvicorn_server()

    def fatal(exc: BaseException) -> None:
        outcome["code"] = EXIT_CANNOT_SERVE
        if server is not None:
            server.should_exit = True

    def ready(elapsed_ms: float) -> None:
        table = app.runtime.table
        served = ", ".join(
            f"{name} ({state.deployment.policy.describe()})"
            for name, state in sorted(table.items())
        )
        log.info("ready in %.0f ms: %s", elapsed_ms, served or "no deployment yet")
        settle_after_loading()

    app = build_serving_app(
        services,
        names=options.names,
        default_deployment=options.default_deployment,
        require_consumer=options.require_consumer,
        strict=True,
        poll_interval_s=options.poll_interval_s,
        on_fatal=fatal,
        on_ready=ready,
        # Among several workers, one still loading must not take connections: it
        # listens (joins the SO_REUSEPORT group) only once its models are ready.
        load_before_listening=options.workers > 1,
        # A worker only serves: its whole CPU time goes to the versions it served
        # (written every usage_interval_s and when it stops).
        serving_only=True,
        usage_interval_s=options.usage_interval_s,
    )
    if sock is None:
        sock = open_socket(options.host, options.port, reuse_port=options.workers > 1)
    config = uvicorn.Config(
        app,
        http="httptools",
        loop="uvloop",
        ws="none",  # no WebSocket routes: nor the websockets import
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=int(options.graceful_timeout_s),
        server_header=False,
    )
    server = _Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        services.close()
        sock.close()
    return outcome["code"]


def _uvicorn_server() -> type[Any]:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, except that a worker whose graceful shutdown completed
        exits normally (code 0) instead of re-raising the signal that stopped it."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                self._captured_signals.clear()

    return Server


def worker_entry() -> None:
    """Entry point of a worker process the supervisor started
    (:mod:`moorline.server.supervisor`): the options (JSON) on standard input,
    ``argv`` = index, parent pid."""
    raw = json.loads(sys.stdin.read())
    names = raw.get("names")
    options = ServeOptions(**{**raw, "names": None if names is None else tuple(names)})
    _worker_main(options, int(sys.argv[1]), int(sys.argv[2]))


def _worker_main(options: ServeOptions, index: int, parent: int) -> None:
    """Entry point of a spawned worker process."""
    # Own process group: a Ctrl-C in the terminal reaches the supervisor only,
    # which asks each worker once (a second signal would make uvicorn drop
    # in-flight requests).
    with contextlib.suppress(OSError):
        os.setpgrp()
    prepare_for_loading()  # before any thread starts: the arena limit counts from here
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    try:
        code = run_worker(options, index)
    except MoorlineError as exc:
        logging.getLogger("moorline.serving").error("cannot serve: %s", exc.message)
        code = EXIT_CANNOT_SERVE
    sys.exit(code)


def _watch_parent(parent: int) -> None:
    """Stop when the supervisor is gone (killed without forwarding a signal)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
            return


def announce(options: ServeOptions, port: int) -> None:
    """The one stdout line: where the server listens (port 0 is resolved by now)."""
    shown = f"[{options.host}]" if ":" in options.host else options.host
    served = "all deployments" if options.names is None else ", ".join(options.names)
    workers = f"{options.workers} worker{'s' if options.workers > 1 else ''}"
    print(f"moorline serve listening on http://{shown}:{port} ({workers}; {served})", flush=True)


def serve(options: ServeOptions, services: Services | None = None) -> int:
    """One worker in this process (reusing ``services`` if given), or a supervisor
    over several (``services`` is then closed first: each worker opens its own)."""
    if options.workers <= 1:
        sock = open_socket(options.host, options.port, reuse_port=False)
        port = sock.getsockname()[1]
        announce(options, port)
        return run_worker(replace(options, port=port), sock=sock, services=services)
    if services is not None:
        services.close()
    from moorline.server.supervisor import exec_supervisor

    reserve = open_socket(options.host, options.port, reuse_port=True)
    port = reserve.getsockname()[1]
    announce(options, port)
    exec_supervisor(dataclasses.asdict(replace(options, port=port)), reserve)
    raise AssertionError("unreachable: exec_supervisor replaces this process")
