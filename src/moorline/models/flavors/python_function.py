"""Any object with a ``predict`` method, saved with cloudpickle.

Unpickling runs code the file carries, so the manifest says
``executes_code_on_load: true`` and a caller can refuse such models
(``load_model(..., allow_code_execution=False)``). The digests are checked
first, so only the exact bytes that were logged are ever unpickled.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, ClassVar

from moorline.errors import InvalidArgument
from moorline.models.flavors.base import Flavor, FlavorInfo, NativePredictor, qualified_name

DATA_FILE = "model.pkl"


class PythonFunctionFlavor(Flavor):
    """No configuration: the file is one cloudpickled object.

    >>> PythonFunctionFlavor.accepts(object()), PythonFunctionFlavor.formats
    (False, ('cloudpickle',))
    """

    name: ClassVar[str] = "python_function"
    formats: ClassVar[tuple[str, ...]] = ("cloudpickle",)

    def __init__(self, *, format: str = "cloudpickle") -> None:
        if format != "cloudpickle":
            raise InvalidArgument(f"python_function format must be 'cloudpickle', not {format!r}")

    @classmethod
    def accepts(cls, model: object) -> bool:
        return callable(getattr(model, "predict", None))

    def save(self, model: Any, path: Path) -> FlavorInfo:
        import cloudpickle

        if not self.accepts(model):
            raise InvalidArgument(
                f"{qualified_name(model)} has no predict method; the python_function flavor "
                "saves objects that have one"
            )
        try:
            with (path / DATA_FILE).open("wb") as out:
                cloudpickle.dump(model, out, protocol=pickle.DEFAULT_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise InvalidArgument(
                f"Cannot pickle {qualified_name(model)}: {type(exc).__name__}: {exc}"
            ) from exc
        module = type(model).__module__.split(".", 1)[0]
        return FlavorInfo(
            flavor=self.name,
            format="cloudpickle",
            model_class=qualified_name(model),
            data_files=(DATA_FILE,),
            executes_code_on_load=True,
            config={"format": "cloudpickle"},
            libraries=("cloudpickle", "numpy", module),
            library_versions={"cloudpickle": cloudpickle.__version__},
        )

    def load(self, path: Path) -> NativePredictor:
        import cloudpickle

        with (path / DATA_FILE).open("rb") as fh:
            model = cloudpickle.load(fh)
        return NativePredictor(model)
