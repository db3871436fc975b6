"""The model registry from Python: register a model, move an alias, look versions up.

The functions use the SDK's store (``MOORLINE_TRACKING_URI`` or
:func:`moorline.set_tracking_uri`), embedded or remote, and return the
registry's typed records. Changes are recorded in the audit log under the
acting user: ``MOORLINE_USER`` or the OS user for a local store; for a
server, the name of the API token (``MOORLINE_TOKEN``) -- the server never
takes a client's word for who it is.

>>> import moorline  # doctest: +SKIP
>>> mv = moorline.register_model(f"runs:/{run_id}/model", "churn")  # doctest: +SKIP
>>> moorline.set_alias("churn", "champion", mv.version, reason="beats v2 on AUC")  # doctest: +SKIP
>>> moorline.get_model_version("churn", "champion").version == mv.version  # doctest: +SKIP
True
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from moorline.errors import AlreadyExists, InvalidArgument
from moorline.registry.models import ModelVersion, RegisteredModel
from moorline.sdk._session import SESSION

if TYPE_CHECKING:
    from moorline.bootstrap import Services

#: Page size used while collecting a longer search result.
PAGE_SIZE = 1000
_RUNS_URI = re.compile(r"^runs:/(?P<run_id>[^/]+)(?:/(?P<path>.*))?$")
_VERSION = re.compile(r"^\s*\d+\s*$")


def acting_user() -> str:
    """Who a local change is recorded as: ``MOORLINE_USER``, else the OS user name."""
    name = os.environ.get("MOORLINE_USER", "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (some containers)
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Source:
    source: str
    run_id: str | None = None
    model_id: str | None = None


def _resolve_source(services: Services, model_uri: str) -> _Source:
    """Where a new version's files are, and the run (or logged model) it came from.

    - ``runs:/<run_id>/<path>``: the run must exist; the version records it.
    - ``models:/<name>/<version>`` or ``models:/<name>@<alias>``: a copy of that
      version, pinned to its number (a later alias move does not change it).
    - ``models:/<model_id>``: a model logged with ``log_model``; the version
      records it and its source run.
    - a local path that exists: its absolute path; any other URI as given.
    """
    if not isinstance(model_uri, str) or not model_uri.strip():
        raise InvalidArgument("model_uri must be a non-empty string such as runs:/<run_id>/model")
    uri = model_uri.strip()
    runs = _RUNS_URI.match(uri)
    if runs is not None:
        run = services.tracking.get_run(runs.group("run_id"))
        return _Source(source=uri, run_id=run.info.run_id)
    if uri.startswith("models:/"):
        rest = uri[len("models:/") :].rstrip("/")
        if "/" in rest or "@" in rest:
            mv = services.registry.resolve(uri)
            return _Source(
                source=f"models:/{mv.name}/{mv.version}", run_id=mv.run_id, model_id=mv.model_id
            )
        logged = services.tracking.get_logged_model(rest)
        return _Source(source=uri, run_id=logged.source_run_id, model_id=logged.model_id)
    path = Path(uri).expanduser()
    if "://" not in uri and not uri.startswith("mlflow-artifacts:") and path.exists():
        return _Source(source=str(path.resolve()))
    return _Source(source=uri)


def register(
    services: Services,
    model_uri: str,
    name: str,
    *,
    actor: str,
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> ModelVersion:
    """:func:`register_model` over given services (shared with the CLI)."""
    found = _resolve_source(services, model_uri)
    registry = services.registry
    with contextlib.suppress(AlreadyExists):  # registered on first use
        registry.create_registered_model(name, actor=actor)
    return registry.create_model_version(
        name,
        found.source,
        run_id=found.run_id,
        model_id=found.model_id,
        description=description,
        tags=tags,
        actor=actor,
    )


def register_model(
    model_uri: str,
    name: str,
    *,
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> ModelVersion:
    """Register the model at ``model_uri`` as the next version of ``name``.

    The registered model is created on first use. ``model_uri`` is usually
    ``runs:/<run_id>/<artifact path>`` (the run must exist); see
    :func:`_resolve_source` for the other forms.

    >>> import moorline  # doctest: +SKIP
    >>> moorline.register_model(f"runs:/{run.info.run_id}/model", "churn").version  # doctest: +SKIP
    1
    """
    return register(
        SESSION.services(),
        model_uri,
        name,
        actor=acting_user(),
        description=description,
        tags=tags,
    )


def get_registered_model(name: str) -> RegisteredModel:
    """The registered model ``name`` with its tags, aliases and latest version per stage."""
    return SESSION.services().registry.get_registered_model(name)


def get_model_version(name: str, version: int | str) -> ModelVersion:
    """A version of ``name`` by number (``3``, ``"3"``) or by alias (``"champion"``).

    NotFound names what is missing.
    """
    registry = SESSION.services().registry
    if isinstance(version, int) or _VERSION.match(version):
        return registry.get_model_version(name, version)
    return registry.get_version_by_alias(name, version)


def set_alias(name: str, alias: str, version: int | str, *, reason: str = "") -> None:
    """Point ``alias`` of ``name`` at ``version``, moving it if it exists.

    A promotion policy may protect the alias (see ``moorline policy``): the
    move is then refused with :class:`~moorline.errors.PermissionDenied`
    saying what is missing (an approval, a better metric), and the refusal
    is recorded in the audit log too.
    """
    SESSION.services().registry.set_alias(name, alias, version, actor=acting_user(), reason=reason)


def delete_alias(name: str, alias: str, *, reason: str = "") -> None:
    """Remove ``alias`` from ``name``; NotFound if it does not exist."""
    SESSION.services().registry.delete_alias(name, alias, actor=acting_user(), reason=reason)


def search_model_versions(
    filter_string: str | None = None,
    *,
    order_by: Sequence[str] | None = None,
    max_results: int | None = None,
) -> list[ModelVersion]:
    """Versions matching ``filter_string`` (e.g. ``"name = 'churn'"``), all pages.

    Default order: name ascending, then version descending.
    """
    registry = SESSION.services().registry
    out: list[ModelVersion] = []
    token: str | None = None
    while True:
        page = registry.search_model_versions(
            filter_string=filter_string,
            order_by=order_by,
            max_results=_page_size(max_results, len(out)),
            page_token=token,
        )
        out.extend(page.items)
        token = page.next_page_token
        if not token or (max_results is not None and len(out) >= max_results):
            return out[:max_results] if max_results is not None else out


def _page_size(max_results: int | None, have: int) -> int:
    if max_results is None:
        return PAGE_SIZE
    if max_results < 1:
        raise InvalidArgument(f"max_results must be a positive integer, got {max_results!r}")
    return max(1, min(PAGE_SIZE, max_results - have))
