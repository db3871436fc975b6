"""MLflow's search grammar: exact ASTs for what is valid, named errors for what is not.

The tables follow the rest-api spec section 8. The property tests render
random valid clauses back to text (with every spelling the grammar allows)
and check they parse to the same AST, and feed junk to the parser to check
it only ever answers with clauses or ``InvalidArgument``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moorline.errors import ErrorCode, InvalidArgument
from moorline.tracking._grammar import Kind, parse_filter, parse_order_by
from moorline.tracking.search import (
    Clause,
    Entity,
    Op,
    OrderKey,
    Value,
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_logged_model_filter,
    parse_run_filter,
    parse_run_order_by,
)

KINDS: tuple[Kind, ...] = ("run", "experiment", "logged_model", "registered_model", "model_version")


def c(entity: Entity, key: str, op: Op, value: Value) -> Clause:
    return Clause(entity=entity, key=key, op=op, value=value)


def o(entity: Entity, key: str, ascending: bool = True) -> OrderKey:
    return OrderKey(entity=entity, key=key, ascending=ascending)


# --------------------------------------------------------------------------- valid filters

RUN_VALID: list[tuple[str, tuple[Clause, ...]]] = [
    ("", ()),
    ("   \n\t ", ()),
    ("metrics.acc > 0.9", (c("metric", "acc", ">", 0.9),)),
    ("metric.acc >= 1", (c("metric", "acc", ">=", 1.0),)),
    ("metrics.loss<0.5", (c("metric", "loss", "<", 0.5),)),
    ("metrics.loss <= -2", (c("metric", "loss", "<=", -2.0),)),
    ("metrics.loss = 1e-3", (c("metric", "loss", "=", 0.001),)),
    ("metrics.loss != 2.5E+2", (c("metric", "loss", "!=", 250.0),)),
    ("metrics.loss > .5", (c("metric", "loss", ">", 0.5),)),
    ("metrics.loss > 3.", (c("metric", "loss", ">", 3.0),)),
    ("metrics.`val loss` > 0", (c("metric", "val loss", ">", 0.0),)),
    ('metrics."val/loss" > 0', (c("metric", "val/loss", ">", 0.0),)),
    ("metrics.`a.b` > 0", (c("metric", "a.b", ">", 0.0),)),
    ("params.lr = '0.1'", (c("param", "lr", "=", "0.1"),)),
    ('params.lr = "0.1"', (c("param", "lr", "=", "0.1"),)),
    ("param.lr != 'x'", (c("param", "lr", "!=", "x"),)),
    ("parameters.lr LIKE '0.%'", (c("param", "lr", "LIKE", "0.%"),)),
    ("parameter.lr ilike '%E-3'", (c("param", "lr", "ILIKE", "%E-3"),)),
    ("params.'my param' = 'x'", (c("param", "my param", "=", "x"),)),
    ("params.lr IS NULL", (c("param", "lr", "IS NULL", None),)),
    ("params.lr is not null", (c("param", "lr", "IS NOT NULL", None),)),
    ("tags.mlflow.runName = 'r'", (c("tag", "mlflow.runName", "=", "r"),)),
    ("tags.`mlflow.user` = 'ada'", (c("tag", "mlflow.user", "=", "ada"),)),
    ("tag.\"my tag\" != ''", (c("tag", "my tag", "!=", ""),)),
    ("tags.t IS NULL", (c("tag", "t", "IS NULL", None),)),
    ("tags.t = 'it\\'s'", (c("tag", "t", "=", "it's"),)),
    ('tags.t = "say \\"hi\\""', (c("tag", "t", "=", 'say "hi"'),)),
    ("tags.t = 'back\\\\slash'", (c("tag", "t", "=", "back\\slash"),)),
    ("tags.t LIKE '50\\%'", (c("tag", "t", "LIKE", "50\\%"),)),
    ("tags.t = 'ünïcödé ✓'", (c("tag", "t", "=", "ünïcödé ✓"),)),
    ("run_name = 'x'", (c("attribute", "run_name", "=", "x"),)),
    ("attributes.run_name = 'x'", (c("attribute", "run_name", "=", "x"),)),
    ("\"run name\" = 'x'", (c("attribute", "run_name", "=", "x"),)),
    ("`Run Name` LIKE 'x%'", (c("attribute", "run_name", "LIKE", "x%"),)),
    ("attribute.status = 'RUNNING'", (c("attribute", "status", "=", "RUNNING"),)),
    ("attr.user_id != 'bob'", (c("attribute", "user_id", "!=", "bob"),)),
    ("run.artifact_uri LIKE 's3://%'", (c("attribute", "artifact_uri", "LIKE", "s3://%"),)),
    ("`attributes`.status ILIKE 'run%'", (c("attribute", "status", "ILIKE", "run%"),)),
    ("lifecycle_stage = 'active'", (c("attribute", "lifecycle_stage", "=", "active"),)),
    ("run_id IN ('a', 'b')", (c("attribute", "run_id", "IN", ("a", "b")),)),
    ('attributes.run_id NOT IN ("a")', (c("attribute", "run_id", "NOT IN", ("a",)),)),
    ("run_id in ('a',)", (c("attribute", "run_id", "IN", ("a",)),)),
    ("start_time > 1700000000000", (c("attribute", "start_time", ">", 1700000000000),)),
    ("end_time <= 5", (c("attribute", "end_time", "<=", 5),)),
    ("created >= 10", (c("attribute", "start_time", ">=", 10),)),
    ("attributes.Created < 1.5", (c("attribute", "start_time", "<", 1.5),)),
    ("start_time = 9223372036854775807", (c("attribute", "start_time", "=", 2**63 - 1),)),
    ("datasets.name = 'iris'", (c("dataset", "name", "=", "iris"),)),
    ("dataset.digest LIKE 'ab%'", (c("dataset", "digest", "LIKE", "ab%"),)),
    ("datasets.context IN ('train', 'eval')", (c("dataset", "context", "IN", ("train", "eval")),)),
    ("datasets.name NOT IN ('a')", (c("dataset", "name", "NOT IN", ("a",)),)),
    (
        "metrics.acc > 0.9 and params.lr = '0.1' AND tags.t IS NOT NULL aNd created > 1",
        (
            c("metric", "acc", ">", 0.9),
            c("param", "lr", "=", "0.1"),
            c("tag", "t", "IS NOT NULL", None),
            c("attribute", "start_time", ">", 1),
        ),
    ),
    ("tags.x = 'a AND b'", (c("tag", "x", "=", "a AND b"),)),
    ("tags.x = 'a' AND tags.x != 'b'", (c("tag", "x", "=", "a"), c("tag", "x", "!=", "b"))),
]


@pytest.mark.parametrize(("text", "expected"), RUN_VALID, ids=[t for t, _ in RUN_VALID])
def test_run_filter_parses_to_exact_clauses(text: str, expected: tuple[Clause, ...]) -> None:
    assert parse_filter(text, kind="run") == expected


def test_none_filter_gives_no_clauses() -> None:
    for kind in KINDS:
        assert parse_filter(None, kind=kind) == ()


def test_literal_types_are_floats_for_metrics_and_exact_ints_for_timestamps() -> None:
    (metric,) = parse_filter("metrics.a = 3", kind="run")
    assert type(metric.value) is float
    (start,) = parse_filter("start_time = 9007199254740993", kind="run")
    # 2**53 + 1 is not representable as a float: it must come back exact.
    assert type(start.value) is int
    assert start.value == 9007199254740993
    (fractional,) = parse_filter("start_time > 2.5", kind="run")
    assert type(fractional.value) is float


OTHER_VALID: list[tuple[Kind, str, tuple[Clause, ...]]] = [
    ("experiment", "name = 'exp'", (c("attribute", "name", "=", "exp"),)),
    ("experiment", "attribute.name LIKE 'x%'", (c("attribute", "name", "LIKE", "x%"),)),
    ("experiment", "name ILIKE '%X'", (c("attribute", "name", "ILIKE", "%X"),)),
    (
        "experiment",
        "experiment_id IN ('1', '2')",
        (c("attribute", "experiment_id", "IN", ("1", "2")),),
    ),
    ("experiment", "experiment_id != '0'", (c("attribute", "experiment_id", "!=", "0"),)),
    ("experiment", "creation_time > 5", (c("attribute", "creation_time", ">", 5),)),
    ("experiment", "last_update_time <= 5", (c("attribute", "last_update_time", "<=", 5),)),
    ("experiment", "tags.team = 'ml'", (c("tag", "team", "=", "ml"),)),
    ("experiment", "tag.`a b` IS NULL", (c("tag", "a b", "IS NULL", None),)),
    ("logged_model", "name = 'model'", (c("attribute", "name", "=", "model"),)),
    ("logged_model", "model_id IN ('m-1')", (c("attribute", "model_id", "IN", ("m-1",)),)),
    (
        "logged_model",
        "status = 'LOGGED_MODEL_READY'",
        (c("attribute", "status", "=", "LOGGED_MODEL_READY"),),
    ),
    ("logged_model", "source_run_id = 'r'", (c("attribute", "source_run_id", "=", "r"),)),
    ("logged_model", "model_type LIKE 'skl%'", (c("attribute", "model_type", "LIKE", "skl%"),)),
    ("logged_model", "creation_timestamp > 1", (c("attribute", "creation_timestamp", ">", 1),)),
    ("logged_model", "creation_timestamp_ms > 1", (c("attribute", "creation_timestamp", ">", 1),)),
    ("logged_model", "creation_time < 1", (c("attribute", "creation_timestamp", "<", 1),)),
    (
        "logged_model",
        "last_updated_timestamp_ms >= 1",
        (c("attribute", "last_updated_timestamp", ">=", 1),),
    ),
    ("logged_model", "metrics.acc > 0.5", (c("metric", "acc", ">", 0.5),)),
    ("logged_model", "params.depth = '3'", (c("param", "depth", "=", "3"),)),
    ("logged_model", "tags.`mlflow.x` != 'y'", (c("tag", "mlflow.x", "!=", "y"),)),
    ("registered_model", "name = 'm'", (c("attribute", "name", "=", "m"),)),
    ("registered_model", "name IN ('a', 'b')", (c("attribute", "name", "IN", ("a", "b")),)),
    ("registered_model", "name NOT IN ('a')", (c("attribute", "name", "NOT IN", ("a",)),)),
    ("registered_model", "name ILIKE '%m%'", (c("attribute", "name", "ILIKE", "%m%"),)),
    (
        "registered_model",
        "name LIKE 'a%' AND tag.`mlflow.prompt.is_prompt` != 'true'",
        (
            c("attribute", "name", "LIKE", "a%"),
            c("tag", "mlflow.prompt.is_prompt", "!=", "true"),
        ),
    ),
    ("model_version", "name = 'm'", (c("attribute", "name", "=", "m"),)),
    ("model_version", "name IN ('m')", (c("attribute", "name", "IN", ("m",)),)),
    ("model_version", "run_id IN ('a', 'b')", (c("attribute", "run_id", "IN", ("a", "b")),)),
    (
        "model_version",
        "source_path LIKE 's3://%'",
        (c("attribute", "source_path", "LIKE", "s3://%"),),
    ),
    ("model_version", "version_number > 3", (c("attribute", "version_number", ">", 3),)),
    ("model_version", "version_number = '3'", (c("attribute", "version_number", "=", 3),)),
    ("model_version", "tags.stage = 'prod'", (c("tag", "stage", "=", "prod"),)),
]


@pytest.mark.parametrize(
    ("kind", "text", "expected"), OTHER_VALID, ids=[f"{k}:{t}" for k, t, _ in OTHER_VALID]
)
def test_other_kinds_parse_to_exact_clauses(
    kind: Kind, text: str, expected: tuple[Clause, ...]
) -> None:
    assert parse_filter(text, kind=kind) == expected


# --------------------------------------------------------------------------- invalid filters

# (kind, text, fragments the message must contain: the bad token and what was expected)
INVALID: list[tuple[Kind, str, tuple[str, ...]]] = [
    ("run", "metrics.a > 1 OR metrics.b > 2", ("OR is not supported", "AND", "position 14")),
    ("run", "metrics.a > 1 or metrics.b > 2", ("OR is not supported",)),
    ("run", "(metrics.a > 1)", ("parentheses are not supported", "position 0")),
    ("run", "metrics.a > 1 AND (tags.x = 'y')", ("parentheses are not supported",)),
    ("run", "metrics.a > '1'", ("expected a number", "'1'", "without quotes")),
    ("run", 'metrics.a > "1"', ("expected a number", '"1"')),
    ("run", "metrics.a > nan", ("expected a number", "'nan'")),
    ("run", "metrics.a LIKE '1'", ("operator 'LIKE' is not allowed", "metrics.a", "=, !=, >")),
    ("run", "metrics.a IS NULL", ("operator 'IS NULL' is not allowed",)),
    ("run", "metrics.a IN (1)", ("operator 'IN' is not allowed",)),
    ("run", "params.lr > '1'", ("operator '>' is not allowed", "params.lr", "LIKE, ILIKE")),
    ("run", "params.lr = 0.1", ("expected a quoted string", "'0.1'", "quote it")),
    ("run", "params.lr = abc", ("expected a quoted string", "'abc'")),
    ("run", "tags.t IN ('a')", ("operator 'IN' is not allowed", "tags.t")),
    ("run", "tags.t = ('a')", ("IN or NOT IN",)),
    ("run", "tags.t NOT LIKE 'a'", ("expected IN after NOT", "'LIKE'")),
    ("run", "tags.t IS 'a'", ("expected NULL or NOT NULL after IS", "\"'a'\"")),
    ("run", "tags.t IS NOT 'a'", ("expected NULL after IS NOT",)),
    ("run", "tags.t ~ 'a'", ("unexpected character '~'",)),
    ("run", "tags.t == 'a'", ("'==' is not supported", "use '='")),
    ("run", "tags.t <> 'a'", ("'<>' is not supported", "use '!='")),
    ("run", "tags.t 'a'", ("expected a comparison operator", "tags.t")),
    ("run", "tags.t", ("expected a comparison operator", "end of input")),
    ("run", "tags.t =", ("expected a quoted string", "end of input")),
    ("run", "tags.t = 'open", ("unterminated quoted text", "position 9")),
    ("run", "tags.`open = 'x'", ("unterminated quoted text",)),
    ("run", "tags. t = 'x'", ("expected a key right after 'tags.'", "no spaces")),
    ("run", "tags.", ("expected a key right after 'tags.'", "end of input")),
    ("run", "tags.`` = 'x'", ("empty key",)),
    ("run", "foo.bar = 'x'", ("unknown entity prefix 'foo'", "metrics.<key>")),
    ("run", "Metrics.a > 1", ("unknown entity prefix 'Metrics'",)),
    ("run", "status2 = 'x'", ("unknown attribute 'status2'", "run_id")),
    ("run", "experiment_id = '1'", ("unknown attribute 'experiment_id'",)),
    ("run", "attributes.`metrics.a` > 1", ("unknown attribute 'metrics.a'",)),
    ("run", "status IN ('a')", ("operator 'IN' is not allowed", "'status'")),
    ("run", "run_id > 'a'", ("operator '>' is not allowed",)),
    ("run", "run_id IN ()", ("IN list must not be empty",)),
    ("run", "run_id IN ('a', 1)", ("expected a quoted string in the IN list", "'1'")),
    ("run", "run_id IN ('a' 'b')", ("expected ',' or ')' in the IN list",)),
    ("run", "run_id IN ('a',", ("expected a quoted string in the IN list", "end of input")),
    ("run", "run_id IN 'a'", ("parenthesised list of quoted strings",)),
    ("run", "start_time > '5'", ("expected a number", "'start_time'", "without quotes")),
    ("run", "start_time LIKE '5'", ("operator 'LIKE' is not allowed",)),
    ("run", "start_time > 9223372036854775808", ("outside the 64-bit integer range",)),
    ("run", "created IN ('1')", ("operator 'IN' is not allowed",)),
    ("run", "datasets.size = '1'", ("unknown dataset key 'size'", "name, digest, context")),
    ("run", "datasets.name > 'a'", ("operator '>' is not allowed",)),
    ("run", "datasets.name IS NULL", ("operator 'IS NULL' is not allowed",)),
    ("run", "metrics.a > 1 AND", ("expected a clause after AND", "end of input")),
    ("run", "AND metrics.a > 1", ("expected a key", "'AND'")),
    ("run", "metrics.a > 1 AND AND metrics.b > 1", ("expected a key", "'AND'")),
    ("run", "metrics.a > 1 metrics.b > 1", ("expected AND or end of input", "'metrics.b'")),
    ("run", "metrics.a > 1;", ("unexpected character ';'",)),
    ("run", "metrics.a > 1 2", ("expected AND or end of input", "'2'")),
    ("run", "'abc' = tags.x", ("expected a key", "\"'abc'\"")),
    ("run", "tags.x = 'a' ,", ("expected AND or end of input", "','")),
    ("experiment", "metrics.a > 1", ("'metrics' keys cannot be used to filter experiments",)),
    ("experiment", "params.a = 'x'", ("'params' keys cannot be used to filter experiments",)),
    ("experiment", "run.name = 'x'", ("'run' keys cannot be used to filter experiments",)),
    ("experiment", "name IN ('a')", ("operator 'IN' is not allowed",)),
    ("experiment", "experiment_id = 1", ("expected a quoted string",)),
    ("experiment", "creation_time = '5'", ("expected a number",)),
    ("experiment", "name IS NULL", ("operator 'IS NULL' is not allowed",)),
    ("experiment", "lifecycle_stage = 'active'", ("unknown attribute 'lifecycle_stage'",)),
    ("logged_model", "tags.x IS NULL", ("operator 'IS NULL' is not allowed",)),
    ("logged_model", "datasets.name = 'a'", ("'datasets' keys cannot be used to filter",)),
    ("logged_model", "start_time > 1", ("unknown attribute 'start_time'",)),
    ("registered_model", "name > 'a'", ("operator '>' is not allowed",)),
    ("registered_model", "tags.x IS NULL", ("operator 'IS NULL' is not allowed",)),
    ("registered_model", "creation_timestamp > 1", ("unknown attribute 'creation_timestamp'",)),
    ("registered_model", "metrics.a > 1", ("'metrics' keys cannot be used",)),
    ("model_version", "version_number = 3.5", ("expected an integer", "3.5")),
    ("model_version", "version_number = 'three'", ("expected an integer",)),
    ("model_version", "version_number LIKE '3'", ("operator 'LIKE' is not allowed",)),
    ("model_version", "source_path IN ('a')", ("operator 'IN' is not allowed",)),
    ("model_version", "status = 'READY'", ("unknown attribute 'status'",)),
]


@pytest.mark.parametrize(
    ("kind", "text", "fragments"), INVALID, ids=[f"{k}:{t}" for k, t, _ in INVALID]
)
def test_invalid_filters_name_the_problem(
    kind: Kind, text: str, fragments: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_filter(text, kind=kind)
    assert info.value.code is ErrorCode.INVALID_PARAMETER_VALUE
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_long_filters_are_shortened_in_messages() -> None:
    text = "tags.x = '" + "a" * 1000 + "' OR tags.y = 'b'"
    with pytest.raises(InvalidArgument, match="OR is not supported") as info:
        parse_filter(text, kind="run")
    assert len(str(info.value)) < 400


def test_non_string_filter_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="must be a string"):
        parse_filter(42, kind="run")  # type: ignore[arg-type]


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown search kind 'trace'"):
        parse_filter("x = 'y'", kind="trace")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- order_by

ORDER_VALID: list[tuple[Kind, list[str], tuple[OrderKey, ...]]] = [
    ("run", [], ()),
    ("run", ["start_time"], (o("attribute", "start_time"),)),
    ("run", ["start_time DESC"], (o("attribute", "start_time", False),)),
    ("run", ["attributes.start_time asc"], (o("attribute", "start_time"),)),
    ("run", ["created desc"], (o("attribute", "start_time", False),)),
    ("run", ["metrics.acc DESC", "params.lr"], (o("metric", "acc", False), o("param", "lr"))),
    ("run", ["metrics.`val loss`  DESC  "], (o("metric", "val loss", False),)),
    ("run", ['tags."mlflow.runName"'], (o("tag", "mlflow.runName"),)),
    ("run", ["tags.mlflow.runName ASC"], (o("tag", "mlflow.runName"),)),
    (
        "run",
        ["run_name", "run_id", "status", "user_id"],
        tuple(o("attribute", k) for k in ("run_name", "run_id", "status", "user_id")),
    ),
    (
        "run",
        ["artifact_uri", "end_time", "experiment_id"],
        tuple(o("attribute", k) for k in ("artifact_uri", "end_time", "experiment_id")),
    ),
    (
        "run",
        ["metrics.a", "params.a", "tags.a"],
        (o("metric", "a"), o("param", "a"), o("tag", "a")),
    ),
    (
        "experiment",
        ["name", "experiment_id DESC"],
        (o("attribute", "name"), o("attribute", "experiment_id", False)),
    ),
    (
        "experiment",
        ["creation_time DESC", "last_update_time"],
        (
            o("attribute", "creation_time", False),
            o("attribute", "last_update_time"),
        ),
    ),
    (
        "logged_model",
        ["creation_timestamp_ms DESC"],
        (o("attribute", "creation_timestamp", False),),
    ),
    (
        "logged_model",
        ["metrics.acc DESC", "name"],
        (o("metric", "acc", False), o("attribute", "name")),
    ),
    (
        "registered_model",
        ["name", "last_updated_timestamp DESC"],
        (
            o("attribute", "name"),
            o("attribute", "last_updated_timestamp", False),
        ),
    ),
    ("registered_model", ["timestamp DESC"], (o("attribute", "last_updated_timestamp", False),)),
    ("registered_model", ["creation_timestamp"], (o("attribute", "creation_timestamp"),)),
    (
        "model_version",
        ["version_number DESC", "name"],
        (
            o("attribute", "version_number", False),
            o("attribute", "name"),
        ),
    ),
    (
        "model_version",
        ["creation_timestamp", "last_updated_timestamp"],
        (
            o("attribute", "creation_timestamp"),
            o("attribute", "last_updated_timestamp"),
        ),
    ),
]


@pytest.mark.parametrize(
    ("kind", "items", "expected"), ORDER_VALID, ids=[f"{k}:{i}" for k, i, _ in ORDER_VALID]
)
def test_order_by_parses_to_exact_keys(
    kind: Kind, items: list[str], expected: tuple[OrderKey, ...]
) -> None:
    assert parse_order_by(items, kind=kind) == expected


def test_order_by_none_and_tuples() -> None:
    assert parse_order_by(None, kind="run") == ()
    assert parse_order_by(("metrics.a",), kind="run") == (o("metric", "a"),)


ORDER_INVALID: list[tuple[Kind, Any, tuple[str, ...]]] = [
    ("run", ["start_time", "created DESC"], ("same key", "'start_time'", "once")),
    ("run", ["metrics.a", "metric.a DESC"], ("same key", "metric 'a'")),
    ("run", ["metrics.a DESC NULLS LAST"], ("NULLS FIRST / NULLS LAST is not supported",)),
    ("run", ["metrics.a nulls first"], ("NULLS FIRST / NULLS LAST is not supported",)),
    ("run", ["metrics.a upward"], ("expected ASC, DESC or end of input", "'upward'")),
    ("run", ["metrics.a ASC DESC"], ("expected ASC, DESC or end of input", "'DESC'")),
    ("run", ["metrics.a, metrics.b"], ("expected ASC, DESC or end of input", "','")),
    ("run", [""], ("got nothing",)),
    ("run", ["   "], ("got nothing",)),
    ("run", ["DESC"], ("expected a key", "'DESC'")),
    ("run", ["datasets.name"], ("'datasets' keys cannot be used to order runs",)),
    ("run", ["lifecycle_stage"], ("unknown attribute 'lifecycle_stage'",)),
    ("run", ["foo.bar"], ("unknown entity prefix 'foo'",)),
    ("run", ["metrics.a > 1"], ("expected ASC, DESC or end of input", "'>'")),
    ("run", [1], ("must be a string", "int")),
    ("run", "start_time", ("list of strings",)),
    ("experiment", ["tags.x"], ("'tags' keys cannot be used to order experiments",)),
    ("experiment", ["start_time"], ("unknown attribute 'start_time'",)),
    ("logged_model", ["params.x"], ("'params' keys cannot be used to order logged models",)),
    ("registered_model", ["version_number"], ("unknown attribute 'version_number'",)),
    ("registered_model", ["timestamp", "last_updated_timestamp"], ("same key",)),
    ("model_version", ["run_id"], ("unknown attribute 'run_id'",)),
]


@pytest.mark.parametrize(
    ("kind", "items", "fragments"), ORDER_INVALID, ids=[f"{k}:{i}" for k, i, _ in ORDER_INVALID]
)
def test_invalid_order_by_names_the_problem(
    kind: Kind, items: Any, fragments: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_order_by(items, kind=kind)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_search_module_entry_points_use_the_right_dialect() -> None:
    text = "metrics.acc > 0.5"
    assert parse_run_filter(text) == (c("metric", "acc", ">", 0.5),)
    assert parse_logged_model_filter(text) == (c("metric", "acc", ">", 0.5),)
    with pytest.raises(InvalidArgument, match="filter experiments"):
        parse_experiment_filter(text)
    assert parse_run_order_by(["created"]) == (o("attribute", "start_time"),)
    with pytest.raises(InvalidArgument, match="unknown attribute 'created'"):
        parse_experiment_order_by(["created"])


# --------------------------------------------------------------------------- properties

# What each kind accepts, written from the spec independently of the parser's tables.
SPEC: dict[Kind, dict[str, Any]] = {
    "run": {
        "prefixes": {
            "metric": ["metric", "metrics"],
            "param": ["param", "params", "parameter", "parameters"],
            "tag": ["tag", "tags"],
            "attribute": ["", "attribute", "attributes", "attr", "run"],
            "dataset": ["dataset", "datasets"],
        },
        "strings": ["run_id", "run_name", "status", "user_id", "artifact_uri", "lifecycle_stage"],
        "numbers": ["start_time", "end_time"],
        "lists": ["run_id"],
        "nulls": ["param", "tag"],
        "aliases": {"start_time": ["created", "Created"], "run_name": ["run name", "Run Name"]},
    },
    "experiment": {
        "prefixes": {"tag": ["tag", "tags"], "attribute": ["", "attribute"]},
        "strings": ["name", "experiment_id"],
        "numbers": ["creation_time", "last_update_time"],
        "lists": ["experiment_id"],
        "nulls": ["tag"],
        "aliases": {},
    },
    "logged_model": {
        "prefixes": {
            "metric": ["metrics"],
            "param": ["params"],
            "tag": ["tags"],
            "attribute": ["", "attributes"],
        },
        "strings": ["name", "model_id", "status", "source_run_id", "model_type"],
        "numbers": ["creation_timestamp", "last_updated_timestamp"],
        "lists": ["name", "model_id", "status", "source_run_id", "model_type"],
        "nulls": [],
        "aliases": {"creation_timestamp": ["creation_timestamp_ms"]},
    },
    "registered_model": {
        "prefixes": {"tag": ["tag", "tags"], "attribute": ["", "attribute"]},
        "strings": ["name"],
        "numbers": [],
        "lists": ["name"],
        "nulls": [],
        "aliases": {},
    },
    "model_version": {
        "prefixes": {"tag": ["tag", "tags"], "attribute": ["", "attribute"]},
        "strings": ["name", "run_id", "source_path"],
        "numbers": ["version_number"],
        "lists": ["name", "run_id"],
        "nulls": [],
        "aliases": {},
    },
}

_BARE_KEY = re.compile(r"\w+(?:\.\w+)*")
_SPACE = st.sampled_from([" ", "  ", "\t", "\n "])


def _quote(text: str, quote: str) -> str:
    return quote + text.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


@st.composite
def _key_text(draw: st.DrawFn, key: str) -> str:
    """One of the ways to write a metric/param/tag key after its prefix."""
    styles = ["dq", "sq"]
    if "`" not in key:
        styles.append("backtick")
    if _BARE_KEY.fullmatch(key):
        styles.append("bare")
    style = draw(st.sampled_from(styles))
    if style == "bare":
        return key
    if style == "backtick":
        return f"`{key}`"
    return _quote(key, '"' if style == "dq" else "'")


def _string_literal(value: str) -> st.SearchStrategy[str]:
    return st.sampled_from(["'", '"']).map(lambda q: _quote(value, q))


def _case(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.lower(), word.capitalize()])


_FREE_KEYS = st.text(min_size=1, max_size=12)
_VALUES = st.text(max_size=12)


@st.composite
def clause_and_text(draw: st.DrawFn, kind: Kind) -> tuple[Clause, str]:
    spec = SPEC[kind]
    entity: Entity = draw(st.sampled_from(sorted(spec["prefixes"])))
    prefix = draw(st.sampled_from(spec["prefixes"][entity]))
    op: Op
    value: Value
    if entity == "attribute":
        names = spec["strings"] + spec["numbers"]
        key = draw(st.sampled_from(names))
        spelling = draw(st.sampled_from([key, *spec["aliases"].get(key, [])]))
        if " " in spelling:
            key_text = draw(st.sampled_from([f"`{spelling}`", f'"{spelling}"']))
        else:
            key_text = spelling
        if prefix == "" and " " not in spelling and draw(st.booleans()):
            key_text = draw(st.sampled_from([f"`{spelling}`", f'"{spelling}"']))
        written = f"{prefix}.{key_text}" if prefix else key_text
        if key in spec["numbers"]:
            op = draw(st.sampled_from(["=", "!=", ">", ">=", "<", "<="]))
            value = draw(st.integers(min_value=-(2**63), max_value=2**63 - 1))
            value_text = str(value)
        elif key in spec["lists"] and draw(st.booleans()):
            op = draw(st.sampled_from(["IN", "NOT IN"]))
            items = draw(st.lists(_VALUES, min_size=1, max_size=3))
            value = tuple(items)
            parts = [draw(_string_literal(item)) for item in items]
            trailing = "," if draw(st.booleans()) else ""
            value_text = "(" + ", ".join(parts) + trailing + ")"
        else:
            op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE"]))
            value = draw(_VALUES)
            value_text = draw(_string_literal(value))
    elif entity == "dataset":
        key = draw(st.sampled_from(["name", "digest", "context"]))
        written = f"{prefix}.{key}"
        op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE"]))
        value = draw(_VALUES)
        value_text = draw(_string_literal(value))
    else:
        key = draw(_FREE_KEYS)
        written = f"{prefix}.{draw(_key_text(key))}"
        if entity == "metric":
            op = draw(st.sampled_from(["=", "!=", ">", ">=", "<", "<="]))
            value = draw(st.floats(allow_nan=False, allow_infinity=False))
            value_text = repr(value)
        elif entity in spec["nulls"] and draw(st.integers(0, 3)) == 0:
            op = draw(st.sampled_from(["IS NULL", "IS NOT NULL"]))
            value = None
            value_text = ""
        else:
            op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE"]))
            value = draw(_VALUES)
            value_text = draw(_string_literal(value))
    op_text = " ".join(draw(_case(word)) for word in op.split())
    text = f"{written}{draw(_SPACE)}{op_text}"
    if value_text:
        text += f"{draw(_SPACE)}{value_text}"
    return Clause(entity=entity, key=key, op=op, value=value), text


@st.composite
def filter_and_text(draw: st.DrawFn) -> tuple[Kind, tuple[Clause, ...], str]:
    kind = draw(st.sampled_from(KINDS))
    pairs = draw(st.lists(clause_and_text(kind), min_size=1, max_size=4))
    text = ""
    for i, (_, clause_text) in enumerate(pairs):
        if i:
            text += f"{draw(_SPACE)}{draw(_case('AND'))}{draw(_SPACE)}"
        text += clause_text
    return kind, tuple(clause for clause, _ in pairs), text


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(filter_and_text())
def test_rendered_clauses_parse_back_to_the_same_ast(
    case: tuple[Kind, tuple[Clause, ...], str],
) -> None:
    kind, clauses, text = case
    assert parse_filter(text, kind=kind) == clauses


@st.composite
def order_and_text(draw: st.DrawFn) -> tuple[Kind, tuple[OrderKey, ...], list[str]]:
    kind: Kind = draw(st.sampled_from(("run", "experiment", "model_version")))
    attrs = {
        "run": ["start_time", "end_time", "run_name", "run_id", "status", "user_id"],
        "experiment": ["name", "experiment_id", "creation_time", "last_update_time"],
        "model_version": ["name", "version_number", "creation_timestamp"],
    }[kind]
    n = draw(st.integers(0, 4))
    keys: list[OrderKey] = []
    items: list[str] = []
    for _ in range(n):
        if kind == "run" and draw(st.booleans()):
            entity: Entity = draw(st.sampled_from(["metric", "param", "tag"]))
            key = draw(_FREE_KEYS)
            written = f"{entity}s.{draw(_key_text(key))}"
        else:
            entity = "attribute"
            key = draw(st.sampled_from(attrs))
            written = key
        if any(k.entity == entity and k.key == key for k in keys):
            continue
        direction = draw(st.sampled_from(["", "ASC", "DESC", "asc", "desc"]))
        keys.append(OrderKey(entity=entity, key=key, ascending=direction.upper() != "DESC"))
        items.append(f"{written} {direction}" if direction else written)
    return kind, tuple(keys), items


@given(order_and_text())
def test_rendered_order_by_parses_back(case: tuple[Kind, tuple[OrderKey, ...], list[str]]) -> None:
    kind, keys, items = case
    assert parse_order_by(items, kind=kind) == keys


_VOCABULARY = [
    "metrics.a", "params.p", "tags.t", "run_id", "start_time", "name", "datasets.name",
    "tags.`x y`", 'tags."q"', "AND", "and", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE",
    "=", "!=", ">", ">=", "<", "<=", "==", "(", ")", ",", ".", "'v'", '"v"', "'", '"', "`",
    "1", "-2.5", "1e9", "99999999999999999999", "\\", "ASC", "DESC", "NULLS", ";",
]  # fmt: skip


def _assert_parses_or_invalid(text: str, kind: Kind) -> None:
    try:
        result = parse_filter(text, kind=kind)
    except InvalidArgument as exc:
        position = re.search(r"\(at position (\d+)\)$", str(exc))
        assert position is not None, str(exc)
        assert 0 <= int(position.group(1)) <= len(text)
    else:
        assert all(isinstance(clause, Clause) for clause in result)
    try:
        keys = parse_order_by([text], kind=kind)
    except InvalidArgument:
        pass
    else:
        assert len(keys) == 1


@settings(max_examples=300)
@given(st.lists(st.sampled_from(_VOCABULARY), max_size=10), st.sampled_from(KINDS), _SPACE)
def test_token_soup_only_ever_raises_invalid_argument(
    words: list[str], kind: Kind, space: str
) -> None:
    _assert_parses_or_invalid(space.join(words), kind)


@settings(max_examples=300)
@given(st.text(max_size=40), st.sampled_from(KINDS))
def test_random_text_only_ever_raises_invalid_argument(text: str, kind: Kind) -> None:
    _assert_parses_or_invalid(text, kind)


# --------------------------------------------------------------------------- MLflow agreement

# Filters MLflow's own parser takes: ours must produce the same clauses.
AGREED = [
    ("run", "metrics.acc > 0.9 and params.lr = '0.1'"),
    ("run", "tags.`mlflow.user` = 'ada' AND attributes.status != 'FAILED'"),
    ("run", "params.'my param' LIKE '%x%'"),
    ("run", 'tags."a b" ILIKE "%Y"'),
    ("run", "run_id IN ('a', 'b') AND created > 5"),
    ("run", "attributes.run_id NOT IN ('a')"),
    ("run", "datasets.context IN ('train') AND dataset.digest = 'd'"),
    ("run", "tags.t IS NULL AND params.p IS NOT NULL"),
    ("run", "metrics.`a.b` >= -1.5e3"),
    ("run", "\"run name\" = 'x'"),
    ("experiment", "name LIKE 'x%' AND tags.a = 'b' AND experiment_id IN ('1')"),
    ("experiment", "creation_time > 5 AND tags.t IS NULL"),
    ("registered_model", "name IN ('a', 'b') AND tag.`mlflow.prompt.is_prompt` != 'true'"),
    ("model_version", "name = 'm' AND run_id IN ('r') AND version_number >= 2"),
]
# Filters MLflow refuses when it parses them: ours must refuse too.
REFUSED = [
    ("run", "metrics.a > 1 OR metrics.b > 1"),
    ("run", "metrics.a = '1'"),
    ("run", "params.p = 1"),
    ("run", "status IN ('a')"),
    ("run", "foo.bar = 'x'"),
    ("run", "run_id IN ()"),
    ("run", "metrics.a IS NULL"),
    ("run", "datasets.size = 'a'"),
    ("experiment", "metrics.a > 1"),
    ("experiment", "name IS NULL"),
    ("registered_model", "tags.x IS NULL"),
]


def _mlflow_parser(kind: str) -> Any:
    search_utils = pytest.importorskip("mlflow.utils.search_utils")
    return {
        "run": search_utils.SearchUtils,
        "experiment": search_utils.SearchExperimentsUtils,
        "registered_model": search_utils.SearchModelUtils,
        "model_version": search_utils.SearchModelVersionUtils,
    }[kind]


_MLFLOW_ENTITY = {"parameter": "param", "metric": "metric", "tag": "tag", "attribute": "attribute"}


@pytest.mark.compat
@pytest.mark.parametrize(("kind", "text"), AGREED)
def test_agrees_with_mlflow_parser(kind: Kind, text: str) -> None:
    theirs = _mlflow_parser(kind).parse_search_filter(text)
    ours = parse_filter(text, kind=kind)
    assert len(ours) == len(theirs)
    for clause, parsed in zip(ours, theirs, strict=True):
        assert clause.entity == _MLFLOW_ENTITY.get(parsed["type"], parsed["type"])
        key = {"created": "start_time", "run name": "run_name"}.get(parsed["key"], parsed["key"])
        assert clause.key == key
        assert clause.op == parsed["comparator"].upper()
        expected = parsed["value"]
        if clause.entity == "metric":
            expected = float(expected)
        elif isinstance(expected, list | tuple):
            expected = tuple(expected)
        assert clause.value == expected


@pytest.mark.compat
@pytest.mark.parametrize(("kind", "text"), REFUSED)
def test_refuses_what_mlflow_refuses(kind: Kind, text: str) -> None:
    parser = _mlflow_parser(kind)
    mlflow_exception = pytest.importorskip("mlflow.exceptions").MlflowException
    # MLflow refuses some of these with a bare ValueError from its own unpacking.
    with pytest.raises((mlflow_exception, ValueError)):
        parsed = parser.parse_search_filter(text)
        # MLflow checks some comparators only when matching; run that check too.
        for clause in parsed:
            parser.is_metric(clause["type"], clause["comparator"].upper())
            parser.is_param(clause["type"], clause["comparator"].upper())
            parser.is_tag(clause["type"], clause["comparator"].upper())
            parser.is_string_attribute(clause["type"], clause["key"], clause["comparator"].upper())
    with pytest.raises(InvalidArgument):
        parse_filter(text, kind=kind)
