"""Backends of the contract suites: every port test runs once per registered backend.

A test asks for ``backend`` (or ``tracking`` / ``tokens``) and gets stores that
hold nothing but the ``Default`` experiment. Which backends exist is the
:data:`BACKENDS` registry below; each entry is a factory:

- ``open(tmp_path_factory)`` is a context manager entered once per test
  module. It sets up what is expensive (a migrated template file, a
  PostgreSQL database, a live server) and yields a :class:`BackendProvider`.
- ``provider.fresh()`` is a context manager entered once per test. It yields
  an object with ``.tracking`` (a ``TrackingStore``) and ``.tokens`` (a
  ``TokenStore``), empty but for the ``Default`` experiment.

The protocol lives in ``backends.py``; the SQL factories in ``sql_backend.py``
and the REST one in ``rest_backend.py``. Adding a backend is one factory and
one more entry in :data:`BACKENDS`, as the ``rest`` one shows::

    @contextlib.contextmanager
    def open_rest(factory: pytest.TempPathFactory) -> Iterator[BackendProvider]:
        with threaded_server() as server:
            yield FreshProvider(lambda: rest_backend(server, factory.mktemp("rest")))

    BACKENDS["rest"] = BackendSpec(open=open_rest, marks=(pytest.mark.slow,))

The registry ports (``registry``, ``governance``, ``audit``, ``webhooks``)
run against :data:`REGISTRY_BACKENDS`: the same factories, whose fresh
stores also have those four attributes (:class:`backends.RegistryStores`).
A backend joins it once its stores have them; for the REST adapter that is
giving ``RestBackend`` the four attributes and one line::

    REGISTRY_BACKENDS["rest"] = BackendSpec(open=open_rest, marks=(pytest.mark.slow,))

Guarantees of one family of backends only (SQL migrations, SQLite locking)
are tested with their own fixtures, in ``test_sql_backend.py``: CI refuses
skipped tests, so nothing here skips by backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import pytest

from moorline.auth.ports import TokenStore
from moorline.registry.ports import AuditStore, GovernanceStore, RegistryStore, WebhookStore
from moorline.tracking.ports import TrackingStore
from tests.contracts.backends import (
    BackendProvider,
    BackendSpec,
    FreshProvider,
    RegistryStores,
    Stores,
)
from tests.contracts.rest_backend import rest_backend, threaded_server
from tests.contracts.sql_backend import open_postgres, open_sqlite

# -- rest: the same ports over HTTP to a live server (see rest_backend.py) --------------------


@contextlib.contextmanager
def open_rest(factory: pytest.TempPathFactory) -> Iterator[BackendProvider]:
    with threaded_server() as server:
        yield FreshProvider(lambda: rest_backend(server, factory.mktemp("rest")))


#: Every backend the contract suites run against. Register new ones here.
BACKENDS: dict[str, BackendSpec] = {
    "sqlite": BackendSpec(open=open_sqlite),
    "postgres": BackendSpec(open=open_postgres, marks=(pytest.mark.postgres,)),
    "rest": BackendSpec(open=open_rest, marks=(pytest.mark.slow,)),
}


@dataclass(frozen=True, slots=True)
class _Opened:
    name: str
    provider: BackendProvider


@pytest.fixture(
    scope="module",
    params=[pytest.param(name, marks=spec.marks) for name, spec in BACKENDS.items()],
)
def backend_provider(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Opened]:
    name: str = request.param
    with BACKENDS[name].open(tmp_path_factory) as provider:
        yield _Opened(name=name, provider=provider)


@pytest.fixture
def backend_name(backend_provider: _Opened) -> str:
    return backend_provider.name


@pytest.fixture
def backend(backend_provider: _Opened) -> Iterator[Stores]:
    """Fresh stores of the current backend (only the Default experiment exists)."""
    with backend_provider.provider.fresh() as stores:
        yield stores


@pytest.fixture
def tracking(backend: Stores) -> TrackingStore:
    return backend.tracking


@pytest.fixture
def tokens(backend: Stores) -> TokenStore:
    return backend.tokens


# -- the registry ports ------------------------------------------------------------------------

#: Backends whose stores also carry the registry ports (see the module docstring).
REGISTRY_BACKENDS: dict[str, BackendSpec] = {
    "sqlite": BackendSpec(open=open_sqlite),
    "postgres": BackendSpec(open=open_postgres, marks=(pytest.mark.postgres,)),
}


@pytest.fixture(
    scope="module",
    params=[pytest.param(name, marks=spec.marks) for name, spec in REGISTRY_BACKENDS.items()],
)
def registry_provider(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Opened]:
    name: str = request.param
    with REGISTRY_BACKENDS[name].open(tmp_path_factory) as provider:
        yield _Opened(name=name, provider=provider)


@pytest.fixture
def registry_backend(registry_provider: _Opened) -> Iterator[RegistryStores]:
    """Fresh, empty registry stores of the current backend."""
    with registry_provider.provider.fresh() as stores:
        # REGISTRY_BACKENDS' stores carry the registry ports as well.
        yield cast(RegistryStores, stores)


@pytest.fixture
def registry(registry_backend: RegistryStores) -> RegistryStore:
    return registry_backend.registry


@pytest.fixture
def governance(registry_backend: RegistryStores) -> GovernanceStore:
    return registry_backend.governance


@pytest.fixture
def audit(registry_backend: RegistryStores) -> AuditStore:
    return registry_backend.audit


@pytest.fixture
def webhooks(registry_backend: RegistryStores) -> WebhookStore:
    return registry_backend.webhooks
