"""Honest train/dev/held-out splits for ticket intents.

Held out: whole paraphrase templates (by ``template_id``) and some product vocabulary, so the
held-out score measures generalisation to new wordings, not recall of seen sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from orderlens.intents import LABEL_SEPARATOR


@dataclass(frozen=True)
class TicketSplit:
    """Train, dev and held-out frames, and what was held out."""

    train: pd.DataFrame
    dev: pd.DataFrame
    heldout: pd.DataFrame
    heldout_templates: tuple[str, ...]
    heldout_words: tuple[str, ...]
    by_template: bool


def heldout_product_words() -> tuple[str, ...]:
    """Product words never shown in training: the last word of each category and language."""
    from nlp.patterns import product_words

    return tuple(words[-1] for per_lang in product_words().values() for words in per_lang.values())


def split_tickets(
    tickets: pd.DataFrame,
    *,
    seed: int = 0,
    template_share: float = 0.25,
    dev_share: float = 0.1,
    heldout_words: tuple[str, ...] | None = None,
) -> TicketSplit:
    """Split labelled tickets into train / dev / held-out.

    With a ``template_id`` column, ``template_share`` of the templates of every
    ``intent.language`` (at least one) are held out; a ticket goes to the held-out set when any
    of its templates is held out or its text contains a held-out product word. Without
    ``template_id`` (real tickets) the held-out set is a random 20% and ``by_template`` is False.

    Args:
        tickets: frame with ``text``, ``language``, ``labels`` and optionally ``template_id``.
        seed: which templates are held out, and the train/dev draw.
        template_share: share of each intent's templates held out.
        dev_share: share of the remaining tickets used as spaCy's dev set.
        heldout_words: product words to hold out (default :func:`heldout_product_words`).

    Returns:
        A :class:`TicketSplit`.
    """
    rng = np.random.default_rng(seed)
    words = heldout_product_words() if heldout_words is None else heldout_words
    if "template_id" in tickets and tickets["template_id"].notna().all():
        template_lists = tickets["template_id"].str.split(LABEL_SEPARATOR, regex=False)
        templates = sorted(set(template_lists.explode().dropna()))
        families: dict[str, list[str]] = {}
        for template in templates:
            families.setdefault(template.rsplit(".", 1)[0], []).append(template)
        held: list[str] = []
        for members in families.values():
            k = max(1, round(template_share * len(members)))
            held += list(rng.choice(members, size=min(k, len(members)), replace=False))
        held_set = set(held)
        in_heldout = template_lists.map(lambda ids: any(t in held_set for t in ids)).to_numpy()
        by_template = True
    else:
        held, by_template = [], False
        in_heldout = rng.random(len(tickets)) < 0.2
    if words:
        lowered = tickets["text"].fillna("").str.lower()
        pattern = "|".join(_escape(w) for w in words)
        in_heldout = in_heldout | lowered.str.contains(pattern, regex=True).to_numpy()
    rest = tickets[~in_heldout]
    is_dev = rng.random(len(rest)) < dev_share
    return TicketSplit(
        train=rest[~is_dev],
        dev=rest[is_dev],
        heldout=tickets[in_heldout],
        heldout_templates=tuple(sorted(held)),
        heldout_words=tuple(words),
        by_template=by_template,
    )


def _escape(word: str) -> str:
    import re

    return re.escape(word.lower())
