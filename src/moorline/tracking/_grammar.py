"""The parser behind :mod:`moorline.tracking.search`: MLflow's filter and order_by grammar.

A filter is a conjunction ``clause [AND clause]*`` (``AND`` in any case);
a clause is ``<entity>.<key> <op> <value>``. An order_by item is
``<entity>.<key> [ASC|DESC]``. What each kind of record (runs,
experiments, logged models, registered models, model versions) accepts is
one :class:`_Rules` value in ``_RULES``, so the five dialects cannot drift
apart in their shared parts.

Parsing is two small steps: a regex tokenizer that knows nothing of the
grammar, and a hand-written recursive-descent parser that checks keys,
operators and literal types against the kind's rules. Everything a caller
can get wrong is reported as :class:`~moorline.errors.InvalidArgument`
naming the offending token, where it is, and what was expected.

>>> for clause in parse_filter("metrics.acc > 0.9 and tags.`mlflow.user` = 'ada'", kind="run"):
...     print(clause)
Clause(entity='metric', key='acc', op='>', value=0.9)
Clause(entity='tag', key='mlflow.user', op='=', value='ada')
>>> for key in parse_order_by(["created DESC", "params.lr"], kind="run"):
...     print(key)
OrderKey(entity='attribute', key='start_time', ascending=False)
OrderKey(entity='param', key='lr', ascending=True)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, cast

from moorline.errors import InvalidArgument
from moorline.tracking.search import (
    DATASET_ATTRIBUTES,
    EXPERIMENT_NUMERIC_ATTRIBUTES,
    EXPERIMENT_STRING_ATTRIBUTES,
    LOGGED_MODEL_NUMERIC_ATTRIBUTES,
    LOGGED_MODEL_STRING_ATTRIBUTES,
    RUN_NUMERIC_ATTRIBUTES,
    RUN_ORDER_ATTRIBUTES,
    RUN_STRING_ATTRIBUTES,
    Clause,
    Entity,
    Op,
    OrderKey,
    Value,
)

Kind = Literal["run", "experiment", "logged_model", "registered_model", "model_version"]

REGISTERED_MODEL_STRING_ATTRIBUTES = ("name",)
REGISTERED_MODEL_ORDER_ATTRIBUTES = ("name", "creation_timestamp", "last_updated_timestamp")
MODEL_VERSION_STRING_ATTRIBUTES = ("name", "run_id", "source_path")
MODEL_VERSION_NUMERIC_ATTRIBUTES = ("version_number",)
MODEL_VERSION_ORDER_ATTRIBUTES = (
    "name",
    "version_number",
    "creation_timestamp",
    "last_updated_timestamp",
)

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_SHOWN_SOURCE_CHARS: Final = 200

_NUMERIC_OPS: Final[tuple[Op, ...]] = ("=", "!=", ">", ">=", "<", "<=")
_STRING_OPS: Final[tuple[Op, ...]] = ("=", "!=", "LIKE", "ILIKE")
_LIST_OPS: Final[tuple[Op, ...]] = ("IN", "NOT IN")
_NULL_OPS: Final[tuple[Op, ...]] = ("IS NULL", "IS NOT NULL")

# Every spelling of an entity prefix MLflow accepts, by canonical entity.
_PREFIXES: Final[Mapping[Entity, tuple[str, ...]]] = {
    "metric": ("metric", "metrics"),
    "param": ("param", "params", "parameter", "parameters"),
    "tag": ("tag", "tags"),
    "attribute": ("attribute", "attributes", "attr"),
    "dataset": ("dataset", "datasets"),
}
_ALL_PREFIXES: Final = frozenset(p for spellings in _PREFIXES.values() for p in spellings) | {"run"}

# Bare words that are grammar, never keys.
_KEYWORDS: Final = frozenset(
    {"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE", "ASC", "DESC"}
)


# --------------------------------------------------------------------------- rules per kind


@dataclass(frozen=True, slots=True, kw_only=True)
class _Rules:
    """What one kind of record accepts in filters and order_by."""

    label: str
    entities: frozenset[Entity]
    string_attrs: frozenset[str]
    numeric_attrs: frozenset[str] = frozenset()
    #: Numeric attributes whose literal must be an integer (``version_number``).
    integer_attrs: frozenset[str] = frozenset()
    #: String attributes that accept ``IN (...)`` and ``NOT IN (...)``.
    list_attrs: frozenset[str] = frozenset()
    #: Entities that accept ``IS NULL`` / ``IS NOT NULL``.
    null_entities: frozenset[Entity] = frozenset()
    #: Alternative attribute spellings (lower-cased) and their canonical key.
    aliases: Mapping[str, str] = field(default_factory=dict)
    order_entities: frozenset[Entity] = frozenset({"attribute"})
    order_attrs: frozenset[str] = frozenset()
    order_aliases: Mapping[str, str] = field(default_factory=dict)
    #: ``run.`` is an attribute prefix for runs only.
    run_prefix: bool = False

    def prefix_map(self) -> dict[str, Entity]:
        out: dict[str, Entity] = {}
        for entity in self.entities | self.order_entities:
            for spelling in _PREFIXES[entity]:
                out[spelling] = entity
        if self.run_prefix:
            out["run"] = "attribute"
        return out

    def prefix_help(self, entities: frozenset[Entity]) -> str:
        order = ("attribute", "metric", "param", "tag", "dataset")
        return ", ".join(
            f"{e}s.<key>" if e != "attribute" else "attributes.<key>"
            for e in order
            if e in entities
        )


_RUN_ALIASES: Final = {"created": "start_time", "run name": "run_name"}
_LOGGED_MODEL_ALIASES: Final = {
    "creation_timestamp_ms": "creation_timestamp",
    "creation_time": "creation_timestamp",
    "last_updated_timestamp_ms": "last_updated_timestamp",
    "last_updated_time": "last_updated_timestamp",
}

_RULES: Final[Mapping[Kind, _Rules]] = {
    "run": _Rules(
        label="runs",
        entities=frozenset({"metric", "param", "tag", "attribute", "dataset"}),
        string_attrs=frozenset(RUN_STRING_ATTRIBUTES),
        numeric_attrs=frozenset(RUN_NUMERIC_ATTRIBUTES),
        list_attrs=frozenset({"run_id"}),
        null_entities=frozenset({"param", "tag"}),
        aliases=_RUN_ALIASES,
        order_entities=frozenset({"metric", "param", "tag", "attribute"}),
        order_attrs=frozenset(RUN_ORDER_ATTRIBUTES),
        order_aliases=_RUN_ALIASES,
        run_prefix=True,
    ),
    "experiment": _Rules(
        label="experiments",
        entities=frozenset({"attribute", "tag"}),
        string_attrs=frozenset(EXPERIMENT_STRING_ATTRIBUTES),
        numeric_attrs=frozenset(EXPERIMENT_NUMERIC_ATTRIBUTES),
        list_attrs=frozenset({"experiment_id"}),
        null_entities=frozenset({"tag"}),
        order_attrs=frozenset(EXPERIMENT_STRING_ATTRIBUTES + EXPERIMENT_NUMERIC_ATTRIBUTES),
    ),
    "logged_model": _Rules(
        label="logged models",
        entities=frozenset({"metric", "param", "tag", "attribute"}),
        string_attrs=frozenset(LOGGED_MODEL_STRING_ATTRIBUTES),
        numeric_attrs=frozenset(LOGGED_MODEL_NUMERIC_ATTRIBUTES),
        list_attrs=frozenset(LOGGED_MODEL_STRING_ATTRIBUTES),
        aliases=_LOGGED_MODEL_ALIASES,
        order_entities=frozenset({"attribute", "metric"}),
        order_attrs=frozenset(LOGGED_MODEL_STRING_ATTRIBUTES + LOGGED_MODEL_NUMERIC_ATTRIBUTES),
        order_aliases=_LOGGED_MODEL_ALIASES,
    ),
    "registered_model": _Rules(
        label="registered models",
        entities=frozenset({"attribute", "tag"}),
        string_attrs=frozenset(REGISTERED_MODEL_STRING_ATTRIBUTES),
        list_attrs=frozenset({"name"}),
        order_attrs=frozenset(REGISTERED_MODEL_ORDER_ATTRIBUTES),
        # MLflow's SQL store sorts "timestamp" by the last update time.
        order_aliases={"timestamp": "last_updated_timestamp"},
    ),
    "model_version": _Rules(
        label="model versions",
        entities=frozenset({"attribute", "tag"}),
        string_attrs=frozenset(MODEL_VERSION_STRING_ATTRIBUTES),
        numeric_attrs=frozenset(MODEL_VERSION_NUMERIC_ATTRIBUTES),
        integer_attrs=frozenset(MODEL_VERSION_NUMERIC_ATTRIBUTES),
        list_attrs=frozenset({"name", "run_id"}),
        order_attrs=frozenset(MODEL_VERSION_ORDER_ATTRIBUTES),
    ),
}


def _rules_for(kind: Kind) -> _Rules:
    rules = _RULES.get(kind)
    if rules is None:  # a programming error in a caller, not bad user input
        raise ValueError(f"unknown search kind {kind!r}; expected one of {sorted(_RULES)}")
    return rules


# --------------------------------------------------------------------------- tokens

_TokenKind = Literal[
    "word", "sq", "dq", "backtick", "number", "op", "lparen", "rparen", "comma", "dot", "eof"
]

_TOKEN_RE: Final = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<sq>'(?:[^'\\]|\\.)*')
    | (?P<dq>"(?:[^"\\]|\\.)*")
    | (?P<backtick>`[^`]*`)
    | (?P<word>[^\W\d]\w*(?:\.\w+)*)
    | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<op>>=|<=|!=|<>|==|=|>|<)
    | (?P<lparen>\()
    | (?P<rparen>\))
    | (?P<comma>,)
    | (?P<dot>\.)
    """,
    re.VERBOSE | re.DOTALL,
)
_INTEGER_RE: Final = re.compile(r"[+-]?\d+")
_ESCAPE_RE: Final = re.compile(r"\\(.)", re.DOTALL)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Token:
    kind: _TokenKind
    #: The token as written.
    text: str
    #: Quoted tokens without their quotes and escapes; otherwise ``text``.
    value: str
    start: int
    end: int

    @property
    def keyword(self) -> str | None:
        """The upper-cased word if this token is a grammar keyword."""
        if self.kind == "word" and self.text.upper() in _KEYWORDS:
            return self.text.upper()
        return None

    def describe(self) -> str:
        return "end of input" if self.kind == "eof" else repr(self.text)


def _unescape(body: str) -> str:
    """Undo ``\\'``, ``\\"`` and ``\\\\``; other backslashes are kept for LIKE patterns."""
    return _ESCAPE_RE.sub(lambda m: m.group(1) if m.group(1) in "'\"\\" else m.group(0), body)


class _Source:
    """The text being parsed and what it is, for error messages."""

    __slots__ = ("text", "what")

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.what = what

    def error(self, pos: int, message: str) -> InvalidArgument:
        shown = self.text
        if len(shown) > _SHOWN_SOURCE_CHARS:
            shown = shown[:_SHOWN_SOURCE_CHARS] + "..."
        return InvalidArgument(f"Invalid {self.what} {shown!r}: {message} (at position {pos})")


def _tokenize(src: _Source) -> list[_Token]:
    text = src.text
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            ch = text[pos]
            if ch in "'\"`":
                raise src.error(pos, f"unterminated quoted text starting with {ch}")
            raise src.error(pos, f"unexpected character {ch!r}")
        kind = m.lastgroup
        raw = m.group()
        if kind != "ws":
            assert kind is not None
            value = raw
            if kind in ("sq", "dq"):
                value = _unescape(raw[1:-1])
            elif kind == "backtick":
                value = raw[1:-1]
            token_kind = cast(_TokenKind, kind)
            tokens.append(_Token(kind=token_kind, text=raw, value=value, start=pos, end=m.end()))
        pos = m.end()
    tokens.append(_Token(kind="eof", text="", value="", start=len(text), end=len(text)))
    return tokens


# --------------------------------------------------------------------------- parser

_KEY_TOKENS: Final = ("word", "backtick", "dq")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Path:
    """``<entity>.<key>`` as written: its segments, and where it stands."""

    segments: tuple[str, ...]
    start: int
    end: int


class _Parser:
    __slots__ = ("i", "rules", "src", "tokens")

    def __init__(self, src: _Source, rules: _Rules) -> None:
        self.src = src
        self.rules = rules
        self.tokens = _tokenize(src)
        self.i = 0

    # -- token stream

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def written(self, start: int, end: int) -> str:
        return self.src.text[start:end]

    # -- keys

    def path(self, expected: str) -> _Path:
        """Read ``seg(.seg)*`` where a segment is bare, `backticked` or "double-quoted"."""
        first = self.peek()
        if first.kind not in _KEY_TOKENS or first.keyword is not None:
            if first.kind == "lparen":
                raise self.src.error(
                    first.start, "parentheses are not supported (only around an IN list)"
                )
            raise self.src.error(first.start, f"expected {expected}, got {first.describe()}")
        segments: list[str] = []
        while True:
            tok = self.take()
            if tok.kind == "word":
                segments.extend(tok.value.split("."))
            else:
                segments.append(tok.value)
            dot = self.peek()
            if dot.kind != "dot" or dot.start != tok.end:
                break
            self.take()
            nxt = self.peek()
            # After a dot MLflow also takes a 'single-quoted' key (params.'my param').
            if nxt.kind not in (*_KEY_TOKENS, "sq") or nxt.start != dot.end:
                hint = ""
                if nxt.kind in (*_KEY_TOKENS, "sq"):
                    hint = " (no spaces are allowed around the '.' in a key)"
                raise self.src.error(
                    dot.end,
                    f"expected a key right after {self.written(first.start, dot.end)!r}, "
                    f"got {nxt.describe()}{hint}",
                )
        return _Path(segments=tuple(segments), start=first.start, end=self.tokens[self.i - 1].end)

    def resolve(
        self,
        path: _Path,
        *,
        entities: frozenset[Entity],
        attrs: frozenset[str],
        aliases: Mapping[str, str],
        purpose: str,
    ) -> tuple[Entity, str]:
        """Turn a written path into a canonical ``(entity, key)`` for this kind."""
        rules = self.rules
        written = self.written(path.start, path.end)
        entity: Entity
        if len(path.segments) == 1:
            entity, key = "attribute", path.segments[0]
        else:
            prefix = path.segments[0]
            key = ".".join(path.segments[1:])
            prefixes = {p: e for p, e in rules.prefix_map().items() if e in entities}
            found = prefixes.get(prefix)
            if found is None:
                allowed = rules.prefix_help(entities)
                if prefix in _ALL_PREFIXES:
                    raise self.src.error(
                        path.start,
                        f"{prefix!r} keys cannot be used to {purpose} {rules.label}; "
                        f"expected one of {allowed}",
                    )
                raise self.src.error(
                    path.start,
                    f"unknown entity prefix {prefix!r} in {written!r}; expected one of {allowed}"
                    " (quote keys that contain special characters with backticks)",
                )
            entity = found
        if key == "":
            raise self.src.error(path.start, f"empty key in {written!r}")
        if entity == "attribute":
            key = aliases.get(key.lower(), key)
            if key not in attrs:
                raise self.src.error(
                    path.start,
                    f"unknown attribute {key!r} for {rules.label}; expected one of "
                    f"{', '.join(sorted(attrs))}",
                )
        elif entity == "dataset" and key not in DATASET_ATTRIBUTES:
            raise self.src.error(
                path.start,
                f"unknown dataset key {key!r}; expected one of {', '.join(DATASET_ATTRIBUTES)}",
            )
        return entity, key

    # -- filter

    def filter(self) -> tuple[Clause, ...]:
        clauses: list[Clause] = []
        if self.peek().kind == "eof":
            return ()
        while True:
            clauses.append(self.clause())
            tok = self.take()
            if tok.kind == "eof":
                return tuple(clauses)
            if tok.keyword == "AND":
                if self.peek().kind == "eof":
                    raise self.src.error(tok.end, "expected a clause after AND, got end of input")
                continue
            if tok.keyword == "OR":
                raise self.src.error(
                    tok.start, "OR is not supported; a filter is clauses joined by AND only"
                )
            if tok.kind in ("lparen", "rparen"):
                raise self.src.error(
                    tok.start, "parentheses are not supported (only around an IN list)"
                )
            raise self.src.error(
                tok.start, f"expected AND or end of input after a clause, got {tok.describe()}"
            )

    def clause(self) -> Clause:
        rules = self.rules
        path = self.path("a key such as metrics.<name>, params.<name>, tags.<name> or an attribute")
        entity, key = self.resolve(
            path,
            entities=rules.entities,
            attrs=rules.string_attrs | rules.numeric_attrs,
            aliases=rules.aliases,
            purpose="filter",
        )
        written = self.written(path.start, path.end)
        op_tok = self.peek()
        op = self.operator(written)
        allowed = self.allowed_ops(entity, key)
        if op not in allowed:
            raise self.src.error(
                op_tok.start,
                f"operator {op!r} is not allowed for {written!r}; expected one of "
                f"{', '.join(allowed)}",
            )
        if op in _NULL_OPS:
            return Clause(entity=entity, key=key, op=op, value=None)
        value: Value
        if op in _LIST_OPS:
            value = self.string_list(written)
        elif entity == "metric":
            value = self.number(written, mode="float")
        elif entity == "attribute" and key in rules.numeric_attrs:
            value = self.number(written, mode="integer" if key in rules.integer_attrs else "exact")
        else:
            value = self.string(written)
        return Clause(entity=entity, key=key, op=op, value=value)

    def allowed_ops(self, entity: Entity, key: str) -> tuple[Op, ...]:
        rules = self.rules
        if entity == "metric":
            return _NUMERIC_OPS
        if entity in ("param", "tag"):
            return _STRING_OPS + (_NULL_OPS if entity in rules.null_entities else ())
        if entity == "dataset":
            return _STRING_OPS + _LIST_OPS
        if key in rules.numeric_attrs:
            return _NUMERIC_OPS
        return _STRING_OPS + (_LIST_OPS if key in rules.list_attrs else ())

    def operator(self, written: str) -> Op:
        tok = self.take()
        if tok.kind == "op":
            if tok.text == "==":
                raise self.src.error(tok.start, "operator '==' is not supported; use '='")
            if tok.text == "<>":
                raise self.src.error(tok.start, "operator '<>' is not supported; use '!='")
            return tok.text  # type: ignore[return-value]
        word = tok.keyword
        if word in ("LIKE", "ILIKE", "IN"):
            return word  # type: ignore[return-value]
        if word == "NOT":
            nxt = self.take()
            if nxt.keyword == "IN":
                return "NOT IN"
            raise self.src.error(nxt.start, f"expected IN after NOT, got {nxt.describe()}")
        if word == "IS":
            nxt = self.take()
            if nxt.keyword == "NULL":
                return "IS NULL"
            if nxt.keyword == "NOT":
                last = self.take()
                if last.keyword == "NULL":
                    return "IS NOT NULL"
                raise self.src.error(
                    last.start, f"expected NULL after IS NOT, got {last.describe()}"
                )
            raise self.src.error(
                nxt.start, f"expected NULL or NOT NULL after IS, got {nxt.describe()}"
            )
        raise self.src.error(
            tok.start,
            f"expected a comparison operator after {written!r} "
            "(=, !=, >, >=, <, <=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL), "
            f"got {tok.describe()}",
        )

    def number(self, written: str, *, mode: Literal["float", "exact", "integer"]) -> float:
        """Read a numeric literal: always a float (metrics), int-if-integral, or int only."""
        tok = self.take()
        if tok.kind == "number":
            if mode == "float":
                return float(tok.text)
            if _INTEGER_RE.fullmatch(tok.text):
                return self.int64(tok, tok.text)
            if mode == "integer":
                raise self.src.error(
                    tok.start, f"expected an integer for {written!r}, got {tok.text}"
                )
            return float(tok.text)
        what = "an integer" if mode == "integer" else "a number"
        if mode == "integer" and tok.kind in ("sq", "dq") and _INTEGER_RE.fullmatch(tok.value):
            # MLflow's stores take version_number = '3' as well as = 3.
            return self.int64(tok, tok.value)
        if tok.kind in ("sq", "dq"):
            raise self.src.error(
                tok.start,
                f"expected {what} for {written!r}, got the quoted string {tok.text} "
                "(numbers are written without quotes)",
            )
        raise self.src.error(tok.start, f"expected {what} for {written!r}, got {tok.describe()}")

    def int64(self, tok: _Token, digits: str) -> int:
        # Integers stay ints so that timestamps beyond 2**53 compare exactly.
        value = int(digits)
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise self.src.error(tok.start, f"number {digits} is outside the 64-bit integer range")
        return value

    def string(self, written: str) -> str:
        tok = self.take()
        if tok.kind in ("sq", "dq"):
            return tok.value
        if tok.kind == "lparen":
            raise self.src.error(
                tok.start, f"a list of values needs IN or NOT IN, which {written!r} does not accept"
            )
        hint = " (quote it: 'value')" if tok.kind in ("word", "number") else ""
        raise self.src.error(
            tok.start, f"expected a quoted string for {written!r}, got {tok.describe()}{hint}"
        )

    def string_list(self, written: str) -> tuple[str, ...]:
        open_tok = self.take()
        if open_tok.kind != "lparen":
            raise self.src.error(
                open_tok.start,
                f"expected a parenthesised list of quoted strings for {written!r}, "
                f"got {open_tok.describe()}",
            )
        items: list[str] = []
        while True:
            tok = self.take()
            if tok.kind == "rparen":
                if not items:
                    raise self.src.error(tok.start, "an IN list must not be empty")
                return tuple(items)
            if tok.kind not in ("sq", "dq"):
                raise self.src.error(
                    tok.start, f"expected a quoted string in the IN list, got {tok.describe()}"
                )
            items.append(tok.value)
            sep = self.take()
            if sep.kind == "rparen":
                return tuple(items)
            if sep.kind != "comma":
                raise self.src.error(
                    sep.start, f"expected ',' or ')' in the IN list, got {sep.describe()}"
                )

    # -- order_by

    def order_item(self) -> OrderKey:
        rules = self.rules
        path = self.path("a key such as metrics.<name> or an attribute")
        entity, key = self.resolve(
            path,
            entities=rules.order_entities,
            attrs=rules.order_attrs,
            aliases=rules.order_aliases,
            purpose="order",
        )
        ascending = True
        tok = self.take()
        if tok.keyword in ("ASC", "DESC"):
            ascending = tok.keyword == "ASC"
            tok = self.take()
        if tok.kind != "eof":
            if tok.kind == "word" and tok.text.upper() == "NULLS":
                raise self.src.error(
                    tok.start,
                    "NULLS FIRST / NULLS LAST is not supported; "
                    "records without the key always sort last",
                )
            raise self.src.error(
                tok.start, f"expected ASC, DESC or end of input, got {tok.describe()}"
            )
        return OrderKey(entity=entity, key=key, ascending=ascending)


# --------------------------------------------------------------------------- entry points


def parse_filter(text: str | None, *, kind: Kind) -> tuple[Clause, ...]:
    """Parse a search filter for ``kind`` into canonical clauses.

    ``None``, empty or blank text gives no clauses. Keys come back
    canonical: entity names are singular (``metric``, ``param``, ``tag``,
    ``attribute``, ``dataset``) and attribute aliases are resolved
    (``created`` is ``start_time``, ``"run name"`` is ``run_name``,
    ``creation_timestamp_ms`` is ``creation_timestamp``). Metric values are
    floats; integer literals for numeric attributes stay ints so large
    timestamps are exact; ``IN`` lists are tuples of strings.

    >>> text = "run_id IN ('a', 'b') AND attributes.created >= 1700000000000"
    >>> for clause in parse_filter(text, kind="run"):
    ...     print(clause)
    Clause(entity='attribute', key='run_id', op='IN', value=('a', 'b'))
    Clause(entity='attribute', key='start_time', op='>=', value=1700000000000)
    """
    rules = _rules_for(kind)
    if text is None:
        return ()
    if not isinstance(text, str):
        raise InvalidArgument(f"A filter must be a string, got {type(text).__name__}")
    return _Parser(_Source(text, "filter"), rules).filter()


def parse_order_by(items: Iterable[str] | None, *, kind: Kind) -> tuple[OrderKey, ...]:
    """Parse ``order_by`` items (``<entity>.<key> [ASC|DESC]``) for ``kind``.

    The direction defaults to ascending. Two items naming the same key
    (after aliases are resolved) are refused, as is anything after the
    direction, ``NULLS LAST`` included.

    >>> parse_order_by(["metrics.`val loss` DESC"], kind="run")
    (OrderKey(entity='metric', key='val loss', ascending=False),)
    """
    rules = _rules_for(kind)
    if items is None:
        return ()
    if isinstance(items, str):
        raise InvalidArgument("order_by must be a list of strings, not a single string")
    keys: list[OrderKey] = []
    seen: dict[tuple[Entity, str], str] = {}
    for item in items:
        if not isinstance(item, str):
            raise InvalidArgument(
                f"Each order_by item must be a string, got {type(item).__name__}: {item!r}"
            )
        src = _Source(item, "order_by item")
        if not item.strip():
            raise src.error(0, "expected a key such as metrics.<name> or an attribute, got nothing")
        parser = _Parser(src, rules)
        key = parser.order_item()
        ident = (key.entity, key.key)
        if ident in seen:
            raise InvalidArgument(
                f"Invalid order_by: {item!r} orders by the same key as {seen[ident]!r} "
                f"({key.entity} {key.key!r}); each key may appear once"
            )
        seen[ident] = item
        keys.append(key)
    return tuple(keys)
