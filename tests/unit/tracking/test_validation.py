"""Tracking input rules: what is accepted as is, what is refused and how it is named.

The limits are MLflow 3.17.2's; the last tests check a sample of keys and
values against MLflow's own validators so the two cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moorline.errors import ErrorCode, InvalidArgument
from moorline.tracking import validation as v
from moorline.tracking.models import Dataset, Metric, Param, Tag

KEY_VALIDATORS: list[tuple[str, Callable[[object], str]]] = [
    ("Metric key", v.validate_metric_key),
    ("Param key", v.validate_param_key),
    ("Tag key", v.validate_tag_key),
]

VALID_KEYS = [
    "a",
    "acc",
    "val/loss",
    "mlflow.runName",
    "a-b_c d:e",
    "A1.b2/c3",
    "ünïcödé",
    "学习率",
    "a..b",
    "a.",
    " ",
    "x" * 250,
]

# (key, fragment of the message that names the problem)
INVALID_KEYS: list[tuple[Any, str]] = [
    ("", "must not be empty"),
    (None, "Missing"),
    (5, "must be a string, got int"),
    ("x" * 251, "251 characters long; the limit is 250"),
    ("a*b", "contains '*'"),
    ("a,b", "contains ','"),
    ("a=b", "contains '='"),
    ("a\\b", "contains '\\\\'"),
    ("a\nb", "contains '\\n'"),
    ("tab\there", "contains '\\t'"),
    ("/abs", "must not start with '/'"),
    ("..", "must not start with '..'"),
    ("../x", "must not start with '..'"),
    ("..a", "must not start with '..'"),  # MLflow refuses any '..' prefix
    ("...", "must not start with '..'"),
    (".", "or be '.'"),
    ("a//b", "normalised path"),
    ("a/", "normalised path"),
    ("./a", "normalised path"),
    ("a/./b", "normalised path"),
    ("a/../b", "it would read as 'b'"),
]


@pytest.mark.parametrize(("what", "validate"), KEY_VALIDATORS)
@pytest.mark.parametrize("key", VALID_KEYS)
def test_valid_keys_are_returned_unchanged(
    what: str, validate: Callable[[object], str], key: str
) -> None:
    assert validate(key) == key


@pytest.mark.parametrize(("what", "validate"), KEY_VALIDATORS)
@pytest.mark.parametrize(("key", "fragment"), INVALID_KEYS)
def test_invalid_keys_are_refused_with_the_reason(
    what: str, validate: Callable[[object], str], key: Any, fragment: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        validate(key)
    assert info.value.code is ErrorCode.INVALID_PARAMETER_VALUE
    message = str(info.value)
    assert fragment in message, message
    assert what.lower() in message.lower()


def test_bad_character_message_lists_what_is_allowed() -> None:
    with pytest.raises(InvalidArgument) as info:
        v.validate_metric_key("loss%")
    assert "alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colons (:)" in str(
        info.value
    )


def test_long_keys_are_shortened_in_messages() -> None:
    with pytest.raises(InvalidArgument) as info:
        v.validate_tag_key("k" * 5000)
    assert len(str(info.value)) < 300


# (validator, limit, message fragment)
LENGTH_RULES: list[tuple[Callable[..., str], int, str]] = [
    (v.validate_param_value, 6000, "Param value"),
    (v.validate_tag_value, 8000, "Tag value"),
    (v.validate_experiment_tag_value, 20000, "Experiment tag value"),
    (v.validate_run_name, 250, "Run name"),
    (v.validate_experiment_name, 500, "Experiment name"),
]


@pytest.mark.parametrize(
    ("validate", "limit", "what"), LENGTH_RULES, ids=[w for *_, w in LENGTH_RULES]
)
def test_length_limits(validate: Callable[..., str], limit: int, what: str) -> None:
    at_limit = "é" * limit  # characters, not bytes, are counted
    assert validate(at_limit) == at_limit
    with pytest.raises(InvalidArgument) as info:
        validate("é" * (limit + 1))
    message = str(info.value)
    assert what in message
    assert f"{limit + 1} characters long; the limit is {limit}" in message


@pytest.mark.parametrize(
    ("validate", "limit"),
    [(v.validate_param_value, 6000), (v.validate_tag_value, 8000)],
)
def test_truncate_cuts_values_to_the_limit_instead_of_refusing(
    validate: Callable[..., str], limit: int
) -> None:
    assert validate("x" * (limit + 7), truncate=True) == "x" * limit
    assert validate("short", truncate=True) == "short"


@pytest.mark.parametrize(
    "validate", [v.validate_param_value, v.validate_tag_value, v.validate_run_name]
)
def test_empty_values_are_allowed(validate: Callable[..., str]) -> None:
    assert validate("") == ""


@pytest.mark.parametrize(
    "validate",
    [
        v.validate_param_value,
        v.validate_tag_value,
        v.validate_experiment_tag_value,
        v.validate_run_name,
        v.validate_experiment_name,
    ],
)
@pytest.mark.parametrize(
    ("value", "fragment"), [(None, "Missing"), (3, "must be a string, got int")]
)
def test_values_must_be_strings(validate: Callable[..., str], value: Any, fragment: str) -> None:
    with pytest.raises(InvalidArgument, match=fragment):
        validate(value)


def test_experiment_name_must_not_be_empty() -> None:
    with pytest.raises(InvalidArgument, match="Experiment name must not be empty"):
        v.validate_experiment_name("")
    assert v.validate_experiment_name("Default") == "Default"


# --------------------------------------------------------------------------- numbers

METRIC_VALUES: list[tuple[Any, float]] = [
    (0, 0.0),
    (3, 3.0),
    (-2.5, -2.5),
    (1e308, 1e308),
    (Fraction(1, 4), 0.25),
    (2**80, float(2**80)),
]


@pytest.mark.parametrize(("value", "expected"), METRIC_VALUES)
def test_metric_values_become_floats(value: Any, expected: float) -> None:
    result = v.validate_metric_value(value, "acc")
    assert type(result) is float
    assert result == expected


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_metric_values_may_be_nan_or_infinite(value: float) -> None:
    result = v.validate_metric_value(value)
    assert result is value or (math.isnan(result) and math.isnan(value))


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (True, "got bool True"),
        (False, "got bool False"),
        ("1.0", "got str '1.0'"),
        (None, "Missing value of metric 'acc'"),
        (Decimal("1.5"), "got Decimal"),
        (1 + 2j, "got complex"),
        ([1.0], "got list"),
        (10**400, "too large for a 64-bit float"),
    ],
)
def test_metric_values_that_are_not_real_numbers_are_refused(value: Any, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        v.validate_metric_value(value, "acc")
    assert fragment in str(info.value)
    assert "metric 'acc'" in str(info.value)


INT64_VALID: list[tuple[Any, int]] = [
    (0, 0),
    (-1, -1),
    (2**63 - 1, 2**63 - 1),
    (-(2**63), -(2**63)),
    (5.0, 5),
]


@pytest.mark.parametrize(("value", "expected"), INT64_VALID)
def test_int64_accepts_the_signed_64_bit_range(value: Any, expected: int) -> None:
    result = v.validate_int64(value, "step")
    assert type(result) is int
    assert result == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (2**63, "step 9223372036854775808 is outside the 64-bit integer range"),
        (-(2**63) - 1, "outside the 64-bit integer range"),
        (True, "step must be an integer (64-bit), got bool"),
        (1.5, "got float 1.5"),
        (math.nan, "got float nan"),
        (math.inf, "got float inf"),
        (1e19, "outside the 64-bit integer range"),
        ("5", "got str '5'"),
        (None, "Missing step"),
    ],
)
def test_int64_refusals_name_the_field(value: Any, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        v.validate_int64(value, "step")
    assert fragment in str(info.value)


def test_timestamps_are_non_negative_int64() -> None:
    assert v.validate_timestamp(0) == 0
    assert v.validate_timestamp(1_700_000_000_000, "start_time") == 1_700_000_000_000
    with pytest.raises(InvalidArgument, match="start_time must not be negative, got -1"):
        v.validate_timestamp(-1, "start_time")
    with pytest.raises(InvalidArgument, match=r"end_time .* outside the 64-bit integer range"):
        v.validate_timestamp(2**63, "end_time")
    with pytest.raises(InvalidArgument, match="timestamp must be an integer"):
        v.validate_timestamp(False)


# --------------------------------------------------------------------------- batches


def _metrics(n: int) -> list[Metric]:
    return [Metric(key=f"m{i}", value=1.0, timestamp=0) for i in range(n)]


def _params(n: int) -> list[Param]:
    return [Param(key=f"p{i}", value="v") for i in range(n)]


def _tags(n: int) -> list[Tag]:
    return [Tag(key=f"t{i}", value="v") for i in range(n)]


@pytest.mark.parametrize(
    ("metrics", "params", "tags"),
    [(0, 0, 0), (1000, 0, 0), (0, 100, 100), (800, 100, 100), (900, 50, 50)],
)
def test_batches_within_limits_pass(metrics: int, params: int, tags: int) -> None:
    v.validate_batch_limits(_metrics(metrics), _params(params), _tags(tags))


@pytest.mark.parametrize(
    ("metrics", "params", "tags", "fragment"),
    [
        (1001, 0, 0, "at most 1000 metrics, got 1001"),
        (0, 101, 0, "at most 100 params, got 101"),
        (0, 0, 101, "at most 100 tags, got 101"),
        (801, 100, 100, "at most 1000 metrics, params and tags together, got 1001"),
        (1000, 1, 0, "together, got 1001"),
    ],
)
def test_batches_over_limits_are_refused(
    metrics: int, params: int, tags: int, fragment: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        v.validate_batch_limits(_metrics(metrics), _params(params), _tags(tags))
    assert fragment in str(info.value)
    assert "split it across several requests" in str(info.value)


def test_repeated_param_with_the_same_value_is_kept_once() -> None:
    params = [
        Param(key="lr", value="0.1"),
        Param(key="depth", value="3"),
        Param(key="lr", value="0.1"),
    ]
    assert v.validate_unique_params(params) == [
        Param(key="lr", value="0.1"),
        Param(key="depth", value="3"),
    ]


def test_repeated_param_with_different_values_is_refused() -> None:
    params = [Param(key="lr", value="0.1"), Param(key="lr", value="0.2")]
    with pytest.raises(InvalidArgument) as info:
        v.validate_unique_params(params)
    message = str(info.value)
    assert "'lr'" in message
    assert "'0.1' and '0.2'" in message


# --------------------------------------------------------------------------- datasets


def _dataset(**overrides: Any) -> Dataset:
    fields: dict[str, Any] = {"name": "iris", "digest": "abc123", "source": "{}", "schema": "{}"}
    fields.update(overrides)
    return Dataset(**fields)


def test_dataset_at_limits_passes() -> None:
    dataset = _dataset(name="n" * 500, digest="d" * 64, source="s" * 65535, profile=None)
    assert v.validate_dataset(dataset) is dataset


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"name": "n" * 501}, "Dataset name is 501 characters long; the limit is 500"),
        ({"digest": "d" * 65}, "Dataset digest is 65 characters long; the limit is 64"),
        ({"source": "s" * 65536}, "Dataset source is 65536 characters long"),
        ({"schema": "s" * 1048576}, "Dataset schema is 1048576 characters long"),
        ({"profile": "p" * 16777216}, "Dataset profile is 16777216 characters long"),
        ({"name": ""}, "Dataset name must not be empty"),
        ({"digest": ""}, "Dataset 'iris' has an empty digest"),
        ({"name": 3}, "Dataset name must be a string, got int"),
    ],
)
def test_dataset_refusals(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        v.validate_dataset(_dataset(**overrides))
    assert fragment in str(info.value)


# --------------------------------------------------------------------------- properties

_KEY_ALPHABET = st.sampled_from([*"ab_-. :/\\*%,=\t\né学1", "..", "//", "./", "/."])


@given(st.lists(_KEY_ALPHABET, max_size=8).map("".join))
def test_key_validation_returns_the_key_or_raises_invalid_argument(key: str) -> None:
    try:
        result = v.validate_metric_key(key)
    except InvalidArgument:
        return
    assert result == key


@pytest.mark.compat
@settings(max_examples=400)
@given(st.lists(_KEY_ALPHABET, max_size=8).map("".join) | st.text(max_size=260))
def test_key_rules_match_mlflow(key: str) -> None:
    mlflow_validation = pytest.importorskip("mlflow.utils.validation")
    mlflow_exception = pytest.importorskip("mlflow.exceptions").MlflowException
    try:
        mlflow_validation._validate_metric_name(key)
        mlflow_validation._validate_length_limit("key", 250, key)
        mlflow_accepts = True
    except mlflow_exception:
        mlflow_accepts = False
    try:
        v.validate_param_key(key)
        ours_accepts = True
    except InvalidArgument:
        ours_accepts = False
    if key.endswith("\n"):
        # MLflow's pattern ends in '$', which also matches before a final newline,
        # so it lets "acc\n" through; a newline is never a key character here.
        assert not ours_accepts
    else:
        assert ours_accepts == mlflow_accepts


@pytest.mark.compat
@given(
    st.one_of(
        st.floats(),
        st.integers(),
        st.booleans(),
        st.none(),
        st.text(max_size=3),
        st.fractions(),
        st.decimals(allow_nan=False),
    )
)
def test_metric_value_rule_matches_mlflow(value: Any) -> None:
    mlflow_validation = pytest.importorskip("mlflow.utils.validation")
    mlflow_accepts = value is not None and mlflow_validation._is_numeric(value)
    try:
        v.validate_metric_value(value)
        ours_accepts = True
    except InvalidArgument:
        ours_accepts = False
    if isinstance(value, Decimal):
        # MLflow's check lets Decimal through; a Decimal is not a double, so it is refused here.
        assert not ours_accepts
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > 1e308:
        assert not ours_accepts  # cannot become a double
    else:
        assert ours_accepts == mlflow_accepts
