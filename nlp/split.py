"""Honest train/held-out splits for ticket labels.

For the synthetic world's tickets (they carry ``template_id``): whole paraphrase templates and
some product vocabulary are held out, so the held-out score measures generalisation to new
wordings, not recall of seen sentences. For real tickets: a seeded random 20%.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from orderlens.intents import LABEL_SEPARATOR


@dataclass(frozen=True)
class TicketSplit:
    """Train and held-out frames, and what was held out."""

    train: pd.DataFrame
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
    heldout_share: float = 0.2,
    heldout_words: tuple[str, ...] | None = None,
) -> TicketSplit:
    """Split labelled tickets into train / held-out.

    With a ``template_id`` column, ``template_share`` of the templates of every
    ``intent.language`` (at least one) are held out; a ticket goes to the held-out set when any
    of its templates is held out or its text contains a held-out product word. Without
    ``template_id`` (real tickets) the held-out set is a random ``heldout_share`` and
    ``by_template`` is False.

    Args:
        tickets: frame with ``text``, ``language``, ``labels`` and optionally ``template_id``.
        seed: which templates (or rows) are held out.
        template_share: share of each intent's templates held out.
        heldout_share: share of the rows held out when there are no templates.
        heldout_words: product words to hold out with templates (default
            :func:`heldout_product_words`).

    Returns:
        A :class:`TicketSplit`.
    """
    rng = np.random.default_rng(seed)
    words: tuple[str, ...] = ()
    if "template_id" in tickets and tickets["template_id"].notna().all():
        words = heldout_product_words() if heldout_words is None else heldout_words
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
        in_heldout = rng.random(len(tickets)) < heldout_share
    if words:
        lowered = tickets["text"].fillna("").str.lower()
        pattern = "|".join(_escape(w) for w in words)
        in_heldout = in_heldout | lowered.str.contains(pattern, regex=True).to_numpy()
    return TicketSplit(
        train=tickets[~in_heldout],
        heldout=tickets[in_heldout],
        heldout_templates=tuple(sorted(held)),
        heldout_words=tuple(words),
        by_template=by_template,
    )


def _escape(word: str) -> str:
    import re

    return re.escape(word.lower())
