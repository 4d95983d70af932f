"""Suggest, then confirm: the HTTP side of suggested actions, and their snapshot for the reports.

A policy rule with ``mode: suggest`` (:mod:`serving.policy`) makes ``/predict`` return its actions
as ``suggested``; the ledger keeps them pending until they expire (:mod:`serving.ledger`).
People who approve costly actions then:

- list pending suggestions: ``GET /suggestions`` (filters: ``status``, ``action``, ``tier``,
  ``min_age_minutes``, ``max_age_minutes``, ``limit``), oldest first;
- confirm or reject one or many: ``POST /suggestions/confirm`` / ``POST /suggestions/reject``
  with ``{"suggestion_ids": [...], "reason": "..."}``. All or nothing: an unknown id is a 404, an
  expired one a 410, an already decided one a 409, each named in ``fields``, and then nothing is
  decided. The caller's API key name is recorded as the decider. A confirmed suggestion fires
  exactly once: the answer says ``fired`` and carries the action's parameters to act on.

:func:`write_snapshot` writes every suggestion of the last days to ``settings.suggestions_path``
(schema: :func:`orderlens.records.suggestions_schema`) for the order-health page.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from orderlens.records import SuggestionStatus, suggestions_schema
from serving.ledger import ActionLedger, Decided, Decision, Suggestion, SuggestionError
from serving.schemas import ErrorBody, ErrorDetail, FieldProblem, RequestError

MAX_IDS = 500
"""Suggestions one decision may name."""

SuggestionId = Annotated[str, Field(min_length=4, max_length=43, pattern=r"^sg_[0-9a-f]{1,40}$")]


class DecisionRequest(BaseModel):
    """``{"suggestion_ids": [...], "reason": "..."}``: confirm or reject these suggestions."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    suggestion_ids: list[SuggestionId] = Field(
        min_length=1, max_length=MAX_IDS, description="the suggestions to decide, all or none"
    )
    reason: str = Field(
        "",
        max_length=500,
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="why, in a sentence (kept with the decision)",
    )


class SuggestionOut(BaseModel):
    """A suggested action and what became of it."""

    suggestion_id: str
    order_id: str
    action: str
    rule: str
    params: dict[str, str | float | int | bool] = Field(description="the action's parameters")
    reason: str = Field(description="why the policy suggested it")
    tier: str | None = Field(description="the order's value tier when it was suggested")
    status: SuggestionStatus
    created_at: AwareDatetime
    expires_at: AwareDatetime = Field(description="after this it can no longer be confirmed")
    decided_at: AwareDatetime | None = None
    decided_by: str | None = Field(None, description="the name of the deciding API key")
    decision_reason: str | None = None


class SuggestionList(BaseModel):
    suggestions: list[SuggestionOut]


class DecidedOut(BaseModel):
    suggestion: SuggestionOut
    fired: bool = Field(description="the confirmation fired the action now: act on its params")


class DecisionResponse(BaseModel):
    decided: list[DecidedOut]


def suggestion_out(s: Suggestion) -> SuggestionOut:
    return SuggestionOut(
        suggestion_id=s.suggestion_id,
        order_id=s.order_id,
        action=s.action,
        rule=s.rule,
        params=s.params,
        reason=s.reason,
        tier=s.tier,
        status=s.status,
        created_at=_time(s.created_at),
        expires_at=_time(s.expires_at),
        decided_at=_time(s.decided_at) if s.decided_at is not None else None,
        decided_by=s.decided_by,
        decision_reason=s.decision_reason,
    )


def list_suggestions(
    ledger: ActionLedger,
    now: datetime,
    *,
    status: SuggestionStatus | Literal["any"] = "pending",
    action: str | None = None,
    tier: str | None = None,
    min_age_minutes: float | None = None,
    max_age_minutes: float | None = None,
    limit: int = 100,
) -> SuggestionList:
    """The suggestions matching the filters, oldest first."""
    found = ledger.suggestions(
        now,
        status=None if status == "any" else status,
        action=action,
        tier=tier,
        min_age_s=None if min_age_minutes is None else min_age_minutes * 60,
        max_age_s=None if max_age_minutes is None else max_age_minutes * 60,
        limit=limit,
    )
    return SuggestionList(suggestions=[suggestion_out(s) for s in found])


_STATUS_OF: dict[str, tuple[int, str, str]] = {
    "unknown": (404, "unknown_suggestion", "no such suggestion"),
    "expired": (410, "suggestion_expired", "expired: it can no longer be confirmed or rejected"),
    "already_decided": (409, "already_decided", "already decided"),
}


def decide(
    ledger: ActionLedger,
    request: DecisionRequest,
    decision: Decision,
    *,
    decider: str,
    now: datetime,
) -> DecisionResponse:
    """Apply a decision, all or nothing.

    Raises:
        RequestError: 404 / 410 / 409 naming each unknown, expired or already decided id
            (the most basic problem sets the status).
    """
    try:
        decided: list[Decided] = ledger.decide(
            request.suggestion_ids, decision, decider=decider, reason=request.reason, now=now
        )
    except SuggestionError as exc:
        raise _decision_error(request.suggestion_ids, exc) from exc
    return DecisionResponse(
        decided=[
            DecidedOut(suggestion=suggestion_out(d.suggestion), fired=d.fired) for d in decided
        ]
    )


def _decision_error(ids: Sequence[str], exc: SuggestionError) -> RequestError:
    fields = []
    for i, sid in enumerate(ids):
        problem = exc.problems.get(sid)
        if problem is not None:
            detail = _STATUS_OF[problem][2]
            found = exc.found.get(sid)
            if problem == "already_decided" and found is not None:
                detail = f"already {found.status} by {found.decided_by}"
            elif problem == "expired" and found is not None:
                detail = f"expired at {_time(found.expires_at).isoformat()}"
            fields.append(FieldProblem(field=f"suggestion_ids[{i}]", problem=detail))
    worst = next(p for p in ("unknown", "expired", "already_decided") if p in exc.problems.values())
    status, code, _ = _STATUS_OF[worst]
    message = f"nothing was decided: {len(fields)} suggestion(s) cannot be: " + "; ".join(
        f"{f.field}: {f.problem}" for f in fields[:5]
    )
    return RequestError(
        ErrorBody(error=ErrorDetail(code=code, message=message, fields=fields)), status
    )


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# ---- the snapshot for the reports ---------------------------------------------------------------


def write_snapshot(ledger: ActionLedger, path: Path, now: datetime, *, limit: int = 100_000) -> int:
    """Write every suggestion the ledger still holds (oldest first, at most ``limit``) to
    ``path`` atomically; returns how many."""
    found = ledger.suggestions(now, status=None, limit=limit)
    snapshot_at = now.timestamp()
    columns: dict[str, list] = {name: [] for name in suggestions_schema().names}
    for s in found:
        for name in suggestions_schema().names:
            if name == "params":
                columns[name].append(orjson.dumps(s.params, option=orjson.OPT_SORT_KEYS).decode())
            elif name in ("created_at", "expires_at", "decided_at", "snapshot_at"):
                value = snapshot_at if name == "snapshot_at" else getattr(s, name)
                columns[name].append(None if value is None else round(value * 1e6))
            else:
                columns[name].append(getattr(s, name))
    table = pa.table(columns, schema=suggestions_schema())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return len(found)
