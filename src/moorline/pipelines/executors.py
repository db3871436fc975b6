"""Executors: where a training job runs.

Both run the same thing, :func:`run_worker`: the worker module in its own
process (``python -m moorline.pipelines.worker``), in the pipeline's working
directory, with its output captured and a time limit after which its whole
process group is killed. :class:`LocalExecutor` calls it on this machine;
:class:`RayExecutor` calls it as a Ray task on a cluster (the node it lands
on needs moorline installed and access to the store and artifact root, as
any MLflow-style worker does), so a seeded pipeline gives the same model
and the same metrics on either.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from moorline.errors import InvalidArgument
from moorline.pipelines.ports import Executor, Job, Outcome
from moorline.pipelines.worker import ENV_PARENT_PID

#: Captured output kept per stream (the tail, when a job prints more).
MAX_OUTPUT_BYTES: Final = 8 * 1024 * 1024
#: How often a running job checks whether it should keep going.
POLL_SECONDS: Final = 0.5
#: Extra time a Ray task gets over the job's limit (its own subprocess enforces the limit).
RAY_GRACE_SECONDS: Final = 60.0
#: How often a running worker is checked for its end.
REAP_POLL_SECONDS: Final = 0.02


def _tail(path: Path) -> bytes:
    size = path.stat().st_size if path.exists() else 0
    if size <= MAX_OUTPUT_BYTES:
        return path.read_bytes() if size else b""
    with path.open("rb") as fh:
        fh.seek(size - MAX_OUTPUT_BYTES)
        kept = fh.read()
    return f"[... {size - MAX_OUTPUT_BYTES} bytes cut ...]\n".encode() + kept


def _kill_group(process: subprocess.Popen[bytes]) -> float | None:
    """Kill the worker's process group; the worker's CPU seconds (see :func:`_reap`)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # pragma: no cover - already gone
        process.kill()
    return _reap(process, None)


def _reap(process: subprocess.Popen[bytes], timeout: float | None) -> float | None:
    """Wait up to ``timeout`` seconds (None: for ever) for the worker to end and reap
    it with ``os.wait4``, which reports the CPU time (user + system) of the worker
    and of every process it waited for: the job's compute cost. None while it runs
    (or when it was reaped elsewhere)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            pid, status, usage = os.wait4(process.pid, 0 if deadline is None else os.WNOHANG)
        except ChildProcessError:  # pragma: no cover - reaped already
            process.wait()
            return None
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return round(usage.ru_utime + usage.ru_stime, 3)
        assert deadline is not None
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        time.sleep(min(REAP_POLL_SECONDS, left))


def run_worker(
    spec: Mapping[str, Any],
    workdir: str,
    env: Mapping[str, str],
    timeout_seconds: float,
    keep_going: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Run the worker for ``spec`` to its end; a plain dict (Ray ships it back).

    Keys: ``result`` (the worker's document or None), ``returncode``,
    ``stdout``/``stderr`` (bytes), ``timed_out``, ``abandoned``, ``seconds``,
    ``cpu_seconds`` (user + system CPU time of the worker and its children),
    ``node`` (host name).
    """
    import socket

    with tempfile.TemporaryDirectory(prefix="moorline-pipeline-") as folder:
        tmp = Path(folder)
        spec_path, result_path = tmp / "spec.json", tmp / "result.json"
        out_path, err_path = tmp / "stdout.txt", tmp / "stderr.txt"
        spec_path.write_text(json.dumps(dict(spec), default=str))
        full_env = {**os.environ, **dict(env), ENV_PARENT_PID: str(os.getpid())}
        command = [sys.executable, "-m", "moorline.pipelines.worker", str(spec_path)]
        started = time.monotonic()
        timed_out = abandoned = False
        cpu_seconds: float | None = None
        with out_path.open("wb") as out, err_path.open("wb") as err:
            try:
                process = subprocess.Popen(
                    [*command, str(result_path)],
                    cwd=workdir,
                    env=full_env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
            except OSError as exc:
                raise InvalidArgument(
                    f"Cannot start the training worker in {workdir!r}: {exc.strerror or exc}"
                ) from exc
            deadline = started + timeout_seconds
            try:
                while True:
                    left = deadline - time.monotonic()
                    cpu_seconds = _reap(process, max(0.0, min(POLL_SECONDS, left)))
                    if process.returncode is not None:
                        break
                    if time.monotonic() >= deadline:
                        timed_out = True
                    elif keep_going is not None and not keep_going():
                        abandoned = True
                    else:
                        continue
                    cpu_seconds = _kill_group(process)
                    break
            except BaseException:  # interrupted: never leave the worker behind
                if process.returncode is None:
                    _kill_group(process)
                raise
        result: dict[str, Any] | None = None
        if result_path.exists() and not (timed_out or abandoned):
            try:
                result = json.loads(result_path.read_text())
            except ValueError:
                result = None
        return {
            "result": result,
            "returncode": process.returncode,
            "stdout": _tail(out_path),
            "stderr": _tail(err_path),
            "timed_out": timed_out,
            "abandoned": abandoned,
            "seconds": round(time.monotonic() - started, 3),
            "cpu_seconds": cpu_seconds,
            "node": socket.gethostname(),
        }


def _outcome(data: Mapping[str, Any], **details: Any) -> Outcome:
    return Outcome(
        result=data.get("result"),
        returncode=data.get("returncode"),
        stdout=bytes(data.get("stdout") or b""),
        stderr=bytes(data.get("stderr") or b""),
        timed_out=bool(data.get("timed_out")),
        abandoned=bool(data.get("abandoned")),
        details={
            "seconds": data.get("seconds"),
            "cpu_seconds": data.get("cpu_seconds"),
            "node": data.get("node"),
            **details,
        },
    )


class LocalExecutor:
    """A subprocess on this machine (the default)."""

    name = "local"

    def run(self, job: Job, keep_going: Callable[[], bool]) -> Outcome:
        data = run_worker(job.spec, job.workdir, job.env, job.timeout_seconds, keep_going)
        return _outcome(data, executor=self.name)


_RAY_LOCK = threading.Lock()


def _ray_task(
    spec: Mapping[str, Any], workdir: str, env: Mapping[str, str], timeout_seconds: float
) -> dict[str, Any]:
    """What a Ray task runs: :func:`run_worker`, plus where Ray ran it."""
    context = _ray().get_runtime_context()
    data = run_worker(spec, workdir, env, timeout_seconds)
    data["ray_task_id"] = context.get_task_id()
    data["ray_node_id"] = context.get_node_id()
    return data


def _ray() -> Any:
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise InvalidArgument("The ray executor needs Ray: pip install 'moorline[ray]'") from exc


class RayExecutor:
    """A Ray task on the cluster at ``job.ray_address`` (None: a local cluster
    this process starts; a process already connected to Ray keeps its
    connection). The task runs :func:`run_worker`
    on its node; when the job's limit passes without an answer the task is
    cancelled (its worker killed)."""

    name = "ray"

    def _connect(self, address: str | None) -> Any:
        ray = _ray()
        with _RAY_LOCK:
            if not ray.is_initialized():
                options: dict[str, Any] = {
                    "ignore_reinit_error": True,
                    "log_to_driver": False,
                    "namespace": "moorline",
                }
                if address:
                    options["address"] = address
                else:
                    options.update(include_dashboard=False)
                ray.init(**options)
        return ray

    def run(self, job: Job, keep_going: Callable[[], bool]) -> Outcome:
        ray = self._connect(job.ray_address)
        task = ray.remote(num_cpus=1, max_retries=0)(_ray_task)
        ref = task.remote(dict(job.spec), job.workdir, dict(job.env), job.timeout_seconds)
        deadline = time.monotonic() + job.timeout_seconds + RAY_GRACE_SECONDS
        while True:
            ready, _ = ray.wait([ref], timeout=POLL_SECONDS)
            if ready:
                data = ray.get(ref)
                return _outcome(
                    data,
                    executor=self.name,
                    ray_task_id=data.get("ray_task_id"),
                    ray_node_id=data.get("ray_node_id"),
                )
            timed_out = time.monotonic() >= deadline
            if timed_out or not keep_going():
                ray.cancel(ref, force=True)
                return Outcome(
                    result=None,
                    returncode=None,
                    timed_out=timed_out,
                    abandoned=not timed_out,
                    details={"executor": self.name},
                )


def executor_for(name: str) -> Executor:
    """The executor called ``name`` (``local`` or ``ray``)."""
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        return RayExecutor()
    raise InvalidArgument(f"Unknown executor {name!r}: use local or ray")


__all__ = ["LocalExecutor", "RayExecutor", "executor_for", "run_worker"]
