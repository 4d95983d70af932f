"""Suggested actions for the managers: what waits for a person, and how people decided.

Read from the service's snapshot of suggestions (:func:`orderlens.records.read_suggestions`);
shown as a section of the order-health page (:func:`section`).
"""

from __future__ import annotations

import json

import pandas as pd

from reports import html

PENDING_SHOWN = 50
"""Pending suggestions listed on the page (oldest first)."""


def by_action(suggestions: pd.DataFrame) -> pd.DataFrame:
    """One row per action: suggested, pending, confirmed, rejected, expired, the confirm rate
    (of those decided) and the median minutes from suggestion to decision."""
    if suggestions.empty:
        return pd.DataFrame(
            columns=["suggested", "pending", "confirmed", "rejected", "expired", "confirm_rate",
                     "median_minutes_to_decision"]
        )  # fmt: skip
    counts = pd.crosstab(suggestions["action"], suggestions["status"])
    for status in ("pending", "confirmed", "rejected", "expired"):
        if status not in counts:
            counts[status] = 0
    table = counts[["pending", "confirmed", "rejected", "expired"]].copy()
    table.insert(0, "suggested", table.sum(axis=1))
    decided = table["confirmed"] + table["rejected"]
    table["confirm_rate"] = (table["confirmed"] / decided).where(decided > 0)
    minutes = _minutes_to_decision(suggestions)
    table["median_minutes_to_decision"] = minutes.groupby(suggestions["action"]).median()
    return table.sort_values("suggested", ascending=False)


def _minutes_to_decision(suggestions: pd.DataFrame) -> pd.Series:
    decided = suggestions["status"].isin(["confirmed", "rejected"])
    return ((suggestions["decided_at"] - suggestions["created_at"]).dt.total_seconds() / 60).where(
        decided
    )


def section(suggestions: pd.DataFrame, now: pd.Timestamp | None = None) -> str:
    """The page section: headline figures, the per-action table and the pending list."""
    if suggestions.empty:
        return html.section(
            "Suggested actions",
            "<p>No action has been suggested yet.</p>",
            note="Rules with mode: suggest in the action policy wait for a person's decision.",
        )
    now = now or pd.Timestamp.now(tz="UTC")
    pending = suggestions[suggestions["status"] == "pending"].sort_values("created_at")
    minutes = _minutes_to_decision(suggestions).dropna()
    decided = suggestions["status"].isin(["confirmed", "rejected"])
    confirmed = (suggestions["status"] == "confirmed").sum()
    oldest = (now - pending["created_at"].min()).total_seconds() / 3600 if len(pending) else None
    tiles = html.tiles(
        {
            "pending now": f"{len(pending):,}",
            "oldest pending": "–" if oldest is None else f"{oldest:.1f} h",
            "confirmed": f"{confirmed:,}",
            "rejected": f"{(suggestions['status'] == 'rejected').sum():,}",
            "expired unanswered": f"{(suggestions['status'] == 'expired').sum():,}",
            "confirm rate": html.pct(confirmed / decided.sum() if decided.any() else None),
            "median time to decision": "–" if minutes.empty else f"{minutes.median():.0f} min",
        }
    )
    table = by_action(suggestions)
    per_action = html.table(
        ["action", "suggested", "pending", "confirmed", "rejected", "expired", "confirm rate",
         "median minutes to decision"],
        [
            [action, *(f"{int(r[c]):,}" for c in ("suggested", "pending", "confirmed",
             "rejected", "expired")), html.pct(r["confirm_rate"]),
             html.num(r["median_minutes_to_decision"], 0)]
            for action, r in table.iterrows()
        ],
    )  # fmt: skip
    rows = [
        [
            r.suggestion_id,
            r.order_id,
            r.action,
            r.tier or "–",
            _params(r.params),
            f"{(now - r.created_at).total_seconds() / 3600:.1f} h",
            f"{(r.expires_at - now).total_seconds() / 3600:.1f} h",
            r.reason,
        ]
        for r in pending.head(PENDING_SHOWN).itertuples()
    ]
    waiting = (
        html.table(
            ["suggestion", "order", "action", "tier", "parameters", "waiting", "expires in", "why"],
            rows,
            left=5,
        )  # fmt: skip
        if rows
        else "<p>Nothing waits for a decision.</p>"
    )
    return html.section(
        "Suggested actions",
        tiles,
        per_action,
        f"<h3>Waiting for a decision (oldest first, at most {PENDING_SHOWN})</h3>",
        waiting,
        note="Actions the policy suggests instead of firing (mode: suggest) wait for a person: "
        "POST /suggestions/confirm or /suggestions/reject. Figures as of the service's last "
        "snapshot of its ledger.",
    )


def _params(raw: str) -> str:
    params = json.loads(raw) if raw else {}
    return ", ".join(f"{k} {v}" for k, v in params.items()) or "–"
