"""Every entity pattern, in English and Chinese, on a blank pipeline with the entity component."""

from __future__ import annotations

import re

import pytest
import spacy

import nlp.patterns  # noqa: F401
from nlp.store import register_components
from nlp.training import CHAR_TOKENIZER


def _ruler(lang: str):
    # Chinese as the ticket pipelines read it: by character (nlp/tokenizers.py).
    config = {"nlp": {"tokenizer": dict(CHAR_TOKENIZER)}} if lang == "zh" else {}
    register_components()
    pipeline = spacy.blank(lang, config=config)
    patterns = {"@misc": "orderlens.ticket_patterns.v1", "lang": lang}
    pipeline.add_pipe("orderlens_ticket_entities", config={"patterns": patterns})
    return pipeline


@pytest.fixture(scope="module")
def rulers():
    return {"en": _ruler("en"), "zh": _ruler("zh")}


CASES = [
    ("en", "Where is order OL00012345?", "ORDER_REF", "OL00012345"),
    ("en", "order number 123456789 please", "ORDER_REF", "123456789"),
    ("en", "ticket about #A1234567", "ORDER_REF", "#A1234567"),
    ("en", "I paid ¥1,299 for it", "MONEY", "¥1,299"),
    ("en", "refund 299 yuan now", "MONEY", "299 yuan"),
    ("en", "charged RMB 150 twice", "MONEY", "RMB 150"),
    ("en", "waited 3 days already", "DURATION", "3 days"),
    ("en", "two weeks late", "DURATION", "two weeks"),
    ("en", "72 hours and nothing", "DURATION", "72 hours"),
    ("en", "ordered on 12 May", "DATE", "12 May"),
    ("en", "since May 12th", "DATE", "May 12th"),
    ("en", "delivered on 12/05", "DATE", "12/05"),
    ("en", "my washing machine is broken", "PRODUCT", "washing machine"),
    ("en", "both smart watches", "PRODUCT", "smart watches"),
    ("zh", "我的订单OL00012345到哪里了？", "ORDER_REF", "OL00012345"),
    ("zh", "订单号：123456789 没到", "ORDER_REF", "123456789"),
    ("zh", "退款199元", "MONEY", "199元"),
    ("zh", "退我299块钱", "MONEY", "299块钱"),
    ("zh", "人民币1200元的空调", "MONEY", "人民币1200元"),
    ("zh", "付了¥88", "MONEY", "¥88"),
    ("zh", "等了三天了", "DURATION", "三天"),
    ("zh", "等了3天了", "DURATION", "3天"),
    ("zh", "两周了还没到", "DURATION", "两周"),
    ("zh", "72小时没更新", "DURATION", "72小时"),
    ("zh", "5月12日下单", "DATE", "5月12日"),
    ("zh", "洗衣机坏了", "PRODUCT", "洗衣机"),
]


@pytest.mark.parametrize(("lang", "text", "label", "expected"), CASES)
def test_entity_pattern(rulers, lang, text, label, expected):
    ents = [(e.label_, e.text) for e in rulers[lang](text).ents]
    found = [t for lab, t in ents if lab == label]
    assert found, f"no {label} in {text!r}: {ents}"
    # Chinese spans snap to tokens, which may run one character past the entity.
    assert found[0].startswith(expected)


def test_money_is_not_an_order_ref(rulers):
    ents = [(e.label_, e.text) for e in rulers["en"]("paid RMB129999 yesterday").ents]
    assert ents == [("MONEY", "RMB129999")]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_gate_is_implied_by_its_pattern(lang):
    # A gate only spares texts the search: wherever its pattern matches, the gate must match too.
    from nlp.patterns import ticket_patterns_v1
    from simulator.ticket_text import synthetic_tickets

    tickets = synthetic_tickets(3000, seed=5)
    texts = tickets.loc[tickets["language"] == lang, "text"].str.lower().tolist()
    texts += [
        "paid 1,299元",
        "ol123456789 ¥5",
        "rmb 88 on 3/4 2024-01-02",
        "7天 3周 12 hours",
        "$25 and 30 euros",
        "half an hour",
        "2个半小时",
        "快8个月",
        "48h",
        "1.2万元",
    ]
    gated = [p for p in ticket_patterns_v1(lang) if p.get("gate")]
    assert gated
    matched = 0
    for pattern in gated:
        regex, gate = re.compile(pattern["pattern"]), re.compile(pattern["gate"])
        for text in texts:
            if regex.search(text):
                matched += 1
                assert gate.search(text), (pattern["label"], text)
    assert matched > 100


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_gates_pass_exactly_when_their_regex_finds_something(lang):
    from nlp.patterns import _Gate, ticket_patterns

    texts = ["", "paid 20 dollars", "3h late", "arrived 5 min ago", "12/05", "2-3", "may 4",
             "订单12345678", "等了3个小时", "花了50元", "hello there", "wk", "¥9"]  # fmt: skip
    for gate in {p["gate"] for p in ticket_patterns(lang) if p.get("gate")}:
        for text in texts:
            expected = re.search(gate, text) is not None
            assert _Gate.compile(gate).passes(text) == expected, (gate, text)
