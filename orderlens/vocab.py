"""Vocabularies: the demo world's category names, and the few the system itself gives meaning to.

Vocabularies are data, not code. The source contract takes any string in a categorical column
(a shop's own channels, categories, payment methods, languages, label names); a business that
wants strictness declares an allowed list per column in the settings
(``contract.allowed_values``). The names below are what the *simulator* writes (the demo's world)
and nothing checks orders against them. Only ``TRACKING_EVENTS`` is part of the contract: the
tracking features read route stages into those event names (map a carrier's own scan codes to
them in the ingest mapping), and ``ORDER_FLAGS`` names the contract's optional flag columns.
"""

from __future__ import annotations

CHANNELS = (
    "app",
    "web",
    "wechat_mini_program",
    "livestream",
    "marketplace",
    "b2b_portal",
    "social_group_buy",
)
CATEGORIES = (
    "electronics",
    "home_appliances",
    "apparel",
    "beauty",
    "fresh_food",
    "grocery",
    "furniture",
    "books",
    "toys",
    "sports",
    "industrial_supplies",
    "health",
)
SERVICE_LEVELS = ("economy", "standard", "express", "next_day")
PAYMENT_METHODS = (
    "alipay",
    "wechat_pay",
    "card",
    "cash_on_delivery",
    "bank_transfer",
    "credit_terms",
)
ORDER_FLAGS = ("is_presale", "needs_customization", "cold_chain", "has_gift", "is_b2b")

ALERT_TYPES = ("rainstorm", "typhoon", "snow", "heat", "fog")
ALERT_LEVEL_NAMES = {0: "none", 1: "blue", 2: "yellow", 3: "orange", 4: "red"}

TRACKING_EVENTS = (
    "created",
    "picked",
    "departed_origin",
    "arrived_hub",
    "departed_hub",
    "arrived_dest_hub",
    "out_for_delivery",
    "delivered",
    "exception",
)
"""Tracking event types in the order a parcel normally passes them (``exception`` may come anywhere)."""

EXCEPTION_CODES = (
    "weather_hold",
    "hub_backlog",
    "sorting_error",
    "vehicle_breakdown",
    "address_problem",
    "recipient_absent",
    "damaged_parcel",
)
TICKET_CHANNELS = ("chat", "phone", "email", "app")
LANGUAGES = ("en", "zh")
