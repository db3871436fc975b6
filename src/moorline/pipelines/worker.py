"""The training worker: ``python -m moorline.pipelines.worker SPEC RESULT``.

An executor starts this module in its own process, in the pipeline's
working directory, for one attempt of one pipeline run. It reads the data
windows and snapshots them as dataset versions of the run, calls the user's
training function, logs the model it returns, scores it and the champion
on the holdout, measures their one-row latency, checks the training data
against the champion's training data contract, and writes what it measured
to RESULT as JSON. It decides nothing: the runner registers the version and
applies the gate. It never ends the run either; the runner does.

The user's exceptions are reported with their traceback as
``USER_CODE_ERROR``; exit codes: 0 measured, 3 the user's code failed, 4
anything else failed. The process dies with its parent (Linux), so a runner
killed with SIGKILL leaves no orphaned training behind.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from moorline.errors import ErrorCode, InvalidArgument, MoorlineError, UserCodeError

if TYPE_CHECKING:
    from moorline.pipelines.models import DataSource, Pipeline

#: The SDK session's services (``moorline.bootstrap.Services``, which a domain
#: module may not name: the worker reaches it through the public SDK).
Services = Any

#: The runner's pid: the worker exits at once if it is already gone.
ENV_PARENT_PID: Final = "MOORLINE_WORKER_PARENT"
RESULT_FORMAT: Final = "moorline.pipeline-result/1"
EXIT_OK: Final = 0
EXIT_USER: Final = 3
EXIT_ERROR: Final = 4
_PR_SET_PDEATHSIG: Final = 1


class _Failed(Exception):
    def __init__(self, phase: str, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", ""))
        self.phase = phase
        self.error = error


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - best effort
        return
    expected = os.environ.get(ENV_PARENT_PID, "")
    if expected.isdigit() and os.getppid() != int(expected):
        os._exit(EXIT_ERROR)  # the parent died before we asked


def _user_error(where: str, exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, UserCodeError):
        return {
            "code": ErrorCode.USER_CODE_ERROR.value,
            "type": "UserCodeError",
            "message": exc.message,
            "traceback": exc.user_traceback or "".join(traceback.format_exception(exc)),
        }
    return {
        "code": ErrorCode.USER_CODE_ERROR.value,
        "type": type(exc).__name__,
        "message": f"{where} raised {type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(exc)),
    }


def _platform_error(where: str, exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, UserCodeError):
        return _user_error(where, exc)
    code = exc.code.value if isinstance(exc, MoorlineError) else ErrorCode.INTERNAL_ERROR.value
    text = exc.message if isinstance(exc, MoorlineError) else str(exc)
    return {
        "code": code,
        "type": type(exc).__name__,
        "message": f"{where} failed: {text}",
        "traceback": "".join(traceback.format_exception(exc)),
    }


def load_entry_point(entry_point: str) -> Callable[..., Any]:
    """Import ``module:attr.path`` from the working directory; the user's import
    errors are theirs (UserCodeError with the traceback)."""
    module_name, _, attr = entry_point.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except Exception as exc:
        raise UserCodeError(
            f"Cannot load entry point {entry_point!r}: {type(exc).__name__}: {exc}",
            user_traceback="".join(traceback.format_exception(exc)),
        ) from exc
    if not callable(target):
        raise InvalidArgument(f"Entry point {entry_point!r} is not callable")
    return target  # type: ignore[no-any-return]


class _Worker:
    def __init__(self, spec: Mapping[str, Any]) -> None:
        from moorline.pipelines.models import Pipeline

        self.spec = spec
        self.pipeline: Pipeline = Pipeline.from_dict(spec["pipeline"])
        self.run_id: str = spec["run_id"]
        self.params: dict[str, Any] = dict(spec.get("params") or {})
        self.trigger: dict[str, Any] = dict(spec.get("trigger") or {})
        self.champion_version: int | None = spec.get("champion_version")
        self.out: dict[str, Any] = {"format": RESULT_FORMAT, "status": "ok"}
        self._active: Any = None

    # -- the steps ------------------------------------------------------------------

    def execute(self) -> dict[str, Any]:
        started = time.monotonic()
        try:
            services = self._services()
            active = self._activate(services)
            try:
                self._run(services, active)
            finally:
                from moorline.sdk import _fluent

                _fluent._forget(active)  # the runner ends the run, not this process
        except _Failed as failed:
            self.out.update(status="error", phase=failed.phase, error=failed.error)
        self.out["duration_s"] = round(time.monotonic() - started, 3)
        return self.out

    def _services(self) -> Services:
        import moorline
        from moorline.sdk._session import SESSION

        try:
            moorline.set_tracking_uri(self.spec["store_uri"])
            return SESSION.services()
        except Exception as exc:
            raise _Failed("setup", _platform_error("opening the store", exc)) from exc

    def _activate(self, services: Services) -> Any:
        from moorline.sdk import _fluent

        try:
            run = services.tracking.get_run(self.run_id)
        except Exception as exc:
            raise _Failed("setup", _platform_error(f"finding run {self.run_id}", exc)) from exc
        active = _fluent.ActiveRun(services, run.info, parent_run_id=None)
        _fluent._remember(active)
        self._active = active
        return active

    def _run(self, services: Services, active: Any) -> None:
        pipeline = self.pipeline
        train = self._window(services, pipeline.data, pipeline.train_dataset, "train")
        holdout = self._window(
            services, pipeline.evaluation.holdout, pipeline.holdout_dataset, "holdout"
        )
        self.out["data"] = {"train": train[1], "holdout": holdout[1]}
        features = self._features(holdout[0])
        self._log_params(active)
        info = self._train(active, train[0], features)
        self._log_code_and_environment(active)
        self.out["model"] = {
            "uri": info.model_uri,
            "model_id": info.model_id,
            "flavor": info.flavor,
            "manifest_sha256": info.manifest_sha256,
        }
        self._evaluate(services, info.model_uri, holdout[0], features)
        self.out["quality"] = self._quality(services, train[0])

    # -- data -----------------------------------------------------------------------

    def _window(
        self, services: Services, source: DataSource, name: str, role: str
    ) -> tuple[Any, dict[str, Any]]:
        from moorline.pipelines.models import FunctionSource

        if isinstance(source, FunctionSource):
            table = self._call_data_function(source, role)
        else:
            try:
                table = services.pipelines.read_source(source, workdir=os.getcwd())
            except Exception as exc:
                raise _Failed("data", _platform_error(f"reading {role} data", exc)) from exc
        try:
            logged = services.datasets.log(table, name, run_id=self.run_id, context=role)
        except Exception as exc:
            raise _Failed("data", _platform_error(f"logging the {role} data", exc)) from exc
        return table, {
            "name": logged.name,
            "digest": logged.digest,
            "rows": logged.rows,
            "source": source.describe(),
        }

    def _call_data_function(self, source: Any, role: str) -> Any:
        from moorline.pipelines.context import DataContext

        try:
            function = load_entry_point(source.entry_point)
            frame = function(
                DataContext(
                    pipeline=self.pipeline.name, params=self.params, trigger=self.trigger, role=role
                )
            )
        except Exception as exc:
            raise _Failed("data", _user_error(f"data function {source.entry_point}", exc)) from exc
        try:
            from moorline.tracking.datasets import canonical_table

            return canonical_table(frame)
        except Exception as exc:
            raise _Failed(
                "data", _platform_error(f"the {role} data of {source.entry_point}", exc)
            ) from exc

    def _features(self, holdout: Any) -> list[str]:
        evaluation = self.pipeline.evaluation
        columns = [str(c) for c in holdout.column_names]
        if evaluation.label not in columns:
            raise _Failed(
                "data",
                _platform_error(
                    "reading the holdout",
                    InvalidArgument(f"the holdout has no label column {evaluation.label!r}"),
                ),
            )
        if evaluation.features is not None:
            missing = [f for f in evaluation.features if f not in columns]
            if missing:
                raise _Failed(
                    "data",
                    _platform_error(
                        "reading the holdout",
                        InvalidArgument(f"the holdout lacks feature column(s) {missing}"),
                    ),
                )
            return list(evaluation.features)
        return [c for c in columns if c != evaluation.label]

    # -- training -------------------------------------------------------------------

    def _log_params(self, active: Any) -> None:
        try:
            active.log_params(
                {
                    k: v if isinstance(v, str) else json.dumps(v, sort_keys=True)
                    for k, v in self.params.items()
                }
            )
        except Exception as exc:
            raise _Failed("setup", _platform_error("logging the parameters", exc)) from exc

    def _log_code_and_environment(self, active: Any) -> None:
        """Git commit and dirty flag of the working directory, the entry point, and the
        packages imported (after training, so the user's libraries are in)."""
        from moorline.sdk._environment import run_context_tags
        from moorline.tracking.models import TAG_SOURCE_NAME, TAG_USER

        try:
            tags = run_context_tags()
            tags.pop(TAG_USER, None)  # the runner recorded who triggered the run
            tags[TAG_SOURCE_NAME] = self.pipeline.entry_point
            active.set_tags(tags)
        except Exception as exc:
            raise _Failed("model", _platform_error("recording the code version", exc)) from exc

    def _train(self, active: Any, table: Any, features: list[str]) -> Any:
        from moorline.pipelines.context import TrainingContext
        from moorline.sdk.models import ModelInfo, log_model

        pipeline = self.pipeline
        ctx = TrainingContext(
            pipeline=pipeline.name,
            params=self.params,
            data=table,
            label=pipeline.evaluation.label,
            features=list(features),
            run=active,
            trigger=self.trigger,
            model_name=pipeline.model,
            workdir=os.getcwd(),
        )
        try:
            function = load_entry_point(pipeline.entry_point)
            returned = function(ctx)
        except Exception as exc:
            raise _Failed(
                "training", _user_error(f"training function {pipeline.entry_point}", exc)
            ) from exc
        if isinstance(returned, ModelInfo):
            return returned
        if returned is None:
            if ctx.logged_model is not None:
                return ctx.logged_model
            raise _Failed(
                "training",
                _user_error(
                    f"training function {pipeline.entry_point}",
                    UserCodeError(
                        f"training function {pipeline.entry_point} returned None and logged no "
                        "model: return the fitted model (or call ctx.log_model)"
                    ),
                ),
            )
        try:
            example = table.select(features).slice(0, 5).to_pandas()
            return log_model(returned, "model", input_example=example, run_id=self.run_id)
        except Exception as exc:
            raise _Failed("model", _platform_error("logging the model", exc)) from exc

    # -- evaluation -----------------------------------------------------------------

    def _evaluate(self, services: Services, uri: str, holdout: Any, features: list[str]) -> None:
        import moorline

        evaluation = self.pipeline.evaluation
        frame = holdout.to_pandas()
        X, y = frame[features], frame[evaluation.label].to_numpy()
        sample = self.pipeline.rollout.gate.latency_sample
        try:
            challenger = moorline.load_model(uri)
            scores = _score(challenger, X, y, evaluation.task)
            latency = _latency_p95(challenger, X, sample)
        except UserCodeError as exc:
            raise _Failed("evaluation", _user_error("the challenger's predict", exc)) from exc
        except Exception as exc:
            raise _Failed("evaluation", _platform_error("scoring the challenger", exc)) from exc
        report: dict[str, Any] = {
            "metric": evaluation.metric,
            "direction": evaluation.direction,
            "holdout_rows": len(frame),
            "challenger": scores,
            "latency_p95_ms": {"challenger": latency},
            "champion": None,
            "champion_version": self.champion_version,
            "champion_error": None,
        }
        if self.champion_version is not None:
            try:
                champion = moorline.load_model(
                    f"models:/{self.pipeline.model}/{self.champion_version}"
                )
                report["champion"] = _score(champion, X, y, evaluation.task)
                report["latency_p95_ms"]["champion"] = _latency_p95(champion, X, sample)
            except Exception as exc:
                text = exc.message if isinstance(exc, MoorlineError) else str(exc)
                report["champion_error"] = f"{type(exc).__name__}: {text}"
        self.out["evaluation"] = report
        metrics = {f"holdout_{k}": v for k, v in scores.items() if v is not None}
        metrics["holdout_latency_p95_ms"] = latency
        try:
            self._active.log_metrics(metrics)
        except Exception as exc:
            raise _Failed("evaluation", _platform_error("logging holdout metrics", exc)) from exc

    def _quality(self, services: Services, train: Any) -> dict[str, Any] | None:
        """The training data checked against the champion's training data contract."""
        if self.champion_version is None:
            return None
        from moorline.monitoring.quality import check_quality
        from moorline.tracking.models import TAG_DATASET_CONTEXT

        try:
            version = services.registry.get_model_version(
                self.pipeline.model, self.champion_version
            )
            if not version.run_id:
                return None
            run = services.tracking.get_run(version.run_id)
        except MoorlineError:
            return None
        inputs = [
            i for i in run.dataset_inputs if i.tags.get(TAG_DATASET_CONTEXT) == "train"
        ] or list(run.dataset_inputs)
        contract = next((i.dataset for i in inputs if i.dataset.profile), None)
        if contract is None:
            return None
        try:
            report = check_quality(contract, train)
        except Exception as exc:
            raise _Failed(
                "quality", _platform_error("checking training data quality", exc)
            ) from exc
        return {
            "reference": f"{contract.name}@{contract.digest}",
            "max_severity": None if report.max_severity is None else report.max_severity.value,
            "issues": [f"[{i.severity.value}] {i.message}" for i in report.issues],
        }


def _score(model: Any, X: Any, y: Any, task: str) -> dict[str, float | None]:
    from moorline.monitoring.performance import performance

    predicted = model.predict(X)
    y_pred = predicted.to_numpy() if hasattr(predicted, "to_numpy") else predicted
    import numpy as np

    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 2 and y_pred.shape[1] == 1:
        y_pred = y_pred[:, 0]
    score = None
    labels = None
    raw: Any = getattr(model, "raw", None)
    if task == "classification" and hasattr(raw, "predict_proba"):
        try:
            score = np.asarray(raw.predict_proba(X))
            labels = list(raw.classes_)
        except Exception:  # scores are optional: accuracy and f1 need none
            score, labels = None, None
    result = performance(y, y_pred, task=task, y_score=score, labels=labels)  # type: ignore[arg-type]
    return {
        k: (None if v is None or not math.isfinite(float(v)) else float(v))
        for k, v in result.metrics.items()
    }


def _latency_p95(model: Any, X: Any, sample: int) -> float:
    """p95 of one-row predictions over up to ``sample`` rows, in milliseconds."""
    import numpy as np

    rows = min(sample, len(X))
    if rows == 0:
        return math.nan
    for i in range(min(2, rows)):  # warm-up: first calls pay for lazy imports
        model.predict(X.iloc[[i]])
    times = []
    for i in range(rows):
        row = X.iloc[[i]]
        start = time.perf_counter()
        model.predict(row)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 95))


def execute(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Run one attempt described by ``spec`` in this process; the result document."""
    workdir = str(spec.get("workdir") or os.getcwd())
    if workdir not in sys.path:
        sys.path.insert(0, workdir)
    try:
        return _Worker(spec).execute()
    except Exception as exc:  # a bug of ours: still report it
        return {
            "format": RESULT_FORMAT,
            "status": "error",
            "phase": "worker",
            "error": _platform_error("the pipeline worker", exc),
        }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m moorline.pipelines.worker SPEC.json RESULT.json", file=sys.stderr)
        return EXIT_ERROR
    _die_with_parent()
    spec = json.loads(Path(args[0]).read_text())
    result = execute(spec)
    target = Path(args[1])
    partial = target.with_suffix(".partial")
    partial.write_text(json.dumps(result, default=str))
    partial.replace(target)
    if result.get("status") == "ok":
        return EXIT_OK
    code = (result.get("error") or {}).get("code")
    return EXIT_USER if code == ErrorCode.USER_CODE_ERROR.value else EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
