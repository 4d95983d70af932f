"""The unit table of durations, amounts and dates: what a customer wrote → the normalised value."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from nlp.quantities import amount_in, date_in, duration_in, zh_number

DURATIONS = [
    # text, language, value, unit, hours, late
    ("等了2个半小时才到", "zh", 2.5, "hour", 2.5, True),
    ("一个半小时", "zh", 1.5, "hour", 1.5, False),
    ("半个小时了", "zh", 0.5, "hour", 0.5, False),
    ("半小时", "zh", 0.5, "hour", 0.5, False),
    ("两个多小时", "zh", 2, "hour", 2, False),
    ("40分钟", "zh", 40, "minute", 40 / 60, False),
    ("等了三天了", "zh", 3, "day", 72, False),
    ("三四天", "zh", 3.5, "day", 84, False),
    ("十几天", "zh", 15, "day", 360, False),
    ("两周了还没到", "zh", 2, "week", 336, False),
    ("72小时没更新", "zh", 72, "hour", 72, False),
    ("住了快8个月", "zh", 8, "month", 8 * 730, False),
    ("一个半月", "zh", 1.5, "month", 1.5 * 730, False),
    ("晚了两天", "zh", 2, "day", 48, True),
    ("延误3天", "zh", 3, "day", 72, True),
    ("waited 3 days already", "en", 3, "day", 72, False),
    ("it is 3 days late", "en", 3, "day", 72, True),
    ("late by ten days", "en", 10, "day", 240, True),
    ("half an hour", "en", 0.5, "hour", 0.5, False),
    ("an hour and a half", "en", 1.5, "hour", 1.5, False),
    ("2 and a half hours", "en", 2.5, "hour", 2.5, False),
    ("two weeks late", "en", 2, "week", 336, True),
    ("a couple of days", "en", 2, "day", 48, False),
    ("90 minutes on hold", "en", 90, "minute", 1.5, False),
    ("48h and nothing", "en", 48, "hour", 48, False),
    ("1.5 hours", "en", 1.5, "hour", 1.5, False),
    ("8 months ago", "en", 8, "month", 8 * 730, False),
]


@pytest.mark.parametrize(("text", "lang", "value", "unit", "hours", "late"), DURATIONS)
def test_duration_unit_table(text, lang, value, unit, hours, late):
    duration = duration_in(text, lang)
    assert duration is not None, text
    assert (duration.value, duration.unit, duration.late) == (value, unit, late)
    assert math.isclose(duration.hours, hours)


@pytest.mark.parametrize("text", ["2025年5月", "8月12日", "no time here", "周三下午", "2025年"])
def test_not_durations(text):
    assert duration_in(text, "zh" if not text.isascii() else "en") is None


@pytest.mark.parametrize(
    ("text", "number"),
    [("十二", 12), ("二十五", 25), ("一百二十", 120), ("两", 2), ("半", 0.5), ("几", 3), ("8", 8)],
)
def test_chinese_numbers(text, number):
    assert zh_number(text) == number


@pytest.mark.parametrize(
    ("text", "value", "currency"),
    [
        ("I paid ¥1,299 for it", 1299, "CNY"),
        ("退款199元", 199, "CNY"),
        ("人民币1200元的空调", 1200, "CNY"),
        ("花了1.2万元", 12000, "CNY"),
        ("refund 299 yuan now", 299, "CNY"),
        ("charged RMB 150 twice", 150, "CNY"),
        ("it cost $25", 25, "USD"),
        ("30 euros", 30, "EUR"),
        ("£12.50 shipping", 12.5, "GBP"),
    ],
)
def test_amounts(text, value, currency):
    amount = amount_in(text)
    assert amount is not None and (amount.value, amount.currency) == (value, currency)


REFERENCE = pd.Timestamp("2025-05-20 10:00", tz="UTC")


@pytest.mark.parametrize(
    ("text", "lang", "reference", "iso"),
    [
        ("5月12日下单", "zh", REFERENCE, "2025-05-12"),
        ("2024年12月30日下单", "zh", REFERENCE, "2024-12-30"),
        ("ordered on 12 May", "en", REFERENCE, "2025-05-12"),
        ("since May 12th", "en", REFERENCE, "2025-05-12"),
        ("on 28 December", "en", pd.Timestamp("2025-01-02", tz="UTC"), "2024-12-28"),
        ("delivered 2025-03-04", "en", None, "2025-03-04"),
        ("ordered on 12 May", "en", None, "--05-12"),
        ("on 31/12", "en", REFERENCE, "2024-12-31"),
    ],
)
def test_dates_are_iso(text, lang, reference, iso):
    assert date_in(text, lang, reference) == iso


def test_impossible_date_is_not_a_date():
    assert date_in("on 31 Feb", "en", REFERENCE) is None
