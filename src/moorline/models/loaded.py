"""The object :func:`moorline.load_model` returns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moorline.models.signature import Signature, prepare_input

if TYPE_CHECKING:
    from moorline.models.flavors.base import Predictor
    from moorline.models.manifest import Manifest


class LoadedModel:
    """A model ready to predict, with what is known about it.

    ``flavor`` and ``format`` say how it was stored; ``raw`` is the native
    object (an sklearn estimator, an XGBoost model, a LightGBM Booster, the
    user's object); ``signature`` is enforced by :meth:`predict`;
    ``manifest`` is moorline's manifest (None for a model logged by MLflow);
    ``verified`` is True when every file was checked against its SHA-256
    before loading, False when the model had no digests to check (MLflow's
    format); ``executes_code_on_load`` says whether loading ran code the
    files carried (pickle).
    """

    __slots__ = (
        "__weakref__",
        "_predictor",
        "executes_code_on_load",
        "flavor",
        "format",
        "keeps_files",
        "manifest",
        "model_class",
        "signature",
        "source",
        "verified",
    )

    def __init__(
        self,
        *,
        predictor: Predictor,
        flavor: str,
        format: str,
        model_class: str,
        signature: Signature | None,
        manifest: Manifest | None,
        verified: bool,
        executes_code_on_load: bool,
        source: str,
        keeps_files: bool = False,
    ) -> None:
        self._predictor = predictor
        self.flavor = flavor
        self.format = format
        self.model_class = model_class
        self.signature = signature
        self.manifest = manifest
        self.verified = verified
        self.executes_code_on_load = executes_code_on_load
        self.source = source
        #: True when the model reads its folder after loading, so the folder must stay.
        self.keeps_files = keeps_files

    @property
    def raw(self) -> Any:
        """The native model object."""
        return self._predictor.raw

    def predict(self, data: Any) -> Any:
        """Predict on a DataFrame, a numpy array or a list (rows or records).

        The input is checked against the signature first: missing columns, a
        wrong width or an incompatible dtype raise InvalidArgument naming them.
        An exception from the model itself is raised as UserCodeError.
        """
        return self._predictor.predict(prepare_input(self.signature, data))

    def __repr__(self) -> str:
        state = "verified" if self.verified else "unverified"
        kind = f"{self.flavor}/{self.format} {self.model_class}"
        return f"<LoadedModel {kind} {state} from {self.source}>"
