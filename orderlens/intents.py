"""The ticket intent taxonomy: what a customer-service ticket can be about (multi-label).

The synthetic world labels tickets with these names, the spaCy pipeline predicts them, and the
feature store counts them. ``labels`` in the tickets source is these names joined by ``|``.
"""

from __future__ import annotations

INTENTS: dict[str, str] = {
    "where_is_my_order": "asks where the parcel is or when it will arrive",
    "delay_complaint": "complains that the delivery is late",
    "damaged_item": "the goods or the parcel arrived damaged",
    "wrong_or_missing_item": "received the wrong item or something is missing",
    "refund_request": "wants money back",
    "return_or_exchange": "wants to return or exchange the goods",
    "installation_booking": "wants installation or assembly booked",
    "technical_consult": "asks a technical or usage question about the product",
    "address_change": "wants to change the delivery address or time",
    "invoice_request": "needs an invoice (fapiao) or receipt",
    "praise": "thanks or praises the service",
}
INTENT_NAMES: tuple[str, ...] = tuple(INTENTS)
LABEL_SEPARATOR = "|"


def split_labels(labels: str | None) -> list[str]:
    """Turn a ``|``-joined label string into a list of intent names (empty for none)."""
    if not labels:
        return []
    return [label for label in labels.split(LABEL_SEPARATOR) if label]
