"""Ticket text for the synthetic world: intents rendered as English or Chinese customer messages.

Each intent has several paraphrase templates per language; a ticket with several intents joins
one clause per intent. Slots are filled with the order's own entities (order reference, amount,
duration, product). ``template_id`` names the templates used so evaluation can hold whole
templates out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from orderlens.intents import LABEL_SEPARATOR, split_labels

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "where_is_my_order": {
        "en": (
            "Where is my order {order_ref}?",
            "Can you tell me when order {order_ref} will arrive?",
            "I have been waiting {duration} and still no sign of my {product}.",
        ),
        "zh": (
            "我的订单{order_ref}到哪里了？",
            "请问订单{order_ref}什么时候能到？",
            "等了{duration}了，我的{product}还没到。",
        ),
    },
    "delay_complaint": {
        "en": (
            "My {product} is {duration} late, this is unacceptable.",
            "Order {order_ref} was supposed to arrive already, why the delay?",
            "Very disappointed, delivery is late again.",
        ),
        "zh": (
            "我的{product}已经晚了{duration}，太不像话了。",
            "订单{order_ref}早就该到了，为什么延误？",
            "又延迟发货了，非常失望。",
        ),
    },
    "damaged_item": {
        "en": (
            "The {product} arrived broken.",
            "The box was crushed and the {product} inside is damaged.",
            "Order {order_ref} came damaged.",
        ),
        "zh": (
            "收到的{product}是坏的。",
            "箱子被压坏了，里面的{product}也破损了。",
            "订单{order_ref}到货破损。",
        ),
    },
    "wrong_or_missing_item": {
        "en": (
            "I received the wrong item in order {order_ref}.",
            "One {product} is missing from my parcel.",
            "This is not what I ordered.",
        ),
        "zh": ("订单{order_ref}发错货了。", "包裹里少了一件{product}。", "这不是我买的东西。"),
    },
    "refund_request": {
        "en": (
            "I want a refund of {amount}.",
            "Please refund my money for order {order_ref}.",
            "Give me my {amount} back.",
        ),
        "zh": ("我要退款{amount}。", "请把订单{order_ref}的钱退给我。", "把{amount}退回来。"),
    },
    "return_or_exchange": {
        "en": (
            "I would like to return the {product}.",
            "Can I exchange the {product} for another size?",
            "How do I send this back?",
        ),
        "zh": ("我想退货，{product}不要了。", "{product}能换一个吗？", "怎么寄回去？"),
    },
    "installation_booking": {
        "en": (
            "Please book installation for my {product}.",
            "When can a technician come to install the {product}?",
            "I need someone to set up the {product}.",
        ),
        "zh": (
            "请帮我预约{product}的安装。",
            "师傅什么时候上门安装{product}？",
            "需要人来安装{product}。",
        ),
    },
    "technical_consult": {
        "en": (
            "How do I configure the {product}?",
            "What is the maximum load of the {product}?",
            "Is the {product} compatible with my system?",
        ),
        "zh": ("{product}怎么设置？", "{product}的最大负载是多少？", "{product}和我的系统兼容吗？"),
    },
    "address_change": {
        "en": (
            "Please change the delivery address for order {order_ref}.",
            "Can you deliver to my office instead?",
            "I moved, please update the address.",
        ),
        "zh": ("请修改订单{order_ref}的收货地址。", "能改送到我公司吗？", "我搬家了，请更新地址。"),
    },
    "invoice_request": {
        "en": (
            "I need an invoice for order {order_ref}.",
            "Please send the VAT invoice for {amount}.",
            "Can I get a receipt?",
        ),
        "zh": ("请开订单{order_ref}的发票。", "请给我开{amount}的增值税发票。", "能给个收据吗？"),
    },
    "praise": {
        "en": (
            "Thanks, the {product} arrived early!",
            "Great service, very fast delivery.",
            "Really happy with order {order_ref}.",
        ),
        "zh": ("谢谢，{product}提前到了！", "服务很好，送货很快。", "订单{order_ref}非常满意。"),
    },
}

PRODUCT_WORDS: dict[str, dict[str, str]] = {
    "electronics": {"en": "phone", "zh": "手机"},
    "home_appliances": {"en": "washing machine", "zh": "洗衣机"},
    "apparel": {"en": "jacket", "zh": "外套"},
    "beauty": {"en": "lipstick", "zh": "口红"},
    "fresh_food": {"en": "fruit box", "zh": "水果"},
    "grocery": {"en": "rice", "zh": "大米"},
    "furniture": {"en": "sofa", "zh": "沙发"},
    "books": {"en": "book", "zh": "书"},
    "toys": {"en": "toy", "zh": "玩具"},
    "sports": {"en": "bike", "zh": "自行车"},
    "industrial_supplies": {"en": "pump", "zh": "水泵"},
    "health": {"en": "vitamins", "zh": "维生素"},
}


def render_ticket_texts(tickets: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Write the text of each ticket from its intents.

    Args:
        tickets: one row per ticket with ``labels`` (``|``-joined intents), ``language``
            (``en``/``zh``), ``order_ref`` (the order's reference as the customer writes it),
            ``category``, ``amount`` (money the ticket may mention) and ``waited_days``.
        rng: the world's random generator.

    Returns:
        A frame aligned with ``tickets`` with ``text`` and ``template_id``.
    """
    texts: list[str] = []
    template_ids: list[str] = []
    for row in tickets.itertuples(index=False):
        language = row.language
        clauses, ids = [], []
        for intent in split_labels(row.labels):
            options = TEMPLATES[intent][language]
            pick = int(rng.integers(len(options)))
            clauses.append(
                options[pick].format(
                    order_ref=row.order_ref,
                    product=PRODUCT_WORDS[row.category][language],
                    amount=_money(row.amount, language),
                    duration=_duration(row.waited_days, language),
                )
            )
            ids.append(f"{intent}.{language}.{pick}")
        texts.append((" " if language == "en" else "").join(clauses))
        template_ids.append(LABEL_SEPARATOR.join(ids))
    return pd.DataFrame({"text": texts, "template_id": template_ids}, index=tickets.index)


def _money(amount: float, language: str) -> str:
    return f"¥{amount:.0f}" if language == "en" else f"{amount:.0f}元"


def _duration(days: float, language: str) -> str:
    days_int = max(1, round(days))
    if language == "en":
        return f"{days_int} day{'s' if days_int != 1 else ''}"
    return f"{days_int}天"
