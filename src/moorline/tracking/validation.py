"""Input rules for tracking records: keys, values, names, numbers and batch sizes.

Pure functions the tracking service calls before anything reaches a store.
The limits are MLflow 3.17.2's (``mlflow/utils/validation.py``), so a
request the real MLflow server accepts is accepted here and one it refuses
is refused, with a message saying what is wrong. Each function returns the
value it checked (normalised where that matters: metric values become
floats) so callers can validate and use in one step. Every failure is an
:class:`~moorline.errors.InvalidArgument`.

>>> validate_metric_key("val/loss")
'val/loss'
>>> validate_metric_value(3)
3.0
"""

from __future__ import annotations

import math
import numbers
import posixpath
import re
from collections.abc import Iterable, Sized
from typing import Final

from moorline.errors import InvalidArgument
from moorline.tracking.models import Dataset, Param

MAX_ENTITY_KEY_LENGTH: Final = 250
MAX_PARAM_VALUE_LENGTH: Final = 6000
MAX_TAG_VALUE_LENGTH: Final = 8000
MAX_EXPERIMENT_TAG_VALUE_LENGTH: Final = 20000
MAX_EXPERIMENT_NAME_LENGTH: Final = 500
MAX_RUN_NAME_LENGTH: Final = 250

MAX_METRICS_PER_BATCH: Final = 1000
MAX_PARAMS_PER_BATCH: Final = 100
MAX_TAGS_PER_BATCH: Final = 100
MAX_ENTITIES_PER_BATCH: Final = 1000

MAX_DATASET_NAME_LENGTH: Final = 500
MAX_DATASET_DIGEST_LENGTH: Final = 64  # a SHA-256 in hex (MLflow: 36)
MAX_DATASET_SOURCE_LENGTH: Final = 65535
MAX_DATASET_SCHEMA_LENGTH: Final = 1048575
MAX_DATASET_PROFILE_LENGTH: Final = 16777215

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

# Keys may be used as file names by artifact-style stores, so the character
# set is MLflow's (POSIX flavour, colon allowed) and a key must be a
# normalised relative path.
_KEY_CHARS: Final = re.compile(r"[\w/.\- :]*")
_ALLOWED_CHARS_TEXT: Final = (
    "alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colons (:) "
    "and slashes (/)"
)
_SHOWN_CHARS: Final = 80


def _show(value: str) -> str:
    """A value for an error message: quoted, and cut short when long."""
    if len(value) > _SHOWN_CHARS:
        return repr(value[:_SHOWN_CHARS] + "...")
    return repr(value)


def _require_str(value: object, what: str) -> str:
    if value is None:
        raise InvalidArgument(f"Missing {what}")
    if not isinstance(value, str):
        raise InvalidArgument(f"{what} must be a string, got {type(value).__name__}")
    return value


def _validate_key(key: object, what: str) -> str:
    text = _require_str(key, what)
    if text == "":
        raise InvalidArgument(f"{what} must not be empty")
    if len(text) > MAX_ENTITY_KEY_LENGTH:
        raise InvalidArgument(
            f"{what} {_show(text)} is {len(text)} characters long; "
            f"the limit is {MAX_ENTITY_KEY_LENGTH}"
        )
    if not _KEY_CHARS.fullmatch(text):
        bad = next(ch for ch in text if not _KEY_CHARS.fullmatch(ch))
        raise InvalidArgument(
            f"{what} {_show(text)} contains {bad!r}; keys may only contain {_ALLOWED_CHARS_TEXT}"
        )
    normalised = posixpath.normpath(text)
    if text.startswith("/"):
        problem = "must not start with '/'"
    elif normalised.startswith("..") or normalised == ".":
        problem = "must not start with '..' or be '.'"
    elif normalised != text:
        problem = (
            "must be a normalised path: no '.' or '..' segments, no '//' and no trailing '/' "
            f"(it would read as {normalised!r})"
        )
    else:
        return text
    raise InvalidArgument(f"{what} {_show(text)} {problem}")


def validate_metric_key(key: object) -> str:
    """A metric key: 1 to 250 allowed characters, a normalised relative path."""
    return _validate_key(key, "Metric key")


def validate_param_key(key: object) -> str:
    """A param key: same rules as a metric key."""
    return _validate_key(key, "Param key")


def validate_tag_key(key: object) -> str:
    """A tag key (runs, experiments, logged models): same rules as a metric key."""
    return _validate_key(key, "Tag key")


def _validate_length(value: object, what: str, limit: int, *, truncate: bool) -> str:
    text = _require_str(value, what)
    if len(text) <= limit:
        return text
    if truncate:
        return text[:limit]
    raise InvalidArgument(
        f"{what} {_show(text)} is {len(text)} characters long; the limit is {limit}"
    )


def validate_param_value(value: object, *, truncate: bool = False) -> str:
    """A param value of at most 6000 characters.

    MLflow's own server cuts longer values down by default
    (``MLFLOW_TRUNCATE_LONG_VALUES``); ``truncate=True`` does the same here
    instead of refusing.
    """
    return _validate_length(value, "Param value", MAX_PARAM_VALUE_LENGTH, truncate=truncate)


def validate_tag_value(value: object, *, truncate: bool = False) -> str:
    """A run or logged-model tag value of at most 8000 characters (see ``truncate`` above)."""
    return _validate_length(value, "Tag value", MAX_TAG_VALUE_LENGTH, truncate=truncate)


def validate_experiment_tag_value(value: object) -> str:
    """An experiment tag value: MLflow allows these to be longer, 20000 characters."""
    return _validate_length(
        value, "Experiment tag value", MAX_EXPERIMENT_TAG_VALUE_LENGTH, truncate=False
    )


def validate_experiment_name(name: object) -> str:
    """An experiment name: a non-empty string of at most 500 characters."""
    text = _require_str(name, "experiment name")
    if text == "":
        raise InvalidArgument("Experiment name must not be empty")
    if len(text) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidArgument(
            f"Experiment name {_show(text)} is {len(text)} characters long; "
            f"the limit is {MAX_EXPERIMENT_NAME_LENGTH}"
        )
    return text


def validate_run_name(name: object) -> str:
    """A run name of at most 250 characters (also used for logged-model names)."""
    return _validate_length(name, "Run name", MAX_RUN_NAME_LENGTH, truncate=False)


def validate_metric_value(value: object, key: str = "") -> float:
    """A metric value: any real number, NaN and +/-infinity included; booleans refused.

    Returned as a float (the value is stored as a double).
    """
    of = f" of metric {key!r}" if key else ""
    if value is None:
        raise InvalidArgument(f"Missing value{of}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgument(
            f"Value{of} must be a number (64-bit float), got {type(value).__name__} {value!r}"
        )
    try:
        return float(value)
    except OverflowError as exc:  # an int too large for a double
        raise InvalidArgument(f"Value{of} {value} is too large for a 64-bit float") from exc


def validate_int64(value: object, field: str = "value") -> int:
    """An integer in the signed 64-bit range (steps and the like).

    Booleans are refused; a float with an integral value (``5.0``, as some
    JSON encoders write integers) is accepted and returned as an int.
    """
    if value is None:
        raise InvalidArgument(f"Missing {field}")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        else:
            raise InvalidArgument(
                f"{field} must be an integer (64-bit), got {type(value).__name__} {value!r}"
            )
    number = int(value)
    if not INT64_MIN <= number <= INT64_MAX:
        raise InvalidArgument(f"{field} {number} is outside the 64-bit integer range")
    return number


def validate_timestamp(value: object, field: str = "timestamp") -> int:
    """Milliseconds since the epoch: a non-negative 64-bit integer."""
    number = validate_int64(value, field)
    if number < 0:
        raise InvalidArgument(f"{field} must not be negative, got {number}")
    return number


def _check_count(what: str, count: int, limit: int) -> None:
    if count > limit:
        raise InvalidArgument(
            f"A batch may hold at most {limit} {what}, got {count}; "
            "split it across several requests"
        )


def validate_batch_limits(metrics: Sized, params: Sized, tags: Sized) -> None:
    """At most 1000 metrics, 100 params, 100 tags, and 1000 items altogether per batch."""
    _check_count("metrics", len(metrics), MAX_METRICS_PER_BATCH)
    _check_count("params", len(params), MAX_PARAMS_PER_BATCH)
    _check_count("tags", len(tags), MAX_TAGS_PER_BATCH)
    total = len(metrics) + len(params) + len(tags)
    _check_count("metrics, params and tags together", total, MAX_ENTITIES_PER_BATCH)


def validate_unique_params(params: Iterable[Param]) -> list[Param]:
    """Refuse one key given two different values in a batch; drop exact repeats.

    Params are immutable, so two values for one key can never both be
    stored; the same key and value twice is harmless and kept once.
    """
    seen: dict[str, str] = {}
    unique: list[Param] = []
    for param in params:
        earlier = seen.get(param.key)
        if earlier is None:
            seen[param.key] = param.value
            unique.append(param)
        elif earlier != param.value:
            raise InvalidArgument(
                f"Param {param.key!r} is given twice in one batch with different values "
                f"({_show(earlier)} and {_show(param.value)}); a param has one value per run"
            )
    return unique


def validate_dataset(dataset: Dataset) -> Dataset:
    """A run input dataset: name and digest present, every field within MLflow's sizes."""
    limits = (
        ("name", dataset.name, MAX_DATASET_NAME_LENGTH),
        ("digest", dataset.digest, MAX_DATASET_DIGEST_LENGTH),
        ("source", dataset.source, MAX_DATASET_SOURCE_LENGTH),
        ("schema", dataset.schema, MAX_DATASET_SCHEMA_LENGTH),
        ("profile", dataset.profile, MAX_DATASET_PROFILE_LENGTH),
    )
    for field, value, limit in limits:
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidArgument(f"Dataset {field} must be a string, got {type(value).__name__}")
        if len(value) > limit:
            raise InvalidArgument(
                f"Dataset {field} is {len(value)} characters long; the limit is {limit}"
            )
    if not dataset.name:
        raise InvalidArgument("Dataset name must not be empty")
    if not dataset.digest:
        raise InvalidArgument(f"Dataset {dataset.name!r} has an empty digest")
    return dataset
