"""``moorline.log_dataset`` and ``moorline.load_dataset``: versioned data from Python.

A dataset version is content-addressed: logging the same data twice is one
version (the data is uploaded once), one changed cell is a new one. See
``moorline.tracking.datasets`` for the canonical form, the digest, and the
schema and profile formats; ``docs/registry.md`` for the user guide.

Inside ``moorline reproduce``, ``load_dataset(name)`` returns the version
the reproduced run read (``MOORLINE_REPRODUCE_DATASETS``), not the newest.
"""

from __future__ import annotations

import json
import os
from typing import Any

from moorline.errors import InvalidArgument
from moorline.sdk._fluent import active_run
from moorline.sdk._session import SESSION
from moorline.tracking.datasets import DEFAULT_CONTEXT, LoggedDataset

#: JSON object {dataset name: digest} pinning the versions ``load_dataset`` returns.
ENV_PINNED_DATASETS = "MOORLINE_REPRODUCE_DATASETS"


def log_dataset(
    df_or_path: object,
    name: str,
    *,
    context: str = DEFAULT_CONTEXT,
    run_id: str | None = None,
) -> LoggedDataset:
    """Log a dataset version as an input of a run and store its data once.

    ``df_or_path``: a pandas DataFrame, a pyarrow Table, or the path of a
    ``.csv`` or ``.parquet`` file. ``context`` says how the run used it
    (``train``, ``eval``, ...; the input's ``mlflow.data.context`` tag).
    ``run_id`` defaults to this thread's active run.

    Returns the version's name and digest (SHA-256 of the canonical form),
    its row count, and whether its data was uploaded (False when the store
    already held those exact contents).

    >>> import moorline, pandas as pd  # doctest: +SKIP
    >>> with moorline.start_run():  # doctest: +SKIP
    ...     v = moorline.log_dataset(pd.read_csv("churn.csv"), "churn")
    >>> v.digest  # doctest: +SKIP
    '5b1e...'
    """
    target = run_id
    if target is None:
        run = active_run()
        if run is None:
            raise InvalidArgument(
                "log_dataset needs a run: call it inside moorline.start_run(), or pass run_id"
            )
        target = run.run_id
    return SESSION.services().datasets.log(df_or_path, name, run_id=target, context=context)


def load_dataset(
    name: str, digest: str | None = None, *, context: str | None = DEFAULT_CONTEXT
) -> Any:
    """The data of dataset ``name`` as a pandas DataFrame: version ``digest``, else the latest.

    The stored data is checked against the digest; a mismatch refuses to load.
    When a run is active in this thread, the version is recorded as one of
    its inputs with ``context`` (pass ``context=None`` not to record it), so
    lineage shows which data a training run read.

    >>> import moorline  # doctest: +SKIP
    >>> df = moorline.load_dataset("churn")  # doctest: +SKIP
    """
    services = SESSION.services()
    chosen = digest if digest is not None else _pinned(name)
    version = services.datasets.get_version(name, chosen)
    table = services.datasets.load(version)
    run = active_run()
    if run is not None and context:
        services.datasets.link(version, run_id=run.run_id, context=context)
    return table.to_pandas()


def _pinned(name: str) -> str | None:
    """The digest ``moorline reproduce`` pinned for ``name``, if any."""
    raw = os.environ.get(ENV_PINNED_DATASETS)
    if not raw:
        return None
    try:
        pins = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"{ENV_PINNED_DATASETS} is not a JSON object: {raw[:200]!r}") from exc
    if not isinstance(pins, dict):
        raise InvalidArgument(f"{ENV_PINNED_DATASETS} is not a JSON object: {raw[:200]!r}")
    value = pins.get(name)
    return value if isinstance(value, str) and value else None
