"""Registry use cases: registered models, versions, aliases and stages.

Every change carries its audit entry and events into the store, which
writes all three in one transaction. Moves of protected aliases go through
an :class:`AliasGuard` (the governance service), which may refuse them; a
refused attempt is itself audited.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from moorline.core.clock import now_ms
from moorline.core.paging import Page, check_max_results
from moorline.errors import InvalidArgument, MoorlineError, NotFound
from moorline.registry.models import (
    ApprovalId,
    AuditDraft,
    EventDraft,
    ModelName,
    ModelVersion,
    RegisteredModel,
    Stage,
)
from moorline.registry.ports import AliasInfo, AuditStore, Change, RegistryStore
from moorline.tracking import validation as v
from moorline.tracking._grammar import parse_filter, parse_order_by

T = TypeVar("T")

SEARCH_MODELS_DEFAULT = 100
SEARCH_MODELS_LIMIT = 1000
SEARCH_VERSIONS_DEFAULT = 10_000
SEARCH_VERSIONS_LIMIT = 200_000

_ALIAS_RE = re.compile(r"^[A-Za-z0-9_\-]{1,255}$")
_VERSION_ALIAS_RE = re.compile(r"^[vV]\d+$")
_MODEL_URI_RE = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<ref>[^/@]+)|@(?P<alias>[^/@]+))/?$")
MAX_NAME = 256
MAX_DESCRIPTION = 50_000


class AliasGuard(Protocol):
    """Decides whether an alias move may happen (implemented by governance)."""

    def check_alias_move(
        self, *, name: ModelName, alias: str, version: int, actor: str, reason: str
    ) -> ApprovalId | None:
        """Raise PermissionDenied (or Conflict) to refuse; return the approval
        that authorises the move, if one was needed, so it can be consumed."""

    def consume(self, approval_id: ApprovalId, *, actor: str) -> None:
        """Mark an approval as used by the move it authorised; Conflict if it
        was used already (so one approval can never authorise two moves)."""

    def check_alias_delete(self, *, name: ModelName, alias: str, actor: str, reason: str) -> None:
        """Raise to refuse deleting ``alias``."""

    def check_stage_transition(
        self, *, name: ModelName, version: int, stage: str, actor: str, reason: str
    ) -> None:
        """Raise to refuse a (deprecated) stage transition."""


def validate_model_name(name: object) -> ModelName:
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument("Registered model name must be a non-empty string")
    if len(name) > MAX_NAME:
        raise InvalidArgument(f"Registered model name is longer than {MAX_NAME} characters")
    if "/" in name or "@" in name or ":" in name:
        raise InvalidArgument(
            f"Registered model name {name!r} may not contain '/', '@' or ':' "
            "(they separate parts of models:/ URIs)"
        )
    return ModelName(name)


def validate_alias(alias: object) -> str:
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias):
        raise InvalidArgument(f"Invalid alias {alias!r}: use 1-255 letters, digits, '_' or '-'")
    if alias.lower() == "latest" or _VERSION_ALIAS_RE.match(alias):
        raise InvalidArgument(
            f"Alias {alias!r} is reserved ('latest' and 'v<number>' name versions, not aliases)"
        )
    return alias


def parse_version(version: object) -> int:
    if isinstance(version, int) and not isinstance(version, bool):
        number = version
    elif isinstance(version, str) and version.strip().isascii() and version.strip().isdigit():
        number = int(version.strip())
    else:
        raise InvalidArgument(f"Model version must be a positive integer, got {version!r}")
    if number < 1 or number > 2**62:
        raise InvalidArgument(f"Model version must be a positive integer, got {version!r}")
    return number


def _description(text: object) -> str:
    if text is None:
        return ""
    if not isinstance(text, str):
        raise InvalidArgument("description must be a string")
    if len(text) > MAX_DESCRIPTION:
        raise InvalidArgument(f"description is longer than {MAX_DESCRIPTION} characters")
    return text


def _tags(tags: dict[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (tags or {}).items():
        v.validate_tag_key(key)
        out[key] = v.validate_tag_value(value if isinstance(value, str) else str(value))
    return out


class RegistryService:
    def __init__(
        self, store: RegistryStore, audit: AuditStore, *, guard: AliasGuard | None = None
    ) -> None:
        self._store = store
        self._audit = audit
        self._guard = guard

    @property
    def store(self) -> RegistryStore:
        return self._store

    def set_guard(self, guard: AliasGuard) -> None:
        self._guard = guard

    # -- registered models ---------------------------------------------------

    def create_registered_model(
        self,
        name: str,
        *,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        actor: str = "",
    ) -> RegisteredModel:
        model = validate_model_name(name)
        desc = _description(description)
        clean = _tags(tags)
        change = _change(
            actor,
            "registered_model.create",
            f"models:/{model}",
            {"description": desc, "tags": clean},
            event="registered_model.created",
        )
        return self._store.create_registered_model(
            name=model, description=desc, tags=clean, user_id=actor, now=now_ms(), change=change
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self._store.get_registered_model(validate_model_name(name))

    def rename_registered_model(
        self, name: str, new_name: str, *, actor: str = ""
    ) -> RegisteredModel:
        old, new = validate_model_name(name), validate_model_name(new_name)
        change = _change(
            actor,
            "registered_model.rename",
            f"models:/{old}",
            {"new_name": new},
            event="registered_model.renamed",
        )
        return self._store.rename_registered_model(old, new, now=now_ms(), change=change)

    def update_registered_model(
        self, name: str, *, description: str | None, actor: str = ""
    ) -> RegisteredModel:
        model = validate_model_name(name)
        desc = _description(description)
        change = _change(
            actor, "registered_model.update", f"models:/{model}", {"description": desc}
        )
        return self._store.update_registered_model(
            model, description=desc, now=now_ms(), change=change
        )

    def delete_registered_model(self, name: str, *, actor: str = "", reason: str = "") -> None:
        model = validate_model_name(name)
        change = _change(
            actor,
            "registered_model.delete",
            f"models:/{model}",
            {},
            reason=reason,
            event="registered_model.deleted",
        )
        self._store.delete_registered_model(model, change=change)

    def search_registered_models(
        self,
        *,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> Page[RegisteredModel]:
        return self._store.search_registered_models(
            filter_clauses=parse_filter(filter_string, kind="registered_model"),
            order_by=parse_order_by(list(order_by or []), kind="registered_model"),
            max_results=check_max_results(
                max_results, default=SEARCH_MODELS_DEFAULT, limit=SEARCH_MODELS_LIMIT
            ),
            page_token=page_token,
        )

    def set_registered_model_tag(self, name: str, key: str, value: str, *, actor: str = "") -> None:
        model = validate_model_name(name)
        v.validate_tag_key(key)
        v.validate_tag_value(value)
        change = _change(
            actor, "registered_model.set_tag", f"models:/{model}", {"key": key, "value": value}
        )
        self._store.set_registered_model_tag(model, key, value, now=now_ms(), change=change)

    def delete_registered_model_tag(self, name: str, key: str, *, actor: str = "") -> None:
        model = validate_model_name(name)
        v.validate_tag_key(key)
        change = _change(actor, "registered_model.delete_tag", f"models:/{model}", {"key": key})
        self._store.delete_registered_model_tag(model, key, now=now_ms(), change=change)

    # -- versions ------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        *,
        run_id: str | None = None,
        run_link: str | None = None,
        model_id: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        actor: str = "",
    ) -> ModelVersion:
        model = validate_model_name(name)
        if not isinstance(source, str) or not source:
            raise InvalidArgument("A model version needs a source URI (where its files are)")
        if len(source) > 4000:
            raise InvalidArgument("source is longer than 4000 characters")
        desc = _description(description)
        clean = _tags(tags)
        change = _change(
            actor,
            "model_version.create",
            f"models:/{model}/{{version}}",
            {"source": source, "run_id": run_id, "model_id": model_id},
            event="model_version.created",
        )
        return self._store.create_model_version(
            name=model,
            source=source,
            run_id=run_id or None,
            run_link=run_link or None,
            model_id=model_id or None,
            description=desc,
            tags=clean,
            user_id=actor,
            now=now_ms(),
            change=change,
        )

    def get_model_version(self, name: str, version: object) -> ModelVersion:
        return self._store.get_model_version(validate_model_name(name), parse_version(version))

    def update_model_version(
        self, name: str, version: object, *, description: str | None, actor: str = ""
    ) -> ModelVersion:
        model, number = validate_model_name(name), parse_version(version)
        desc = _description(description)
        change = _change(
            actor, "model_version.update", f"models:/{model}/{number}", {"description": desc}
        )
        return self._store.update_model_version(
            model, number, description=desc, now=now_ms(), change=change
        )

    def transition_stage(
        self,
        name: str,
        version: object,
        stage: str,
        *,
        archive_existing_versions: bool = False,
        actor: str = "",
        reason: str = "",
    ) -> ModelVersion:
        model, number = validate_model_name(name), parse_version(version)
        by_lower = {s.value.lower(): s for s in Stage}
        target = by_lower.get(str(stage).strip().lower())
        if target is None:
            names = ", ".join(s.value for s in Stage)
            raise InvalidArgument(f"Invalid stage {stage!r}; expected one of {names}")
        if self._guard is not None:
            guard = self._guard
            self._guarded(
                lambda: guard.check_stage_transition(
                    name=model, version=number, stage=target.value, actor=actor, reason=reason
                ),
                actor=actor,
                action="model_version.transition_stage.refused",
                target=f"models:/{model}/{number}",
                details={"stage": target.value},
                reason=reason,
            )
        change = _change(
            actor,
            "model_version.transition_stage",
            f"models:/{model}/{number}",
            {"stage": target.value, "archive_existing_versions": archive_existing_versions},
            reason=reason,
            event="model_version.stage_transitioned",
        )
        return self._store.transition_stage(
            model,
            number,
            stage=target,
            archive_existing=archive_existing_versions,
            now=now_ms(),
            change=change,
        )

    def delete_model_version(
        self, name: str, version: object, *, actor: str = "", reason: str = ""
    ) -> None:
        model, number = validate_model_name(name), parse_version(version)
        change = _change(
            actor,
            "model_version.delete",
            f"models:/{model}/{number}",
            {},
            reason=reason,
            event="model_version.deleted",
        )
        self._store.delete_model_version(model, number, change=change)

    def search_model_versions(
        self,
        *,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        return self._store.search_model_versions(
            filter_clauses=parse_filter(filter_string, kind="model_version"),
            order_by=parse_order_by(list(order_by or []), kind="model_version"),
            max_results=check_max_results(
                max_results, default=SEARCH_VERSIONS_DEFAULT, limit=SEARCH_VERSIONS_LIMIT
            ),
            page_token=page_token,
        )

    def set_model_version_tag(
        self, name: str, version: object, key: str, value: str, *, actor: str = ""
    ) -> None:
        model, number = validate_model_name(name), parse_version(version)
        v.validate_tag_key(key)
        v.validate_tag_value(value)
        change = _change(
            actor,
            "model_version.set_tag",
            f"models:/{model}/{number}",
            {"key": key, "value": value},
        )
        self._store.set_model_version_tag(model, number, key, value, now=now_ms(), change=change)

    def delete_model_version_tag(
        self, name: str, version: object, key: str, *, actor: str = ""
    ) -> None:
        model, number = validate_model_name(name), parse_version(version)
        v.validate_tag_key(key)
        change = _change(
            actor, "model_version.delete_tag", f"models:/{model}/{number}", {"key": key}
        )
        self._store.delete_model_version_tag(model, number, key, now=now_ms(), change=change)

    # -- aliases -------------------------------------------------------------

    def set_alias(
        self, name: str, alias: str, version: object, *, actor: str = "", reason: str = ""
    ) -> None:
        """Point ``alias`` at ``version``. Protected aliases are checked by the guard;
        a refusal is audited and re-raised."""
        model, number = validate_model_name(name), parse_version(version)
        validate_alias(alias)
        approval: ApprovalId | None = None
        target = f"models:/{model}@{alias}"
        if self._guard is not None:
            guard = self._guard
            approval = self._guarded(
                lambda: guard.check_alias_move(
                    name=model, alias=alias, version=number, actor=actor, reason=reason
                ),
                actor=actor,
                action="alias.set.refused",
                target=target,
                details={"version": number},
                reason=reason,
            )
            if approval is not None:
                # Used up before the move: two concurrent moves cannot share it.
                approved = approval
                self._guarded(
                    lambda: guard.consume(approved, actor=actor),
                    actor=actor,
                    action="alias.set.refused",
                    target=target,
                    details={"version": number, "approval_id": approved},
                    reason=reason,
                )
        previous = self._current_alias_version(model, alias)
        change = _change(
            actor,
            "alias.set",
            target,
            {"version": number, "previous_version": previous, "approval_id": approval},
            reason=reason,
            event="model_version.alias_set",
        )
        self._store.set_alias(model, alias, number, actor=actor, now=now_ms(), change=change)

    def _guarded(
        self,
        check: Callable[[], T],
        *,
        actor: str,
        action: str,
        target: str,
        details: dict[str, Any],
        reason: str,
    ) -> T:
        """Run a governance check; audit and re-raise a refusal."""
        try:
            return check()
        except MoorlineError as exc:
            self._audit.append_audit(
                AuditDraft(
                    actor=actor,
                    action=action,
                    target=target,
                    details={**details, "error_code": exc.code.value, "error": exc.message},
                    reason=reason,
                ),
                now=now_ms(),
            )
            raise

    def delete_alias(self, name: str, alias: str, *, actor: str = "", reason: str = "") -> None:
        model = validate_model_name(name)
        validate_alias(alias)
        if self._guard is not None:
            guard = self._guard
            self._guarded(
                lambda: guard.check_alias_delete(
                    name=model, alias=alias, actor=actor, reason=reason
                ),
                actor=actor,
                action="alias.delete.refused",
                target=f"models:/{model}@{alias}",
                details={},
                reason=reason,
            )
        change = _change(
            actor,
            "alias.delete",
            f"models:/{model}@{alias}",
            {},
            reason=reason,
            event="model_version.alias_deleted",
        )
        self._store.delete_alias(model, alias, change=change)

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self._store.get_version_by_alias(validate_model_name(name), validate_alias(alias))

    def list_aliases(self, name: str) -> list[AliasInfo]:
        return self._store.list_aliases(validate_model_name(name))

    def resolve(self, uri: str) -> ModelVersion:
        """The version a ``models:/`` URI names: ``models:/name/3``, ``models:/name@alias``,
        ``models:/name/latest`` or ``models:/name/<Stage>``.

        >>> _MODEL_URI_RE.match("models:/churn@champion").group("alias")
        'champion'
        """
        match = _MODEL_URI_RE.match(uri or "")
        if match is None:
            raise InvalidArgument(
                f"Invalid model URI {uri!r}: expected models:/<name>/<version>, "
                "models:/<name>@<alias> or models:/<name>/latest"
            )
        name = validate_model_name(match.group("name"))
        if match.group("alias"):
            return self._store.get_version_by_alias(name, match.group("alias"))
        ref = match.group("ref")
        if ref.isdigit():
            return self._store.get_model_version(name, int(ref))
        if ref.lower() == "latest":
            page = self._store.search_model_versions(
                filter_clauses=parse_filter(f"name = '{_quote(name)}'", kind="model_version"),
                order_by=parse_order_by(["version_number DESC"], kind="model_version"),
                max_results=1,
                page_token=None,
            )
            if not page.items:
                raise NotFound(f"Registered model {name!r} has no versions")
            return page.items[0]
        stages = {s.value.lower(): s for s in Stage}
        stage = stages.get(ref.lower())
        if stage is None:
            raise InvalidArgument(
                f"Invalid model URI {uri!r}: {ref!r} is not a version, 'latest' or a stage"
            )
        model = self._store.get_registered_model(name)
        for mv in model.latest_versions:
            if mv.current_stage == stage:
                return mv
        raise NotFound(f"Registered model {name!r} has no version in stage {stage.value}")

    def _current_alias_version(self, model: ModelName, alias: str) -> int | None:
        try:
            return self._store.get_version_by_alias(model, alias).version
        except NotFound:
            return None


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _change(
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any],
    *,
    reason: str = "",
    event: str | None = None,
) -> Change:
    events: tuple[EventDraft, ...] = ()
    if event is not None:
        events = (
            EventDraft(event_type=event, payload={"target": target, "actor": actor, **details}),
        )
    return Change(
        audit=AuditDraft(actor=actor, action=action, target=target, details=details, reason=reason),
        events=events,
    )
