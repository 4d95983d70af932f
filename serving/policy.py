"""The action policy: data (``action_policy.yaml``) checked at load, compiled once, evaluated per order.

A policy is a list of rules. Each rule has a ``name``, a ``priority`` (higher wins), a
``window_hours`` (the action ledger fires each of its actions at most once per order in that
window), a ``description`` (the reason text; may name :class:`ScoredOrder` fields, e.g.
``{p_late:.0%}``), conditions under ``when`` and actions under ``then``::

    - name: late_risk_notify
      priority: 100
      window_hours: 24
      description: "Late risk {p_late:.0%}, about {expected_hours:.0f} h: tell the customer first"
      when:
        p_late: {gte: 0.8}
        expected_hours: {gte: 6}
        push_dismissals: {lt: 3}
      then:
        - action: notify
          params: {channel: preferred, fallback: push}

A rule may say ``mode: suggest``: its actions are then not fired but suggested to a person, who
confirms or rejects them (the ledger keeps them pending for ``suggestion_expires_hours``).
``suggest_when`` (conditions like ``when``, plus ``amount``: the action's own amount) narrows that
to the cases that matter; where it does not hold, the action fires as usual::

    - name: late_risk_compensate
      ...
      mode: suggest
      suggest_when: {amount: {gte: 50}}   # costly coupons need a person

Conditions (all must hold) are ``field: {operator: operand}``; the shorthand ``field: value`` means
``eq`` and ``field: [values]`` means ``in`` (``contains_any`` for list fields). See :data:`FIELDS`
for the fields and their operators. An unknown value (``None``, e.g. an order whose stage is not
known) fails ``eq``/``in``/comparisons/``contains_*`` and passes ``ne``/``not_in``/``excludes``.

When several matching rules emit the same action, only the highest-priority one is kept: an order
gets at most one ``notify`` (one coupon, ...) per evaluation.

Loading raises :class:`PolicyError` naming the rule for an unknown field, operator, action or
parameter. :func:`evaluate_policy` is pure and does no parsing: conditions are closures.
"""

from __future__ import annotations

import operator
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from orderlens.reasons import REASON_GROUPS
from orderlens.records import CONTACT_CHANNELS, STAGES, TIERS, Tier
from serving.schemas import ServiceLevel, field_path

DEFAULT_POLICY_FILE = Path(__file__).with_name("action_policy.yaml")
RISK_LEVELS: tuple[str, ...] = ("low", "medium", "high", "critical")


class PolicyError(ValueError):
    """The policy file is invalid; the message names the rule and the problem."""


@dataclass(frozen=True, slots=True)
class ScoredOrder:
    """What the policy sees of one scored order.

    ``reason_groups`` are the delay reason groups that raise risk, largest contribution first.
    ``push_dismissals`` counts push notifications the customer dismissed (0 when none are known);
    ``contact_preferences`` are the channels the customer accepts, best first (empty: none stated).
    """

    order_id: str
    p_late: float
    expected_hours: float
    p90_hours: float
    reason_groups: tuple[str, ...] = ()
    stage: str | None = None
    tier: str | None = None
    value_index: float | None = None
    push_dismissals: int = 0
    contact_preferences: tuple[str, ...] = ()
    order_value: float | None = None


Mode = Literal["fire", "suggest"]


@dataclass(frozen=True, slots=True)
class Action:
    """One action chosen for one order by one rule. ``params`` is the action's own dict.

    ``mode`` is ``"fire"`` (the caller acts now) or ``"suggest"`` (a person confirms first: the
    ledger keeps it pending until ``expires_hours`` after it was suggested). ``tier`` is the
    order's value tier, kept with a suggestion so reviewers can filter by it.
    """

    order_id: str
    action: str
    rule: str
    params: dict[str, Any]
    reason: str
    window_hours: float
    priority: int
    mode: Mode = "fire"
    expires_hours: float = 0.0
    tier: str | None = None


# ---- action parameters ------------------------------------------------------------------------

NotifyChannel = Literal["push", "sms", "email", "phone", "qr_self_service", "preferred"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NotifyParams(_Params):
    """``channel: preferred`` picks the customer's first contact preference, else ``fallback``."""

    channel: NotifyChannel = "preferred"
    fallback: Literal["push", "sms", "email", "phone", "qr_self_service"] = "push"


class CouponParams(_Params):
    """A fixed ``amount`` or one per value tier (every tier must be listed)."""

    amount: float | None = Field(None, gt=0)
    amount_by_tier: dict[Tier, float] | None = None
    currency: str = "CNY"

    @model_validator(mode="after")
    def _one_amount(self) -> CouponParams:
        if (self.amount is None) == (self.amount_by_tier is None):
            raise ValueError("give exactly one of amount or amount_by_tier")
        if self.amount_by_tier is not None:
            missing = set(TIERS) - set(self.amount_by_tier)
            if missing:
                raise ValueError(f"amount_by_tier misses tiers {sorted(missing)}")
            if any(v <= 0 for v in self.amount_by_tier.values()):
                raise ValueError("amount_by_tier amounts must be > 0")
        return self


class ReprioritiseParams(_Params):
    priority: Literal["high", "urgent"] = "high"


class UpgradeCarrierParams(_Params):
    service_level: ServiceLevel = "express"


ACTION_PARAMS: dict[str, type[_Params]] = {
    "notify": NotifyParams,
    "compensation_coupon": CouponParams,
    "reprioritise_packing": ReprioritiseParams,
    "reroute_warehouse": _Params,
    "expedite": _Params,
    "upgrade_carrier": UpgradeCarrierParams,
    "gold_agent": _Params,
    "priority_carrier": _Params,
    "qr_self_service": _Params,
}
"""Every action the policy may emit, with the model that checks its parameters."""


# ---- condition fields -------------------------------------------------------------------------

_NUMERIC_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "gte": operator.ge,
    "gt": operator.gt,
    "lte": operator.le,
    "lt": operator.lt,
    "eq": operator.eq,
    "ne": operator.ne,
}
_CATEGORY_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "in": lambda value, options: value in options,
    "not_in": lambda value, options: value not in options,
}
_SET_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "contains_any": lambda values, options: not options.isdisjoint(values),
    "contains_all": lambda values, options: options.issubset(values),
    "excludes": lambda values, options: options.isdisjoint(values),
}
_NEGATIVE_OPS = frozenset({"ne", "not_in", "excludes"})

Kind = Literal["number", "category", "set"]


@dataclass(frozen=True)
class FieldSpec:
    """A field conditions may test: how to read it and which values it takes."""

    kind: Kind
    allowed: tuple[str, ...] = ()
    description: str = ""


FIELDS: dict[str, FieldSpec] = {
    "p_late": FieldSpec("number", description="calibrated probability of arriving late"),
    "expected_hours": FieldSpec("number", description="expected hours late"),
    "p90_hours": FieldSpec("number", description="90th percentile of hours late"),
    "value_index": FieldSpec("number", description="value index 0–100"),
    "push_dismissals": FieldSpec("number", description="push notifications dismissed"),
    "order_value": FieldSpec("number", description="the order's value (request field)"),
    "risk_level": FieldSpec("category", RISK_LEVELS, "from p_late and the policy's risk_levels"),
    "tier": FieldSpec("category", TIERS, "value tier"),
    "stage": FieldSpec("category", STAGES, "order state"),
    "top_reason": FieldSpec("category", REASON_GROUPS, "the largest delay reason group"),
    "top_reasons": FieldSpec("set", REASON_GROUPS, "the top_reasons_k largest reason groups"),
    "contact_preferences": FieldSpec("set", CONTACT_CHANNELS, "channels the customer accepts"),
}
REASON_FIELDS = frozenset({"top_reason", "top_reasons"})
"""Fields read from the delay reasons (TreeSHAP): a rule testing one is judged with them."""
RISK_FIELDS = frozenset({"p_late", "expected_hours", "p90_hours", "risk_level"}) | REASON_FIELDS
"""Fields of the delay prediction: a rule testing one acts on the order's delay risk."""
SUGGEST_FIELDS: dict[str, FieldSpec] = {
    **FIELDS,
    "amount": FieldSpec("number", description="the action's own amount (compensation coupons)"),
}
"""Fields ``suggest_when`` may test: the order's, and the amount of the action itself."""
_OPS_BY_KIND: dict[Kind, dict[str, Callable[[Any, Any], bool]]] = {
    "number": _NUMERIC_OPS,
    "category": _CATEGORY_OPS,
    "set": _SET_OPS,
}


# ---- the file ---------------------------------------------------------------------------------


class ActionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    action: str
    params: dict[str, Any] = Field(default_factory=dict)


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    priority: int = 0
    window_hours: float = Field(gt=0, le=24 * 365)
    description: str = ""
    when: dict[str, Any] = Field(default_factory=dict)
    then: list[ActionSpec] = Field(min_length=1)
    mode: Mode = "fire"
    suggest_when: dict[str, Any] = Field(default_factory=dict)
    suggestion_expires_hours: float = Field(24.0, gt=0, le=24 * 30)

    @model_validator(mode="after")
    def _suggest_conditions_need_suggest_mode(self) -> RuleSpec:
        if self.suggest_when and self.mode != "suggest":
            raise ValueError("suggest_when needs mode: suggest")
        return self


class PolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    risk_levels: dict[Literal["medium", "high", "critical"], float] = Field(
        default_factory=lambda: {"medium": 0.3, "high": 0.6, "critical": 0.8}
    )
    top_reasons_k: int = Field(2, ge=1, le=len(REASON_GROUPS))
    rules: list[dict[str, Any]] = Field(min_length=1)


# ---- compiled policy --------------------------------------------------------------------------

Condition = Callable[[ScoredOrder], bool]
SuggestCondition = Callable[[ScoredOrder, dict[str, Any]], bool]
ParamsResolver = Callable[[ScoredOrder], dict[str, Any]]


@dataclass(frozen=True)
class CompiledRule:
    name: str
    priority: int
    window_hours: float
    description: str
    conditions: tuple[Condition, ...]
    actions: tuple[tuple[str, ParamsResolver], ...]
    reason_fields: tuple[str, ...]
    screens: tuple[tuple[str, str, Any], ...] = ()
    """The rule's conditions on :data:`SCREENED_FIELDS` as ``(field, operator, operand)``."""
    mode: Mode = "fire"
    suggest_conditions: tuple[SuggestCondition, ...] = ()
    """With ``mode: suggest``: its actions are suggested when all hold (none: always)."""
    expires_hours: float = 0.0
    fields: frozenset[str] = frozenset()
    """The fields its conditions test (``when`` and ``suggest_when``: whether an action is
    suggested may depend on the reasons too)."""

    @property
    def on_risk(self) -> bool:
        """Whether the rule acts on the order's delay risk (its actions need delay reasons)."""
        return bool(self.fields & RISK_FIELDS)

    @property
    def on_reasons(self) -> bool:
        """Whether the rule tests the delay reasons (it cannot be judged without them)."""
        return bool(self.fields & REASON_FIELDS)


@dataclass(frozen=True)
class Policy:
    """A loaded, compiled policy. Build it with :func:`load_policy` or :func:`compile_policy`."""

    rules: tuple[CompiledRule, ...]
    risk_thresholds: tuple[tuple[float, str], ...]  # (threshold, level), highest first
    top_reasons_k: int
    source: str = field(default="<memory>")

    def risk_level(self, p_late: float) -> str:
        """``low`` / ``medium`` / ``high`` / ``critical`` for a late probability."""
        return _risk_level(p_late, self.risk_thresholds)


def _risk_level(p_late: float, thresholds: tuple[tuple[float, str], ...]) -> str:
    for threshold, level in thresholds:
        if p_late >= threshold:
            return level
    return "low"


def load_policy(path: Path | str | None = None) -> Policy:
    """Read, check and compile a policy file (default: the shipped ``action_policy.yaml``)."""
    path = Path(path) if path is not None else DEFAULT_POLICY_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not valid YAML: {exc}") from exc
    return compile_policy(raw, source=str(path))


def compile_policy(raw: Any, source: str = "<memory>") -> Policy:
    """Check a decoded policy document and compile its conditions and actions into closures."""
    try:
        spec = PolicySpec.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(f"{source}: {_first_problem(exc)}") from exc
    levels = spec.risk_levels
    ordered = [levels[name] for name in ("medium", "high", "critical") if name in levels]
    if ordered != sorted(ordered) or any(not 0 < t <= 1 for t in ordered):
        raise PolicyError(f"{source}: risk_levels must rise within (0, 1]: {levels}")
    thresholds = tuple(sorted(((t, name) for name, t in levels.items()), reverse=True))

    compiled: list[CompiledRule] = []
    seen: set[str] = set()
    for i, raw_rule in enumerate(spec.rules):
        label = f"rule {raw_rule.get('name', f'#{i}')!r} (rules[{i}])"
        try:
            rule = RuleSpec.model_validate(raw_rule)
        except ValidationError as exc:
            raise PolicyError(f"{source}: {label}: {_first_problem(exc)}") from exc
        if rule.name in seen:
            raise PolicyError(f"{source}: {label}: duplicate rule name")
        seen.add(rule.name)
        try:
            compiled.append(_compile_rule(rule, spec.top_reasons_k, thresholds))
        except PolicyError as exc:
            raise PolicyError(f"{source}: {label}: {exc}") from None
    compiled.sort(key=lambda r: -r.priority)  # stable: file order breaks ties
    return Policy(tuple(compiled), thresholds, spec.top_reasons_k, source)


def evaluate_policy(policy: Policy, scored: ScoredOrder) -> list[Action]:
    """The actions the policy chooses for one scored order, highest priority first.

    Pure: no I/O, no parsing. When several rules emit the same action, only the
    highest-priority rule's is kept.
    """
    actions: list[Action] = []
    taken: set[str] = set()
    for rule in policy.rules:
        for condition in rule.conditions:
            if not condition(scored):
                break
        else:
            reason = _reason(rule, scored) if rule.reason_fields else rule.description
            for name, resolve in rule.actions:
                if name in taken:
                    continue
                taken.add(name)
                params = resolve(scored)
                suggested = rule.mode == "suggest" and all(
                    c(scored, params) for c in rule.suggest_conditions
                )
                actions.append(
                    Action(
                        scored.order_id,
                        name,
                        rule.name,
                        params,
                        reason,
                        rule.window_hours,
                        rule.priority,
                        "suggest" if suggested else "fire",
                        rule.expires_hours,
                        scored.tier,
                    )
                )
    return actions


# ---- compiling --------------------------------------------------------------------------------


def _compile_rule(
    rule: RuleSpec, k: int, thresholds: tuple[tuple[float, str], ...]
) -> CompiledRule:
    conditions = tuple(
        _compile_condition(name, spec, k, thresholds) for name, spec in rule.when.items()
    )
    actions = tuple((a.action, _compile_action(a)) for a in rule.then)
    reason_fields = _check_description(rule.description)
    screens = []
    for name, raw in rule.when.items():
        if name in SCREENED_FIELDS:
            spec = FIELDS[name]
            if not isinstance(raw, dict):
                shorthand = "in" if spec.kind == "category" else "contains_any"
                raw = {shorthand if isinstance(raw, list) else "eq": raw}
            ((op_name, operand),) = raw.items()
            screens.append((name, op_name, _check_operand(name, spec, op_name, operand)))
    suggest_conditions = tuple(
        _compile_suggest_condition(name, spec, k, thresholds)
        for name, spec in rule.suggest_when.items()
    )
    return CompiledRule(
        rule.name,
        rule.priority,
        rule.window_hours,
        rule.description,
        conditions,
        actions,
        reason_fields,
        tuple(screens),
        rule.mode,
        suggest_conditions,
        rule.suggestion_expires_hours,
        frozenset(rule.when) | frozenset(rule.suggest_when),
    )


SCREENED_FIELDS = ("p_late", "expected_hours", "p90_hours", "value_index", "tier")
"""Fields every order of a scored batch has as an array: :func:`may_act` screens on them."""


def may_act(
    policy: Policy,
    fields: Mapping[str, np.ndarray],
    rules: Sequence[CompiledRule] | None = None,
) -> np.ndarray:
    """Per order of a batch, whether any rule *may* fire, judged on :data:`SCREENED_FIELDS`
    alone (arrays, one value per order): a vectorised pre-filter. An order it rules out gets no
    action from :func:`evaluate_policy` (every rule has a screened condition it fails), so the
    per-order evaluation runs only for the rest — most orders of a batch act on nothing.

    Args:
        rules: only these rules of the policy (default: all of them).
    """
    n = len(fields["p_late"])
    any_rule = np.zeros(n, dtype=bool)
    for rule in policy.rules if rules is None else rules:
        mask = np.ones(n, dtype=bool)
        for name, op_name, operand in rule.screens:
            values = np.asarray(fields[name])
            if op_name in ("in", "not_in"):
                hit = np.isin(values, list(operand))
                mask &= ~hit if op_name == "not_in" else hit
            else:
                mask &= np.asarray(_OPS_BY_KIND[FIELDS[name].kind][op_name](values, operand))
        any_rule |= mask
    return any_rule


def _getter(name: str, k: int, thresholds: tuple[tuple[float, str], ...]):
    if name == "amount":  # read from the action's params (suggest_when only)
        return lambda params: params.get("amount")
    if name == "top_reason":
        return lambda s: s.reason_groups[0] if s.reason_groups else None
    if name == "top_reasons":
        return lambda s: s.reason_groups[:k]
    if name == "risk_level":
        return lambda s: _risk_level(s.p_late, thresholds)
    return operator.attrgetter(name)


def _compile_suggest_condition(
    name: str, raw: Any, k: int, thresholds: tuple[tuple[float, str], ...]
) -> SuggestCondition:
    """A ``suggest_when`` condition: on the order's fields, or (``amount``) the action's own."""
    if name != "amount":
        on_order = _compile_condition(name, raw, k, thresholds, where="suggest_when")
        return lambda scored, params: on_order(scored)
    on_amount = _compile_condition(
        name, raw, k, thresholds, fields=SUGGEST_FIELDS, where="suggest_when"
    )
    return lambda scored, params: on_amount(params)


def _compile_condition(
    name: str,
    raw: Any,
    k: int,
    thresholds: tuple[tuple[float, str], ...],
    *,
    fields: Mapping[str, FieldSpec] = FIELDS,
    where: str = "when",
) -> Condition:
    spec = fields.get(name)
    if spec is None:
        raise PolicyError(f"{where}: unknown field {name!r}; known: {', '.join(fields)}")
    if not isinstance(raw, dict):  # shorthand
        shorthand = "in" if spec.kind == "category" else "contains_any"
        raw = {shorthand if isinstance(raw, list) else "eq": raw}
    if len(raw) != 1:
        raise PolicyError(f"field {name!r}: give one operator per field, got {list(raw)}")
    ((op_name, operand),) = raw.items()
    ops = _OPS_BY_KIND[spec.kind]
    op = ops.get(op_name)
    if op is None:
        raise PolicyError(f"field {name!r}: unknown operator {op_name!r}; use one of {list(ops)}")
    operand = _check_operand(name, spec, op_name, operand)
    get = _getter(name, k, thresholds)
    if_unknown = op_name in _NEGATIVE_OPS

    def condition(scored: ScoredOrder) -> bool:
        value = get(scored)
        if value is None:
            return if_unknown
        return op(value, operand)

    return condition


def _check_operand(name: str, spec: FieldSpec, op_name: str, operand: Any) -> Any:
    where = f"field {name!r} {op_name}"
    if spec.kind == "number":
        if isinstance(operand, bool) or not isinstance(operand, int | float):
            raise PolicyError(f"{where}: needs a number, got {operand!r}")
        return operand
    wants_list = op_name in {"in", "not_in"} or spec.kind == "set"
    values = operand if isinstance(operand, list) else [operand]
    if wants_list != isinstance(operand, list) and spec.kind == "category":
        raise PolicyError(f"{where}: needs {'a list' if wants_list else 'one value'}")
    unknown = [v for v in values if v not in spec.allowed]
    if unknown:
        raise PolicyError(f"{where}: unknown value(s) {unknown}; allowed: {list(spec.allowed)}")
    return frozenset(values) if wants_list else operand


def _compile_action(spec: ActionSpec) -> ParamsResolver:
    model = ACTION_PARAMS.get(spec.action)
    if model is None:
        raise PolicyError(f"unknown action {spec.action!r}; known: {', '.join(ACTION_PARAMS)}")
    try:
        params = model.model_validate(spec.params)
    except ValidationError as exc:
        raise PolicyError(f"action {spec.action!r}: {_first_problem(exc)}") from None
    if isinstance(params, CouponParams):
        base = {"currency": params.currency}
        if params.amount is not None:
            fixed = {**base, "amount": params.amount}
            return lambda s: dict(fixed)
        by_tier = {t: {**base, "amount": a, "tier": t} for t, a in params.amount_by_tier.items()}
        smallest = by_tier["standard"]  # unknown tier: the standard amount
        return lambda s: dict(by_tier.get(s.tier, smallest))
    if isinstance(params, NotifyParams):
        channel, fallback = params.channel, params.fallback
        if channel != "preferred":
            return lambda s: {"channel": channel}
        return lambda s: {
            "channel": s.contact_preferences[0] if s.contact_preferences else fallback
        }
    static = params.model_dump(exclude_none=True)
    return lambda s: dict(static)


_FORMATTER = string.Formatter()
_EXAMPLE = ScoredOrder("example", 0.5, 1.0, 2.0, ("weather",), "in_transit", "gold", 50.0, 0)


def _check_description(description: str) -> tuple[str, ...]:
    try:
        names = tuple(f for _, f, _, _ in _FORMATTER.parse(description) if f)
        unknown = [n for n in names if n not in ScoredOrder.__slots__]
        if unknown:
            raise PolicyError(f"description names unknown field(s) {unknown}")
        description.format_map({n: getattr(_EXAMPLE, n) for n in names})
    except (ValueError, KeyError, IndexError) as exc:
        if isinstance(exc, PolicyError):
            raise
        raise PolicyError(f"description {description!r} does not format: {exc}") from None
    return names


def _reason(rule: CompiledRule, scored: ScoredOrder) -> str:
    try:
        return rule.description.format_map({n: getattr(scored, n) for n in rule.reason_fields})
    except (TypeError, ValueError):  # e.g. a format spec on a value that is unknown (None)
        return rule.description


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{field_path(tuple(err['loc']))}: {err['msg']}{more}"


__all__ = [
    "ACTION_PARAMS",
    "DEFAULT_POLICY_FILE",
    "FIELDS",
    "SUGGEST_FIELDS",
    "Action",
    "Policy",
    "PolicyError",
    "ScoredOrder",
    "compile_policy",
    "evaluate_policy",
    "load_policy",
]
