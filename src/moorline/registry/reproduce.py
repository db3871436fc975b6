"""Reproduce a training run: same code, same parameters, same data; compare the metrics.

``moorline reproduce models:/churn/3`` finds the run that trained the version
and reads what it recorded: the git commit (``mlflow.source.git.commit``),
whether the tree was dirty (``moorline.source.git.dirty``), the entry point
(``mlflow.source.name``), the parameters and the dataset versions it read.
It then checks that commit out in a temporary ``git worktree``, runs the
entry point in a subprocess against the same tracking store, and compares
the new run's metrics with the original's.

The subprocess gets, besides the store's settings (``MOORLINE_TRACKING_URI``,
``MOORLINE_ARTIFACTS_URI``, ...):

- ``MOORLINE_REPRODUCE_PARAMS``: the recorded params as a JSON object;
- ``MOORLINE_REPRODUCE_DATASETS``: ``{name: digest}`` of the recorded inputs,
  so ``moorline.load_dataset(name)`` returns the version the run read;
- ``MOORLINE_PARENT_RUN_ID`` and ``MOORLINE_RUN_TAGS``: the SDK's
  ``start_run`` makes the new run a child of the original and tags it
  ``moorline.reproduction_of=<original run id>``.

Entry points: a script (recorded as an absolute path, or relative to the
repository root) runs as ``python <worktree>/<path>``; a module name as
``python -m <module>``; ``module:function`` calls the function with no
arguments. The working directory is the worktree's root.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from moorline.errors import Conflict, InvalidArgument, NotFound, UserCodeError
from moorline.registry.lineage import TAG_REPRODUCTION_OF, training_run
from moorline.registry.service import RegistryService
from moorline.tracking.models import (
    TAG_GIT_COMMIT,
    TAG_GIT_DIRTY,
    TAG_PYTHON_ENV,
    TAG_SOURCE_NAME,
    Run,
    ViewType,
)
from moorline.tracking.service import TrackingService

#: Tag carrying a token unique to one reproduction, to find the run it created.
TAG_REPRODUCTION_ID = "moorline.reproduction_id"
ENV_PARAMS = "MOORLINE_REPRODUCE_PARAMS"
ENV_DATASETS = "MOORLINE_REPRODUCE_DATASETS"
ENV_PARENT_RUN_ID = "MOORLINE_PARENT_RUN_ID"
ENV_RUN_TAGS = "MOORLINE_RUN_TAGS"
GIT_TIMEOUT_S = 60.0
#: How much of the entry point's output a report (or an error) keeps.
OUTPUT_TAIL_CHARS = 4000
_NOT_REPRODUCIBLE = frozenset({"", "<stdin>", "<unknown>"})
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricDiff:
    """One metric, original against reproduced. ``identical`` treats NaN as equal to NaN."""

    key: str
    original: float | None
    reproduced: float | None
    abs_diff: float | None
    identical: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PackageDifference:
    """A package whose version here differs from the recorded one (None: not installed)."""

    package: str
    recorded: str
    current: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReproduceReport:
    original_run_id: str
    reproduced_run_id: str
    commit: str
    entry_point: str
    command: tuple[str, ...]
    metrics: tuple[MetricDiff, ...]
    environment_differences: tuple[PackageDifference, ...]
    output_tail: str

    @property
    def identical(self) -> bool:
        """Every metric of either run exists in both, with the same value."""
        return all(m.identical for m in self.metrics)


def store_environment(
    *,
    store_uri: str,
    artifacts_uri: str,
    s3_endpoint_url: str | None = None,
    token: str | None = None,
    cwd: Path | None = None,
) -> dict[str, str]:
    """The ``MOORLINE_*`` variables that point a subprocess at the same store.

    Relative SQLite paths and artifact folders are made absolute (against
    ``cwd``): the subprocess runs in another directory.

    >>> store_environment(store_uri="sqlite:///db/m.db", artifacts_uri="art", cwd=Path("/w"))
    {'MOORLINE_TRACKING_URI': 'sqlite:////w/db/m.db', 'MOORLINE_ARTIFACTS_URI': '/w/art'}
    """
    base = cwd or Path.cwd()
    uri = store_uri
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        path = uri[len(prefix) :]
        if path and path != ":memory:":
            uri = prefix + str((base / path).absolute())
    artifacts = artifacts_uri
    if "://" not in artifacts and not Path(artifacts).is_absolute():
        artifacts = str((base / artifacts).absolute())
    env = {"MOORLINE_TRACKING_URI": uri, "MOORLINE_ARTIFACTS_URI": artifacts}
    if s3_endpoint_url:
        env["MOORLINE_S3_ENDPOINT_URL"] = s3_endpoint_url
    if token:
        env["MOORLINE_TOKEN"] = token
    return env


class ReproduceService:
    """Re-runs the recorded entry point of a run at its recorded commit."""

    def __init__(
        self,
        tracking: TrackingService,
        registry: RegistryService,
        *,
        store_env: Mapping[str, str],
        python: str = sys.executable,
    ) -> None:
        self._tracking = tracking
        self._registry = registry
        self._store_env = dict(store_env)
        self._python = python

    def original_run(self, target: str) -> Run:
        """The run ``target`` names: ``models:/...`` (its training run), ``runs:/<id>``
        or a run id."""
        if target.startswith("models:/"):
            mv = self._registry.resolve(target)
            run = training_run(mv, self._tracking)
            if run is None:
                raise NotFound(
                    f"{target} (version {mv.version} of {mv.name!r}) records no training run: "
                    "there is nothing to reproduce"
                )
            return run
        run_id = target.removeprefix("runs:/").split("/", 1)[0]
        return self._tracking.get_run(run_id)

    def reproduce(
        self,
        target: str,
        *,
        repo: Path,
        allow_dirty: bool = False,
        timeout_s: float | None = None,
    ) -> ReproduceReport:
        """Run ``target``'s training again and compare metrics (see the module docs).

        Refuses (Conflict) a run recorded with a dirty tree unless
        ``allow_dirty``; the code that ran is then not the commit's.
        """
        original = self.original_run(target)
        tags = original.tags
        commit = tags.get(TAG_GIT_COMMIT)
        if not commit:
            raise InvalidArgument(
                f"Run {original.run_id} recorded no git commit ({TAG_GIT_COMMIT}): it did not "
                "run from a git repository, so its code cannot be checked out again"
            )
        if tags.get(TAG_GIT_DIRTY, "").lower() == "true" and not allow_dirty:
            raise Conflict(
                f"Run {original.run_id} ran with uncommitted changes ({TAG_GIT_DIRTY}=true): "
                f"commit {commit} is not the code that ran. Pass --allow-dirty to re-run "
                "the commit anyway"
            )
        entry = tags.get(TAG_SOURCE_NAME, "")
        if entry in _NOT_REPRODUCIBLE or entry.endswith("ipykernel_launcher.py"):
            raise InvalidArgument(
                f"Run {original.run_id} ran from {entry or 'an unknown entry point'!r} "
                "(an interactive session): there is no program to run again"
            )
        root = _git_root(repo)
        _require_commit(root, commit)
        token = uuid.uuid4().hex
        folder = Path(tempfile.mkdtemp(prefix="moorline-reproduce-"))
        worktree = folder / "src"
        try:
            _git(root, "worktree", "add", "--detach", str(worktree), commit)
            command = self._command(entry, root, commit, worktree)
            tail = self._run(
                command,
                worktree=worktree,
                original=original,
                token=token,
                timeout_s=timeout_s,
                log_path=folder / "output.log",
            )
        finally:
            _remove_worktree(root, worktree)
            shutil.rmtree(folder, ignore_errors=True)
        reproduced = self._find_reproduction(original, token)
        if reproduced is None:
            raise UserCodeError(
                f"The entry point {entry!r} at {commit[:12]} finished without starting a "
                "moorline run, so there are no metrics to compare (it must log with "
                "moorline.start_run)",
                user_traceback=tail,
            )
        return ReproduceReport(
            original_run_id=original.run_id,
            reproduced_run_id=reproduced.run_id,
            commit=commit,
            entry_point=entry,
            command=tuple(command),
            metrics=compare_metrics(original, reproduced),
            environment_differences=environment_differences(tags.get(TAG_PYTHON_ENV)),
            output_tail=tail,
        )

    # -- steps ---------------------------------------------------------------

    def _command(self, entry: str, root: Path, commit: str, worktree: Path) -> list[str]:
        module, colon, function = entry.partition(":")
        if entry.endswith(".py") or "/" in entry or os.sep in entry:
            return [self._python, str(worktree / _script_in_commit(entry, root, commit))]
        if not _MODULE.fullmatch(module) or (colon and not function.isidentifier()):
            raise InvalidArgument(
                f"Invalid entry point {entry!r}: expected a script path, a module name "
                "or module:function"
            )
        if colon:
            code = (
                "import importlib, sys; "
                "getattr(importlib.import_module(sys.argv[1]), sys.argv[2])()"
            )
            return [self._python, "-c", code, module, function]
        return [self._python, "-m", module]

    def _run(
        self,
        command: Sequence[str],
        *,
        worktree: Path,
        original: Run,
        token: str,
        timeout_s: float | None,
        log_path: Path,
    ) -> str:
        env = {**os.environ, **self._store_env}
        env.pop("MOORLINE_HOME", None)
        env[ENV_PARAMS] = json.dumps(original.params, sort_keys=True)
        env[ENV_DATASETS] = json.dumps(
            {d.dataset.name: d.dataset.digest for d in original.dataset_inputs}, sort_keys=True
        )
        env[ENV_PARENT_RUN_ID] = original.run_id
        env[ENV_RUN_TAGS] = json.dumps(
            {TAG_REPRODUCTION_OF: original.run_id, TAG_REPRODUCTION_ID: token}
        )
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(worktree), env.get("PYTHONPATH", "")) if p
        )
        with log_path.open("wb") as log:
            try:
                proc = subprocess.run(
                    list(command),
                    cwd=worktree,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=timeout_s,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                tail = _tail(log_path)
                raise UserCodeError(
                    f"The entry point did not finish within {timeout_s:g} s; it was stopped",
                    user_traceback=tail,
                ) from None
            except OSError as exc:
                raise InvalidArgument(f"Cannot start {command[0]!r}: {exc}") from exc
        tail = _tail(log_path)
        if proc.returncode != 0:
            at = original.tags.get(TAG_GIT_COMMIT, "")[:12]
            raise UserCodeError(
                f"The entry point exited with code {proc.returncode} "
                f"({' '.join(command[1:])} at commit {at}); its output ends with:\n"
                f"{tail[-1500:]}",
                user_traceback=tail,
            )
        return tail

    def _find_reproduction(self, original: Run, token: str) -> Run | None:
        """The run the subprocess started, found by the unique tag it was given."""
        wanted = f"tags.`{TAG_REPRODUCTION_ID}` = '{token}'"
        found = self._tracking.search_runs(
            [original.info.experiment_id], filter_string=wanted, view_type=ViewType.ALL
        ).items
        if not found:
            ids: list[str] = []
            page_token: str | None = None
            while True:
                page = self._tracking.search_experiments(
                    view_type=ViewType.ALL, max_results=1000, page_token=page_token
                )
                ids.extend(e.experiment_id for e in page.items)
                page_token = page.next_page_token
                if not page_token:
                    break
            for start in range(0, len(ids), 100):
                found = self._tracking.search_runs(
                    ids[start : start + 100], filter_string=wanted, view_type=ViewType.ALL
                ).items
                if found:
                    break
        if not found:
            return None
        same_name = [r for r in found if r.info.run_name == original.info.run_name]
        return min(same_name or found, key=lambda r: (r.info.start_time, r.run_id))


def compare_metrics(original: Run, reproduced: Run) -> tuple[MetricDiff, ...]:
    """Latest value of every metric of either run, side by side, sorted by key."""
    before = {m.key: m.value for m in original.metrics}
    after = {m.key: m.value for m in reproduced.metrics}
    out = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        if a is None or b is None:
            out.append(
                MetricDiff(key=key, original=a, reproduced=b, abs_diff=None, identical=False)
            )
            continue
        same = a == b or (math.isnan(a) and math.isnan(b))
        diff = 0.0 if same else abs(a - b)
        out.append(MetricDiff(key=key, original=a, reproduced=b, abs_diff=diff, identical=same))
    return tuple(out)


def environment_differences(recorded: str | None) -> tuple[PackageDifference, ...]:
    """Recorded package versions (``moorline.python.env``) that differ in this interpreter,
    Python itself first. A difference explains a metric drift; it does not stop a run."""
    if not recorded:
        return ()
    try:
        env: Any = json.loads(recorded)
    except ValueError:
        return ()
    if not isinstance(env, dict):
        return ()
    out = []
    python = env.get("python")
    if isinstance(python, str) and python != platform.python_version():
        out.append(
            PackageDifference(package="python", recorded=python, current=platform.python_version())
        )
    packages = env.get("packages")
    if isinstance(packages, dict):
        for name, version in sorted(packages.items()):
            current = _installed_version(str(name))
            if current != version:
                out.append(
                    PackageDifference(package=str(name), recorded=str(version), current=current)
                )
    return tuple(out)


def _installed_version(name: str) -> str | None:
    """Installed version of import name ``name`` (``sklearn`` is the distribution
    ``scikit-learn``, ``dateutil`` is ``python-dateutil``)."""
    try:
        return metadata.version(name)
    except (metadata.PackageNotFoundError, ValueError):
        pass
    for distribution in _import_names().get(name, ()):
        try:
            return metadata.version(distribution)
        except (metadata.PackageNotFoundError, ValueError):
            continue
    return None


@functools.lru_cache(maxsize=1)
def _import_names() -> dict[str, list[str]]:
    return dict(metadata.packages_distributions())


# -- git ---------------------------------------------------------------------


def _git(root: Path, *args: str) -> str:
    env = {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise InvalidArgument(f"Cannot run git in {root}: {exc}") from exc
    if proc.returncode != 0:
        raise InvalidArgument(
            f"git {' '.join(args)} failed in {root}: {proc.stderr.strip() or proc.stdout.strip()}"
        )
    return proc.stdout


def _git_root(repo: Path) -> Path:
    if not repo.is_dir():
        raise InvalidArgument(f"Repository folder {str(repo)!r} does not exist")
    try:
        return Path(_git(repo, "rev-parse", "--show-toplevel").strip()).resolve()
    except InvalidArgument as exc:
        raise InvalidArgument(
            f"{str(repo)!r} is not inside a git repository; pass --repo with the repository "
            "the run was trained from"
        ) from exc


def _require_commit(root: Path, commit: str) -> None:
    try:
        _git(root, "cat-file", "-e", f"{commit}^{{commit}}")
    except InvalidArgument:
        raise NotFound(
            f"Commit {commit} is not in the repository at {root}: fetch it (or pass --repo "
            "with the repository the run was trained from)"
        ) from None


def _in_commit(root: Path, commit: str, path: str) -> bool:
    try:
        _git(root, "cat-file", "-e", f"{commit}:{path}")
    except InvalidArgument:
        return False
    return True


def _script_in_commit(entry: str, root: Path, commit: str) -> str:
    """The entry script's path relative to the repository root, as the commit holds it.

    A recorded absolute path is taken relative to ``root`` when it lies below
    it; otherwise (the run came from a clone elsewhere) the longest trailing
    part of the path that the commit holds.
    """
    path = PurePosixPath(entry.replace(os.sep, "/"))
    if not path.is_absolute():
        candidates = [str(path)]
    else:
        try:
            candidates = [Path(entry).resolve().relative_to(root).as_posix()]
        except ValueError:
            parts = path.parts[1:]
            candidates = ["/".join(parts[i:]) for i in range(len(parts))]
    for candidate in candidates:
        if candidate and ".." not in candidate.split("/") and _in_commit(root, commit, candidate):
            return candidate
    raise NotFound(f"The entry point {entry!r} is not a file of commit {commit[:12]} in {root}")


def _remove_worktree(root: Path, worktree: Path) -> None:
    """Best effort: a failure to clean up must not hide the reproduction's outcome."""
    try:
        _git(root, "worktree", "remove", "--force", str(worktree))
    except InvalidArgument:
        shutil.rmtree(worktree, ignore_errors=True)
        with contextlib.suppress(InvalidArgument):
            _git(root, "worktree", "prune")


def _tail(path: Path) -> str:
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - OUTPUT_TAIL_CHARS))
        return fh.read().decode("utf-8", "replace")
