"""Tickets frame → signals table, one row per ticket (the input of the ticket feature views)."""

from __future__ import annotations

import pandas as pd

from nlp.scoring import TicketModels, score_texts

KEY_COLUMNS = ("ticket_id", "order_id", "customer_id", "created_at")
UNTRAINED = "untrained"
"""``pipeline_version`` of signals scored in a home where no pipeline was trained."""


def extract_signals(
    tickets: pd.DataFrame, models: TicketModels, *, batch_size: int = 512
) -> pd.DataFrame:
    """Run the ticket models over a tickets frame.

    Args:
        tickets: frame in the tickets contract (``ticket_id``, ``created_at``, ``text``;
            optional ``order_id``, ``customer_id``, ``language``; extra columns are ignored).
        models: :meth:`nlp.scoring.TicketModels.load` (a trained version, or the rules).
        batch_size: spaCy batch size.

    Returns:
        One row per ticket, in input order: :data:`KEY_COLUMNS` (``created_at`` as a UTC
        timestamp), the columns of :func:`nlp.scoring.score_texts` (``label_<name>`` per trained
        label, ``model`` and ``sentiment_model`` saying which model answered) and
        ``pipeline_version``.
    """
    created = pd.to_datetime(tickets["created_at"], utc=True)
    scored = score_texts(
        tickets["text"],
        models,
        languages=tickets.get("language"),
        times=created,
        batch_size=batch_size,
    )
    keys = pd.DataFrame(index=tickets.index)
    for column in ("ticket_id", "order_id", "customer_id"):
        keys[column] = tickets.get(column)
    keys["created_at"] = created
    out = pd.concat([keys, scored], axis=1)
    out["pipeline_version"] = models.version or UNTRAINED
    return out.reset_index(drop=True)
