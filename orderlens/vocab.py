"""The business's vocabularies: the allowed values the source contract checks against."""

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
