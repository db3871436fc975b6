"""``moorline.Client``: queries over experiments, runs, metrics and artifacts.

The fluent functions log into "the active run"; the client answers questions
about any run, by id, and returns the typed records of ``moorline.tracking``.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from moorline.core.blobs import clean_key
from moorline.errors import InvalidArgument, NotFound
from moorline.sdk._session import SESSION
from moorline.tracking.models import Experiment, Metric, Run, ViewType

if TYPE_CHECKING:
    from moorline.bootstrap import Services

#: Page size the client asks the service for while it collects a longer result.
PAGE_SIZE = 1000
DEFAULT_MAX_RUNS = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactInfo:
    """One artifact entry; ``path`` is relative to the run's artifact root."""

    path: str
    is_dir: bool
    size: int | None = None


class Client:
    """Read access to a tracking store, and experiment creation.

    ``Client()`` shares the store of the fluent API (``MOORLINE_TRACKING_URI``
    or :func:`moorline.set_tracking_uri`); ``Client("sqlite:///other.db")``
    opens its own, released by :meth:`close` or a ``with`` block.

    >>> import moorline  # doctest: +SKIP
    >>> client = moorline.Client()  # doctest: +SKIP
    >>> runs = client.search_runs("1", order_by=["metrics.auc DESC"])  # doctest: +SKIP
    """

    def __init__(self, tracking_uri: str | None = None) -> None:
        self._uri = tracking_uri
        self._own: Services | None = None

    def _services(self) -> Services:
        if self._uri is None:
            return SESSION.services()
        if self._own is None:
            from moorline.bootstrap import Settings, build_services

            self._own = build_services(Settings.from_env(store_uri=self._uri))
        return self._own

    def close(self) -> None:
        """Release the store this client opened itself (none when it shares the SDK's)."""
        if self._own is not None:
            self._own.close()
            self._own = None

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def tracking_uri(self) -> str:
        return self._services().settings.store_uri

    # -- experiments -------------------------------------------------------

    def create_experiment(
        self,
        name: str,
        *,
        artifact_location: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> Experiment:
        """Create experiment ``name``; AlreadyExists if taken (even by a deleted one)."""
        tracking = self._services().tracking
        experiment_id = tracking.create_experiment(
            name, artifact_location=artifact_location, tags=tags
        )
        return tracking.get_experiment(experiment_id)

    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with this id; NotFound if there is none."""
        return self._services().tracking.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment called ``name`` (active or deleted), or None."""
        return self._services().tracking.get_experiment_by_name(name)

    def search_experiments(
        self,
        filter_string: str | None = None,
        *,
        order_by: Sequence[str] | None = None,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int | None = None,
    ) -> list[Experiment]:
        """Experiments matching ``filter_string`` (e.g. ``"name LIKE 'churn%'"``).

        Every page is fetched until ``max_results`` (default: all).
        """
        tracking = self._services().tracking
        out: list[Experiment] = []
        token: str | None = None
        while True:
            size = _page_size(max_results, len(out))
            page = tracking.search_experiments(
                view_type=view_type,
                filter_string=filter_string,
                order_by=order_by,
                max_results=size,
                page_token=token,
            )
            out.extend(page.items)
            token = page.next_page_token
            if not token or (max_results is not None and len(out) >= max_results):
                return out[:max_results] if max_results is not None else out

    # -- runs ----------------------------------------------------------------

    def get_run(self, run_id: str) -> Run:
        """The run with its params, latest metrics, tags and inputs; NotFound if missing."""
        return self._services().tracking.get_run(run_id)

    def search_runs(
        self,
        experiment_ids: str | Sequence[str],
        filter_string: str | None = None,
        *,
        order_by: Sequence[str] | None = None,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = DEFAULT_MAX_RUNS,
    ) -> list[Run]:
        """Runs of the given experiments matching ``filter_string``, in ``order_by`` order.

        The filter and order follow MLflow's grammar, e.g.
        ``"metrics.auc > 0.9 and params.model = 'xgb'"`` and
        ``["metrics.auc DESC", "start_time"]``.
        """
        ids = [experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids)
        if not ids:
            raise InvalidArgument("search_runs needs at least one experiment id")
        tracking = self._services().tracking
        out: list[Run] = []
        token: str | None = None
        while True:
            page = tracking.search_runs(
                ids,
                filter_string=filter_string,
                order_by=order_by,
                view_type=view_type,
                max_results=_page_size(max_results, len(out)),
                page_token=token,
            )
            out.extend(page.items)
            token = page.next_page_token
            if not token or len(out) >= max_results:
                return out[:max_results]

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every logged point of metric ``key``, ordered by step then timestamp."""
        tracking = self._services().tracking
        out: list[Metric] = []
        token: str | None = None
        while True:
            page = tracking.get_metric_history(run_id, key, page_token=token)
            out.extend(page.items)
            token = page.next_page_token
            if not token:
                return out

    # -- artifacts -----------------------------------------------------------

    def list_artifacts(self, run_id: str, path: str = "") -> list[ArtifactInfo]:
        """Direct children of ``path`` (a folder below the run's artifact root)."""
        sub = clean_key(path, allow_root=True)
        infos = self._services().artifacts.list_run_artifacts(run_id, sub)
        return [
            ArtifactInfo(
                path=posixpath.join(sub, i.path) if sub else i.path, is_dir=i.is_dir, size=i.size
            )
            for i in infos
        ]

    def open_artifact(self, run_id: str, path: str) -> Iterator[bytes]:
        """Stream the bytes of one artifact file in chunks; NotFound if missing."""
        return self._services().artifacts.open_run_artifact(run_id, path)

    def download_artifacts(
        self, run_id: str, path: str = "", dst_path: str | os.PathLike[str] | None = None
    ) -> Path:
        """Copy an artifact file or folder to ``dst_path`` (default: a new temp folder).

        Returns the local path of what was downloaded: ``<dst>/<name of path>``,
        or ``<dst>`` itself for the whole run (``path=""``). Files are streamed
        to disk, never held in memory whole.
        """
        import tempfile

        artifacts = self._services().artifacts
        sub = clean_key(path, allow_root=True)
        dst = Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="moorline-"))
        dst.mkdir(parents=True, exist_ok=True)
        if sub and artifacts.run_artifact_size(run_id, sub) is not None:
            target = dst / posixpath.basename(sub)
            _write(artifacts.open_run_artifact(run_id, sub), target)
            return target
        target = dst / posixpath.basename(sub) if sub else dst
        found = False
        for info in artifacts.walk_run_artifacts(run_id, sub):
            rel = clean_key(info.path)
            _write(
                artifacts.open_run_artifact(run_id, posixpath.join(sub, rel) if sub else rel),
                target / rel,
            )
            found = True
        if not found and sub:
            raise NotFound(f"Run {run_id} has no artifact at {path!r}")
        target.mkdir(parents=True, exist_ok=True)
        return target


def _page_size(max_results: int | None, have: int) -> int:
    if max_results is None:
        return PAGE_SIZE
    if max_results < 1:
        raise InvalidArgument(f"max_results must be a positive integer, got {max_results!r}")
    return max(1, min(PAGE_SIZE, max_results - have))


def _write(chunks: Iterator[bytes], target: Path) -> None:
    """Stream ``chunks`` into ``target`` through a temporary file, then rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.moorline-part")
    try:
        with tmp.open("wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
