"""The registry of the 19 value dimensions (DESIGN.md "The 19 value dimensions").

Each dimension names its quadrant, whether higher is better, and whether it is binary (models
classify those and are graded by AUC) or continuous (regression, graded by R²). The realised
targets themselves are computed from outcomes by :func:`features.labels.value_targets`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Quadrant = Literal["financial", "customer", "operational", "strategic"]
QUADRANTS: tuple[Quadrant, ...] = ("financial", "customer", "operational", "strategic")


@dataclass(frozen=True)
class ValueDimension:
    """One dimension of the value an order creates."""

    name: str
    quadrant: Quadrant
    higher_is_better: bool
    binary: bool
    description: str

    @property
    def metric(self) -> Literal["auc", "r2"]:
        """How a model of this dimension is graded."""
        return "auc" if self.binary else "r2"


def _dim(name: str, quadrant: Quadrant, better: str, description: str, *, binary: bool = False):
    return ValueDimension(name, quadrant, better == "higher", binary, description)


DIMENSIONS: tuple[ValueDimension, ...] = (
    _dim("net_revenue", "financial", "higher", "value − discount − refunds"),
    _dim("gross_margin", "financial", "higher", "net revenue − COGS − fulfilment cost"),
    _dim("fulfilment_cost", "financial", "lower", "freight + packing + expedite + compensation"),
    _dim("cash_conversion_days", "financial", "lower", "days from order to cash collected"),
    _dim(
        "promotion_efficiency",
        "financial",
        "higher",
        "gross margin per unit of promotion spend (discount + compensation + 10% of order value)",
    ),
    _dim(
        "repeat_purchase_90d",
        "customer",
        "higher",
        "customer orders again within 90 days",
        binary=True,
    ),
    _dim("ltv_uplift", "customer", "higher", "change in 180-day customer spend after this order"),
    _dim("profile_enrichment", "customer", "higher", "new customer attributes/tags gained"),
    _dim("referral_leads", "customer", "higher", "referrals / social leads generated"),
    _dim("satisfaction", "customer", "higher", "review score / NPS proxy (1–5)"),
    _dim("on_time_delivery", "operational", "higher", "delivered by the promise", binary=True),
    _dim("exchange_avoidance", "operational", "higher", "no exchange or return", binary=True),
    _dim("reverse_logistics_cost", "operational", "lower", "cost of returns/exchanges/re-delivery"),
    _dim("service_effort_minutes", "operational", "lower", "customer-service minutes spent"),
    _dim(
        "first_attempt_success",
        "operational",
        "higher",
        "delivered on the first attempt",
        binary=True,
    ),
    _dim("cross_category_pull", "strategic", "higher", "later purchases in other categories"),
    _dim("service_attach", "strategic", "higher", "installation/consult/warranty revenue attached"),
    _dim("partner_share", "strategic", "higher", "revenue shared with service partners"),
    _dim("carbon_kg", "strategic", "lower", "CO2e of fulfilment in kg"),
)
DIMENSION_NAMES: tuple[str, ...] = tuple(d.name for d in DIMENSIONS)
BY_NAME: dict[str, ValueDimension] = {d.name: d for d in DIMENSIONS}
