"""Fluent run logging: ``set_experiment``, ``start_run`` and the ``log_*`` functions.

The stack of active runs lives in a :class:`contextvars.ContextVar`, so each
thread (and each asyncio task) has its own: a worker thread never logs into
the main thread's run by accident. To log from a worker into a run the main
thread started, hand it the :class:`ActiveRun` object and call its methods.

The active experiment and the store are process-wide (see ``_session``).
"""

from __future__ import annotations

import atexit
import contextvars
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from moorline.core.clock import now_ms
from moorline.errors import AlreadyExists, InvalidArgument, MoorlineError
from moorline.sdk._session import SESSION
from moorline.tracking.models import (
    DEFAULT_EXPERIMENT_ID,
    TAG_USER,
    Experiment,
    ExperimentId,
    LifecycleStage,
    Metric,
    Param,
    RunId,
    RunInfo,
    RunStatus,
    Tag,
)
from moorline.tracking.validation import (
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_PER_BATCH,
    MAX_TAGS_PER_BATCH,
)

if TYPE_CHECKING:
    from moorline.bootstrap import Services

T = TypeVar("T")

#: Tag naming the parent of a nested run (MLflow's name, so its UI nests them too).
TAG_PARENT_RUN_ID = "mlflow.parentRunId"
#: A process started on behalf of a run (``moorline reproduce``, a pipeline step) gets
#: that run's id here; its top-level runs record it as their parent.
ENV_PARENT_RUN_ID = "MOORLINE_PARENT_RUN_ID"
#: A JSON object of tags every top-level run of the process starts with (for
#: ``moorline reproduce``: ``moorline.reproduction_of``).
ENV_RUN_TAGS = "MOORLINE_RUN_TAGS"


_STACK: contextvars.ContextVar[tuple[ActiveRun, ...]] = contextvars.ContextVar(
    "moorline_active_runs", default=()
)
_OPEN_LOCK = threading.Lock()
_OPEN_RUNS: dict[int, ActiveRun] = {}
_ATEXIT_REGISTERED = False


class ActiveRun:
    """A run this process started and has not ended; a context manager.

    Leaving the ``with`` block ends the run: FINISHED on normal exit, KILLED on
    ``KeyboardInterrupt``, FAILED on any other exception (which propagates).
    The ``log_*`` methods log into this run whatever the calling thread.

    >>> import moorline  # doctest: +SKIP
    >>> with moorline.start_run(run_name="baseline") as run:  # doctest: +SKIP
    ...     run.log_metric("loss", 0.25, step=1)
    """

    def __init__(self, services: Services, info: RunInfo, *, parent_run_id: str | None) -> None:
        self._services = services
        self._info = info
        self._parent_run_id = parent_run_id
        self._ended = False

    def __repr__(self) -> str:
        return f"<ActiveRun {self.run_id} {self.run_name!r} experiment={self.experiment_id}>"

    # -- what the run is ---------------------------------------------------

    @property
    def info(self) -> RunInfo:
        """The run's info as it was when it started."""
        return self._info

    @property
    def run_id(self) -> RunId:
        return self._info.run_id

    @property
    def run_name(self) -> str:
        return self._info.run_name

    @property
    def experiment_id(self) -> ExperimentId:
        return self._info.experiment_id

    @property
    def artifact_uri(self) -> str:
        return self._info.artifact_uri

    @property
    def parent_run_id(self) -> str | None:
        return self._parent_run_id

    @property
    def ended(self) -> bool:
        return self._ended

    # -- logging -----------------------------------------------------------

    def log_param(self, key: str, value: object) -> None:
        """Log one parameter; it is stored as ``str(value)`` and cannot change later."""
        self._services.tracking.log_batch(self.run_id, params=[Param(key=key, value=_str(value))])

    def log_params(self, params: Mapping[str, object]) -> None:
        """Log several parameters (batches of :data:`MAX_PARAMS_PER_BATCH`)."""
        items = [Param(key=k, value=_str(v)) for k, v in params.items()]
        for chunk in _chunks(items, MAX_PARAMS_PER_BATCH):
            self._services.tracking.log_batch(self.run_id, params=chunk)

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Log one point of metric ``key``; ``timestamp`` is in ms (default: now)."""
        metric = Metric(
            key=key,
            value=_float(key, value),
            step=0 if step is None else step,
            timestamp=now_ms() if timestamp is None else timestamp,
        )
        self._services.tracking.log_batch(self.run_id, metrics=[metric])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log several metrics at one step and timestamp, in as few batches as the limits allow.

        Each batch (at most :data:`MAX_METRICS_PER_BATCH`) is atomic; a call
        larger than one batch is not.
        """
        ts = now_ms()
        items = [
            Metric(key=k, value=_float(k, v), step=0 if step is None else step, timestamp=ts)
            for k, v in metrics.items()
        ]
        for chunk in _chunks(items, MAX_METRICS_PER_BATCH):
            self._services.tracking.log_batch(self.run_id, metrics=chunk)

    def set_tag(self, key: str, value: object) -> None:
        """Set (or overwrite) one tag."""
        self._services.tracking.set_tag(self.run_id, key, _str(value))

    def set_tags(self, tags: Mapping[str, object]) -> None:
        """Set several tags (batches of :data:`MAX_TAGS_PER_BATCH`)."""
        items = [Tag(key=k, value=_str(v)) for k, v in tags.items()]
        for chunk in _chunks(items, MAX_TAGS_PER_BATCH):
            self._services.tracking.log_batch(self.run_id, tags=chunk)

    def log_artifact(
        self, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> str:
        """Upload one file, streamed from disk; returns its path below the run's artifact root.

        It lands at ``<artifact_path>/<file name>`` (or ``<file name>`` at the root).
        """
        path = Path(local_path)
        if not path.is_file():
            raise InvalidArgument(f"Cannot log artifact {str(path)!r}: it is not a file")
        dest = _join(artifact_path, path.name)
        with path.open("rb") as fh:
            self._services.artifacts.log_run_artifact(self.run_id, dest, fh)
        return dest

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[str]:
        """Upload every file below ``local_dir``, one stream per file, keeping the layout.

        Returns the artifact paths written, in the order they were uploaded.
        """
        root = Path(local_dir)
        if not root.is_dir():
            raise InvalidArgument(f"Cannot log artifacts from {str(root)!r}: it is not a directory")
        written: list[str] = []
        for file in _walk_files(root):
            dest = _join(artifact_path, file.relative_to(root).as_posix())
            with file.open("rb") as fh:
                self._services.artifacts.log_run_artifact(self.run_id, dest, fh)
            written.append(dest)
        return written

    # -- ending --------------------------------------------------------------

    def end(self, status: RunStatus | str = RunStatus.FINISHED) -> None:
        """End the run with ``status`` (a terminal status) and drop it from the active stack.

        Ending twice is a no-op.
        """
        st = _terminal_status(status)
        if self._ended:
            return
        self._services.tracking.end_run(self.run_id, st)
        self._ended = True
        _forget(self)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        status = _status_for(exc)
        if exc is None:
            self.end(status)
            return
        try:
            self.end(status)
        except MoorlineError as end_error:
            # The user's exception is what matters; say why the run kept its status.
            _forget(self)
            exc.add_note(f"moorline: could not mark run {self.run_id} {status.value}: {end_error}")


def _status_for(exc: BaseException | None) -> RunStatus:
    if exc is None:
        return RunStatus.FINISHED
    if isinstance(exc, KeyboardInterrupt):
        return RunStatus.KILLED
    if isinstance(exc, SystemExit) and exc.code in (None, 0):
        return RunStatus.FINISHED
    return RunStatus.FAILED


def _terminal_status(status: RunStatus | str) -> RunStatus:
    try:
        st = RunStatus(status)
    except ValueError:
        st = None
    if st is None or not st.is_terminal:
        raise InvalidArgument(f"A run ends with FINISHED, FAILED or KILLED, not {status!r}")
    return st


def _str(value: object) -> str:
    return value if isinstance(value, str) else str(value)


def _float(key: str, value: object) -> float:
    if isinstance(value, str | bytes):
        raise InvalidArgument(f"Metric {key!r} must be a number, got the string {value!r}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(
            f"Metric {key!r} must be a number, got {type(value).__name__}"
        ) from exc


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _join(prefix: str | None, name: str) -> str:
    if prefix is None or not prefix.strip("/"):
        return name
    return f"{prefix.strip('/')}/{name}"


def _walk_files(root: Path) -> Iterator[Path]:
    """Files below ``root`` in a stable order (sorted per folder)."""
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            yield Path(folder) / name


# -- the stack and the open-run registry ------------------------------------


def _live_stack() -> tuple[ActiveRun, ...]:
    stack = _STACK.get()
    if any(r.ended for r in stack):
        stack = tuple(r for r in stack if not r.ended)
        _STACK.set(stack)
    return stack


def _forget(run: ActiveRun) -> None:
    run._ended = True
    with _OPEN_LOCK:
        _OPEN_RUNS.pop(id(run), None)
    stack = _STACK.get()
    if run in stack:
        _STACK.set(tuple(r for r in stack if r is not run))


def _remember(run: ActiveRun) -> None:
    global _ATEXIT_REGISTERED  # noqa: PLW0603 - registered once, on the first run
    with _OPEN_LOCK:
        _OPEN_RUNS[id(run)] = run
        if not _ATEXIT_REGISTERED:
            atexit.register(_end_open_runs_at_exit)
            _ATEXIT_REGISTERED = True
    _STACK.set((*_live_stack(), run))


def _any_open_run() -> bool:
    with _OPEN_LOCK:
        return bool(_OPEN_RUNS)


def _end_open_runs_at_exit() -> None:
    """Runs started without ``with`` and never ended: close them as the process ends.

    An uncaught exception (recorded by the interpreter in ``sys.last_value``)
    makes them FAILED, an uncaught ``KeyboardInterrupt`` KILLED, else FINISHED.
    """
    last = getattr(sys, "last_value", None)
    interactive = hasattr(sys, "ps1")
    status = RunStatus.FINISHED if interactive or last is None else _status_for(last)
    with _OPEN_LOCK:
        runs = list(_OPEN_RUNS.values())
    for run in runs:
        try:
            run.end(status)
        except MoorlineError:
            _forget(run)
    SESSION.close()


# -- the public functions ---------------------------------------------------


def set_tracking_uri(uri: str | None) -> None:
    """Use the store at ``uri`` from now on (``None``: back to ``MOORLINE_TRACKING_URI``).

    ``uri`` is what ``MOORLINE_TRACKING_URI`` accepts: ``sqlite:///path``,
    ``postgresql+psycopg://...`` or ``http(s)://server``. The active experiment
    is forgotten (ids belong to a store). Refused while a run is active.
    """
    SESSION.set_tracking_uri(uri, busy=_any_open_run())


def get_tracking_uri() -> str:
    """The store URI the SDK uses (or will use on first need)."""
    return SESSION.tracking_uri()


def _get_or_create_experiment(services: Services, name: str) -> Experiment:
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument(f"Experiment name must be a non-empty string, got {name!r}")
    tracking = services.tracking
    experiment = tracking.get_experiment_by_name(name)
    if experiment is None:
        try:
            experiment_id = tracking.create_experiment(name)
        except AlreadyExists:  # another process created it between our two calls
            experiment = tracking.get_experiment_by_name(name)
            if experiment is None:
                raise
        else:
            experiment = tracking.get_experiment(experiment_id)
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise InvalidArgument(
            f"Experiment {name!r} (id {experiment.experiment_id}) is deleted; restore it "
            "or choose another name"
        )
    return experiment


def set_experiment(name: str) -> Experiment:
    """Make experiment ``name`` the one new runs go to, creating it if missing.

    >>> import moorline  # doctest: +SKIP
    >>> moorline.set_experiment("churn").name  # doctest: +SKIP
    'churn'
    """
    experiment = _get_or_create_experiment(SESSION.services(), name)
    SESSION.experiment_id = experiment.experiment_id
    return experiment


def start_run(
    run_name: str | None = None,
    experiment: str | Experiment | None = None,
    tags: Mapping[str, object] | None = None,
    *,
    nested: bool = False,
) -> ActiveRun:
    """Start a run and make it the active one; use it as a context manager.

    ``experiment`` is a name (created if missing) or an :class:`Experiment`;
    the default is the one :func:`set_experiment` chose, else ``Default``.
    Starting a run while another is active in this thread needs
    ``nested=True``; the new run then records its parent in the tag
    ``mlflow.parentRunId``. The run records the git commit, whether the tree
    was dirty, the entry point, the user and the Python environment as tags.

    >>> import moorline  # doctest: +SKIP
    >>> with moorline.start_run(run_name="baseline") as run:  # doctest: +SKIP
    ...     moorline.log_metric("auc", 0.91)
    """
    stack = _live_stack()
    parent = stack[-1] if stack else None
    if parent is not None and not nested:
        raise InvalidArgument(
            f"Run {parent.run_id} ({parent.run_name!r}) is already active in this thread; "
            "end it first, or pass nested=True to start a child run"
        )
    services = SESSION.services()
    if experiment is None:
        experiment_id = SESSION.experiment_id or DEFAULT_EXPERIMENT_ID
    elif isinstance(experiment, Experiment):
        experiment_id = experiment.experiment_id
    else:
        experiment_id = _get_or_create_experiment(services, experiment).experiment_id
    from moorline.sdk._environment import run_context_tags

    all_tags = run_context_tags()
    if parent is not None:
        all_tags[TAG_PARENT_RUN_ID] = parent.run_id
    else:
        all_tags.update(_inherited_tags())
    all_tags.update({k: _str(v) for k, v in (tags or {}).items()})
    run = services.tracking.create_run(
        experiment_id,
        user_id=all_tags.get(TAG_USER, ""),
        run_name=run_name,
        tags=all_tags,
    )
    active = ActiveRun(services, run.info, parent_run_id=parent.run_id if parent else None)
    _remember(active)
    return active


def _inherited_tags() -> dict[str, str]:
    """Tags a top-level run takes from the process that launched this one (see
    :data:`ENV_PARENT_RUN_ID` and :data:`ENV_RUN_TAGS`)."""
    import json

    tags: dict[str, str] = {}
    raw = os.environ.get(ENV_RUN_TAGS, "").strip()
    if raw:
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise InvalidArgument(f"{ENV_RUN_TAGS} must be a JSON object, got {raw[:200]!r}")
        tags.update({str(k): _str(v) for k, v in value.items()})
    parent = os.environ.get(ENV_PARENT_RUN_ID, "").strip()
    if parent:
        tags[TAG_PARENT_RUN_ID] = parent
    return tags


def active_run() -> ActiveRun | None:
    """The innermost active run of this thread, or None."""
    stack = _live_stack()
    return stack[-1] if stack else None


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End this thread's innermost active run; a no-op when there is none."""
    run = active_run()
    if run is not None:
        run.end(status)


def _require_active() -> ActiveRun:
    run = active_run()
    if run is None:
        raise InvalidArgument(
            "No active run in this thread: call moorline.start_run() first "
            "(or log through the ActiveRun object in worker threads)"
        )
    return run


def log_param(key: str, value: object) -> None:
    """Log one parameter of the active run (stored as ``str(value)``; immutable)."""
    _require_active().log_param(key, value)


def log_params(params: Mapping[str, object]) -> None:
    """Log several parameters of the active run."""
    _require_active().log_params(params)


def log_metric(
    key: str, value: float, step: int | None = None, timestamp: int | None = None
) -> None:
    """Log one metric point of the active run (``timestamp`` in ms, default now)."""
    _require_active().log_metric(key, value, step=step, timestamp=timestamp)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Log several metrics of the active run at one step, in one batch per 1000."""
    _require_active().log_metrics(metrics, step=step)


def set_tag(key: str, value: object) -> None:
    """Set one tag of the active run."""
    _require_active().set_tag(key, value)


def set_tags(tags: Mapping[str, object]) -> None:
    """Set several tags of the active run."""
    _require_active().set_tags(tags)


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None) -> str:
    """Upload one file into the active run's artifacts (streamed from disk)."""
    return _require_active().log_artifact(local_path, artifact_path)


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> list[str]:
    """Upload a directory tree into the active run's artifacts (each file streamed)."""
    return _require_active().log_artifacts(local_dir, artifact_path)
