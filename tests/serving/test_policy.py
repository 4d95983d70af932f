"""The action policy: the shipped rules fire when they should, and bad rules are named at load."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import numpy as np
import pytest

from orderlens.records import TIERS
from serving.policy import (
    ACTION_PARAMS,
    DEFAULT_POLICY_FILE,
    PolicyError,
    ScoredOrder,
    compile_policy,
    evaluate_policy,
    load_policy,
    may_act,
)


@pytest.fixture(scope="module")
def policy():
    return load_policy()


def _scored(**changes) -> ScoredOrder:
    base = ScoredOrder(
        order_id="OL1",
        p_late=0.85,
        expected_hours=8.0,
        p90_hours=18.0,
        reason_groups=("carrier", "route_distance"),
        stage="in_transit",
        tier="gold",
        value_index=70.0,
        push_dismissals=0,
        contact_preferences=(),
    )
    return dataclasses.replace(base, **changes)


def _fired(policy, **changes) -> dict[str, dict]:
    return {a.action: a.params for a in evaluate_policy(policy, _scored(**changes))}


def _rules(policy, **changes) -> set[str]:
    return {a.rule for a in evaluate_policy(policy, _scored(**changes))}


def test_shipped_policy_loads(policy):
    assert policy.source == str(DEFAULT_POLICY_FILE)
    emitted = {name for rule in policy.rules for name, _ in rule.actions}
    assert emitted <= set(ACTION_PARAMS)
    priorities = [r.priority for r in policy.rules]
    assert priorities == sorted(priorities, reverse=True)


def test_high_risk_notifies_and_compensates_by_tier(policy):
    fired = _fired(policy, tier="gold")
    assert fired["notify"] == {"channel": "push"}
    assert fired["compensation_coupon"] == {"amount": 50.0, "currency": "CNY", "tier": "gold"}
    assert _fired(policy, tier="standard")["compensation_coupon"]["amount"] == 20.0
    assert _fired(policy, tier="platinum")["compensation_coupon"]["amount"] == 80.0
    assert "reprioritise_packing" not in fired  # already shipped


def test_reprioritise_packing_only_before_dispatch(policy):
    assert _fired(policy, stage="not_shipped")["reprioritise_packing"] == {"priority": "urgent"}


@pytest.mark.parametrize(
    "changes",
    [{"p_late": 0.79}, {"expected_hours": 5.9}, {"stage": "delivered"}],
)
def test_high_risk_rules_stay_quiet_below_their_thresholds(policy, changes):
    rules = _rules(policy, **changes)
    assert not rules & {"late_risk_notify", "late_risk_compensate", "late_risk_self_service"}


def test_thresholds_are_inclusive(policy):
    assert "late_risk_notify" in _rules(policy, p_late=0.8, expected_hours=6.0)


def test_push_dismissed_three_times_gets_self_service_instead_of_push(policy):
    fired = _fired(policy, push_dismissals=3)
    assert "qr_self_service" in fired
    assert "notify" not in fired
    assert "compensation_coupon" in fired
    fired = _fired(policy, push_dismissals=2)
    assert "notify" in fired
    assert "qr_self_service" not in fired


def test_notify_uses_the_customers_preferred_channel(policy):
    assert _fired(policy, contact_preferences=("sms", "email"))["notify"] == {"channel": "sms"}


def test_weather_before_dispatch_reroutes(policy):
    weather = {"reason_groups": ("weather", "carrier"), "p_late": 0.65}
    assert "reroute_warehouse" in _fired(policy, stage="not_shipped", **weather)
    assert "reroute_warehouse" not in _fired(policy, stage="in_transit", **weather)
    assert "reroute_warehouse" not in _fired(
        policy, stage="not_shipped", reason_groups=("carrier", "weather"), p_late=0.65
    )
    assert "reroute_warehouse" not in _fired(
        policy, stage="not_shipped", **{**weather, "p_late": 0.5}
    )


def test_transit_trouble_expedites(policy):
    assert "expedite" in _fired(policy, reason_groups=("weather", "tracking_exception"), p_late=0.7)
    assert "expedite" not in _fired(policy, reason_groups=("weather", "order_profile"))
    assert "expedite" not in _fired(policy, stage="not_shipped")


def test_tight_promise_before_dispatch_upgrades_carrier(policy):
    fired = _fired(policy, stage="not_shipped", reason_groups=("promise_tightness",), p_late=0.6)
    assert fired["upgrade_carrier"] == {"service_level": "express"}


def test_platinum_gets_gold_agent_and_priority_carrier(policy):
    calm = {"p_late": 0.05, "expected_hours": 0.0, "reason_groups": ()}
    assert set(_fired(policy, tier="platinum", stage="not_shipped", **calm)) == {
        "gold_agent",
        "priority_carrier",
    }
    assert set(_fired(policy, tier="platinum", stage="in_transit", **calm)) == {"gold_agent"}
    assert _fired(policy, tier="gold", stage="not_shipped", **calm) == {}


def test_calm_order_gets_nothing(policy):
    assert evaluate_policy(policy, _scored(p_late=0.1, expected_hours=0.0, tier="silver")) == []


def test_unknown_values_fail_positive_conditions_and_pass_negative_ones(policy):
    rules = _rules(policy, stage=None, tier=None)
    assert "late_risk_notify" in rules  # stage ne delivered: unknown passes
    assert "late_risk_reprioritise" not in rules  # stage eq not_shipped: unknown fails
    coupon = _fired(policy, tier=None)["compensation_coupon"]
    assert coupon["amount"] == 20.0  # unknown tier: the standard amount


def test_action_carries_rule_window_and_a_reason(policy):
    (notify,) = [a for a in evaluate_policy(policy, _scored()) if a.action == "notify"]
    assert notify.rule == "late_risk_notify"
    assert notify.window_hours == 24
    assert notify.reason == "Late risk 85%, about 8 h late: tell the customer first"


def test_params_are_a_fresh_dict_per_action(policy):
    first = _fired(policy)["notify"]
    first["channel"] = "tampered"
    assert _fired(policy)["notify"]["channel"] == "push"


def test_risk_levels(policy):
    assert [policy.risk_level(p) for p in (0.1, 0.3, 0.6, 0.79, 0.8)] == [
        "low",
        "medium",
        "high",
        "high",
        "critical",
    ]


def _doc(*rules: dict) -> dict:
    return {"rules": list(rules)}


def _rule(name: str, priority: int, when: dict, then: list) -> dict:
    return {"name": name, "priority": priority, "window_hours": 1, "when": when, "then": then}


def test_higher_priority_rule_wins_the_same_action():
    policy = compile_policy(
        _doc(
            _rule(
                "low",
                1,
                {"p_late": {"gte": 0.5}},
                [{"action": "notify", "params": {"channel": "email"}}],
            ),
            _rule(
                "high",
                9,
                {"p_late": {"gte": 0.5}},
                [{"action": "notify", "params": {"channel": "sms"}}],
            ),
        )
    )
    (action,) = evaluate_policy(policy, _scored())
    assert (action.rule, action.params) == ("high", {"channel": "sms"})


def test_costly_coupons_are_suggested_cheap_ones_fire(policy):
    """The shipped policy: a coupon of 50 or more (gold and platinum orders) waits for a person."""
    for tier, mode in (("platinum", "suggest"), ("gold", "suggest"), ("silver", "fire")):
        (coupon,) = [
            a
            for a in evaluate_policy(policy, _scored(tier=tier))
            if a.action == "compensation_coupon"
        ]
        assert (coupon.mode, coupon.tier) == (mode, tier)
        assert coupon.expires_hours == 24
    others = [
        a
        for a in evaluate_policy(policy, _scored(tier="platinum"))
        if a.rule != "late_risk_compensate"
    ]
    assert others and all(a.mode == "fire" for a in others)


def test_suggest_mode_without_conditions_always_suggests():
    rule = {**_rule("r", 1, {"tier": "gold"}, [{"action": "expedite"}]), "mode": "suggest"}
    (action,) = evaluate_policy(compile_policy(_doc(rule)), _scored(tier="gold"))
    assert action.mode == "suggest"
    rule["suggest_when"] = {"order_value": {"gte": 1000}}
    compiled = compile_policy(_doc(rule))
    assert evaluate_policy(compiled, _scored(tier="gold", order_value=5000))[0].mode == "suggest"
    assert evaluate_policy(compiled, _scored(tier="gold", order_value=50))[0].mode == "fire"
    assert evaluate_policy(compiled, _scored(tier="gold"))[0].mode == "fire"  # unknown value


def test_shorthand_conditions():
    policy = compile_policy(
        _doc(
            _rule(
                "r",
                1,
                {"tier": ["gold", "platinum"], "stage": "in_transit"},
                [{"action": "expedite"}],
            )
        )
    )
    assert evaluate_policy(policy, _scored(tier="gold"))
    assert not evaluate_policy(policy, _scored(tier="silver"))


@pytest.mark.parametrize(
    ("rule_yaml", "problem"),
    [
        ("when: {p_lat: {gte: 0.8}}\n  then: [{action: notify}]", "unknown field 'p_lat'"),
        ("when: {p_late: {approx: 0.8}}\n  then: [{action: notify}]", "unknown operator 'approx'"),
        ("when: {p_late: {gte: high}}\n  then: [{action: notify}]", "needs a number"),
        ("when: {tier: {eq: diamond}}\n  then: [{action: notify}]", "unknown value(s) ['diamond']"),
        ("when: {tier: {in: gold}}\n  then: [{action: notify}]", "needs a list"),
        ("then: [{action: send_flowers}]", "unknown action 'send_flowers'"),
        ("then: [{action: notify, params: {channel: pigeon}}]", "channel"),
        (
            "then: [{action: compensation_coupon, params: {amount_by_tier: {gold: 5}}}]",
            "misses tiers",
        ),
        ("then: [{action: compensation_coupon}]", "exactly one of amount"),
        ("then: []", "then"),
        ("then: [{action: notify}]\n  window: 3", "window"),
        ("description: 'risk {p_lte}'\n  then: [{action: notify}]", "unknown field(s) ['p_lte']"),
        ("suggest_when: {tier: platinum}\n  then: [{action: notify}]", "needs mode: suggest"),
        (
            "mode: suggest\n  suggest_when: {amout: {gte: 5}}\n  then: [{action: notify}]",
            "suggest_when: unknown field 'amout'",
        ),
        ("mode: ask\n  then: [{action: notify}]", "mode"),
    ],
)
def test_invalid_rule_is_named(tmp_path: Path, rule_yaml: str, problem: str):
    text = textwrap.dedent(
        """\
        rules:
        - name: fine_rule
          window_hours: 1
          then: [{action: expedite}]
        - name: broken_rule
          window_hours: 1
          RULE
        """
    ).replace("RULE", rule_yaml)
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    message = str(info.value)
    assert "rule 'broken_rule' (rules[1])" in message
    assert problem in message


def test_duplicate_rule_names_are_refused():
    rule = _rule("twice", 1, {}, [{"action": "expedite"}])
    with pytest.raises(PolicyError, match="'twice'.*duplicate rule name"):
        compile_policy(_doc(rule, rule))


def test_not_yaml_and_bad_risk_levels_are_refused(tmp_path: Path):
    path = tmp_path / "policy.yaml"
    path.write_text("rules: [unclosed")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(path)
    with pytest.raises(PolicyError, match="risk_levels"):
        compile_policy(
            {
                "risk_levels": {"medium": 0.9, "high": 0.5},
                **_doc(_rule("r", 1, {}, [{"action": "expedite"}])),
            }
        )


def test_batch_screen_never_rules_out_an_order_that_acts(policy):
    """may_act is a pre-filter: every order evaluate_policy gives an action to passes it, and
    calm orders are screened out (the point of it)."""
    rng = np.random.default_rng(3)
    n = 3_000
    fields = {
        "p_late": rng.uniform(0, 1, n),
        "expected_hours": rng.uniform(0, 20, n),
        "p90_hours": rng.uniform(0, 40, n),
        "value_index": rng.uniform(0, 100, n),
        "tier": rng.choice(["platinum", "gold", "silver", "standard"], n),
    }
    groups = ("weather", "carrier", "promise_tightness", "tracking_exception", "route_distance")
    screened = may_act(policy, fields)
    acting = 0
    for i in range(n):
        scored = _scored(
            p_late=float(fields["p_late"][i]),
            expected_hours=float(fields["expected_hours"][i]),
            p90_hours=float(fields["p90_hours"][i]),
            value_index=float(fields["value_index"][i]),
            tier=str(fields["tier"][i]),
            reason_groups=tuple(rng.permutation(groups)[:2]),
            stage=("not_shipped", "in_transit", "delivered", None)[i % 4],
            push_dismissals=int(i % 5),
        )
        if evaluate_policy(policy, scored):
            acting += 1
            assert screened[i], scored
    assert 0 < acting < screened.sum() < n
    calm = {k: v[:1] for k, v in fields.items()} | {"p_late": np.array([0.1])}
    assert not may_act(policy, calm | {"tier": np.array(["standard"])})[0]


def test_rules_say_whether_they_act_on_risk_and_read_reasons(policy):
    """The scorer explains (TreeSHAP) only orders whose delay risk a rule acts on: the shipped
    tier rules act on value alone; the reason rules are the ones testing top_reason(s)."""
    by_name = {r.name: r for r in policy.rules}
    assert not by_name["platinum_gold_agent"].on_risk
    assert by_name["late_risk_notify"].on_risk and not by_name["late_risk_notify"].on_reasons
    assert by_name["weather_reroute"].on_reasons and by_name["transit_expedite"].on_reasons
    fields = {
        "p_late": np.array([0.65, 0.1]),
        "expected_hours": np.array([1.0, 1.0]),
        "p90_hours": np.array([2.0, 2.0]),
        "value_index": np.array([50.0, 99.0]),
        "tier": np.array(["standard", "platinum"]),
    }
    reason_rules = [r for r in policy.rules if r.on_reasons]
    assert may_act(policy, fields, rules=reason_rules).tolist() == [True, False]
    assert may_act(policy, fields).tolist() == [True, True]
    # A rule whose suggest/fire choice tests the reasons needs them too.
    (rule,) = compile_policy(
        _doc(
            {
                **_rule("tier", 1, {"tier": "platinum"}, [{"action": "gold_agent"}]),
                "mode": "suggest",
                "suggest_when": {"top_reason": "weather"},
            }
        )
    ).rules
    assert rule.on_reasons and rule.on_risk


@pytest.mark.integration
def test_large_batches_explain_the_orders_acted_on_for_their_risk(serving_home):
    """In a batch larger than ``explain_all_up_to``: an order a rule on the delay prediction acts
    on has its delay reasons, even below ``high`` risk; an order acting on its value tier alone
    and below ``high`` has none; a small batch explains every order."""
    from serving.schemas import parse_request
    from serving.scoring import Scorer, request_columns, request_only_features
    from tests.serving.live import order_payloads
    from training import registry

    settings = serving_home.settings
    models = registry.load_champion(settings)
    payload = {"orders": order_payloads(serving_home.orders.iloc[:120], suffix="-explain")}
    columns = request_columns(parse_request(payload).orders)
    p_late = Scorer(models, load_policy()).predict(columns, request_only_features(columns)).p_late
    mild = float(np.quantile(p_late, 0.5))  # half the orders: a risk rule below "high"
    policy = compile_policy(
        {
            "risk_levels": {"medium": 0.3, "high": 0.6, "critical": 0.8},
            **_doc(
                _rule("mild_risk", 2, {"p_late": {"gte": mild}}, [{"action": "notify"}]),
                _rule("any_tier", 1, {"tier": {"in": list(TIERS)}}, [{"action": "gold_agent"}]),
            ),
        }
    )
    scorer = Scorer(models, policy, explain_all_up_to=10)
    result = scorer.score(columns, None)
    acted_on_risk = 0
    for p, actions in zip(result.predictions, result.actions, strict=True):
        rules = {a.rule for a in actions}
        assert "any_tier" in rules  # every order acts on its tier
        if "mild_risk" in rules or p["delay"]["probability"] >= 0.6:
            acted_on_risk += 1
            assert p["delay"]["reasons"], p["order_id"]
        else:
            assert p["delay"]["reasons"] == [], p["order_id"]
    assert 0 < acted_on_risk < len(result.predictions)
    assert result.explained == acted_on_risk
    few = request_columns(parse_request({"orders": payload["orders"][:5]}).orders)
    small = scorer.score(few, None)
    assert all(p["delay"]["reasons"] for p in small.predictions)
