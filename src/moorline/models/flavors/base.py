"""The one contract every model flavor follows.

A flavor takes its configuration in ``__init__`` and has one verb each way:
``save(model, path) -> FlavorInfo`` writes the model's files into an empty
folder and says what it wrote; ``load(path) -> Predictor`` reads them back.
What ``save`` returns in :attr:`FlavorInfo.config` is exactly what
``__init__`` takes to load the files again, and it is stored in the
manifest: loading is ``FLAVORS[manifest.flavor](**manifest.flavor_config)
.load(folder)``.
"""

from __future__ import annotations

import traceback
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from moorline.errors import MoorlineError, UserCodeError


@dataclass(frozen=True, slots=True, kw_only=True)
class FlavorInfo:
    """What :meth:`Flavor.save` wrote.

    ``data_files``: the files holding the model (relative paths).
    ``executes_code_on_load``: True when reading the files can run code they
    carry (pickle, or skops with types outside the ML libraries).
    ``config``: the keyword arguments of the flavor's ``__init__`` for loading.
    ``libraries``: import names to pin in the environment.
    ``library_versions``: versions of the libraries that wrote the files.
    ``mlflow_flavors``: MLflow's own flavor entries for the ``MLmodel`` file,
    when MLflow can read these files natively.
    """

    flavor: str
    format: str
    model_class: str
    data_files: tuple[str, ...]
    executes_code_on_load: bool
    config: dict[str, Any] = field(default_factory=dict)
    libraries: tuple[str, ...] = ()
    library_versions: dict[str, str] = field(default_factory=dict)
    mlflow_flavors: dict[str, dict[str, Any]] = field(default_factory=dict)


class Predictor(Protocol):
    """A loaded model: ``raw`` is the native object, ``predict`` its prediction."""

    @property
    def raw(self) -> Any: ...

    def predict(self, data: Any) -> Any: ...


class Flavor(ABC):
    """Base of the flavors: ``name`` is the manifest's ``flavor``, ``formats`` the
    ``format`` values it reads."""

    name: ClassVar[str]
    formats: ClassVar[tuple[str, ...]]

    @classmethod
    @abstractmethod
    def accepts(cls, model: object) -> bool:
        """True if this flavor is the natural one for ``model`` (used to detect)."""

    @abstractmethod
    def save(self, model: Any, path: Path) -> FlavorInfo:
        """Write ``model`` into the empty folder ``path``."""

    @abstractmethod
    def load(self, path: Path) -> Predictor:
        """Read the files :meth:`save` wrote in ``path`` (already verified)."""


def qualified_name(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


class NativePredictor:
    """A model whose ``predict`` is called as is."""

    def __init__(self, model: Any) -> None:
        self._model = model

    @property
    def raw(self) -> Any:
        return self._model

    def predict(self, data: Any) -> Any:
        return call_user_code(self._model.predict, data, what=qualified_name(self._model))


def call_user_code(fn: Any, data: Any, *, what: str) -> Any:
    """Call a model's prediction; its own exceptions are reported as the user's."""
    try:
        return fn(data)
    except MoorlineError:
        raise
    except Exception as exc:
        raise UserCodeError(
            f"{what}.predict raised {type(exc).__name__}: {exc}",
            user_traceback="".join(traceback.format_exception(exc)),
        ) from exc
