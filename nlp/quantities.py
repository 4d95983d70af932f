"""Durations, amounts and dates in ticket text, and their normalised values.

The regular expressions here are the entity patterns' (nlp/patterns.py puts them in its table)
and the parsers read the same groups back, so what is found and what it is worth never disagree.
All patterns run on lower-cased text.

Durations come back in the unit the customer used *and* in hours: "2个半小时" is 2.5 hours,
"half an hour" 0.5 hours, "快8个月" 8 months (≈5,840 h: a month is 730 h), "3 days late" 72 hours
and, because of "late", a delay of 72 hours. Amounts come back with their currency ("¥1,299" →
1299 CNY, "1.2万元" → 12000 CNY, "$25" → 25 USD); dates as ISO dates, the year taken from the
ticket's own time when the text gives none ("5月12日" on a ticket of 2025-05-20 → 2025-05-12).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date

import pandas as pd

UNIT_HOURS = {"minute": 1 / 60, "hour": 1.0, "day": 24.0, "week": 168.0, "month": 730.0,
              "year": 8760.0}  # fmt: skip
"""Hours per unit (a month is a twelfth of 365 days)."""

# --- numbers ---------------------------------------------------------------------------------
_EN_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "ninety": 90, "few": 3, "a few": 3,
    "several": 3, "couple": 2, "couple of": 2, "a couple": 2, "a couple of": 2,
}  # fmt: skip
_ZH_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}  # fmt: skip
_EN_NUMBER = (
    r"\d+(?:\.\d+)?|a\s+couple(?:\s+of)?|couple(?:\s+of)?|a\s+few|an?|one|two|three|four|five|"
    r"six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty|ninety|"
    r"few|several"
)
_ZH_NUMBER = r"\d+(?:\.\d+)?|[零一二两三四五六七八九十百几半]+"


def zh_number(text: str) -> float:
    """A number written in Chinese numerals (or digits): 十二 → 12, 二十五 → 25, 一百二十 → 120,
    两 → 2, 半 → 0.5, 三四 → 3.5 ("three or four"), 几 → 3 ("a few"), 十几 → 15; NaN if
    unreadable."""
    if not text:
        return math.nan
    if text[0].isdigit():
        return float(text)
    if text == "半":
        return 0.5
    if len(text) == 2 and all(c in _ZH_DIGITS for c in text):  # 三四 = three or four
        return (_ZH_DIGITS[text[0]] + _ZH_DIGITS[text[1]]) / 2
    total, current = 0.0, None
    for char in text:
        if char in _ZH_DIGITS:
            current = _ZH_DIGITS[char]
        elif char == "几":
            current = 5 if total else 3  # 十几 ≈ 15; 几 alone ≈ "a few"
        elif char in "十百":
            total += (1 if current is None else current) * (10 if char == "十" else 100)
            current = None
        else:
            return math.nan
    return total + (current or 0)


def en_number(text: str) -> float:
    """A number written in digits or English words ("two", "a couple of"); NaN if unreadable."""
    text = re.sub(r"\s+", " ", text.strip())
    if text and text[0].isdigit():
        return float(text)
    value = _EN_NUMBER_WORDS.get(text)
    return math.nan if value is None else float(value)


# --- durations -------------------------------------------------------------------------------
_EN_UNIT = r"minutes?|mins?|hours?|hrs?|days?|weeks?|wks?|months?|years?|yrs?"
EN_DURATION = (
    rf"\bhalf\s+an?\s+(?P<half_unit>hour|day|week|month|year)\b"
    rf"|\b(?P<num>{_EN_NUMBER})(?P<and_half>\s+and\s+a\s+half|\s*½)?[\s-]*(?P<unit>{_EN_UNIT})\b"
    rf"(?P<and_half_after>\s+and\s+a\s+half)?"
    r"|(?<![\w.])(?P<num_short>\d+(?:\.\d+)?)\s?(?P<unit_short>h|hrs?)\b"
)
_ZH_UNIT = r"小时|钟头|分钟|天|周|星期|礼拜"
ZH_DURATION = (
    r"(?P<approx>快|近|将近|大约|约|差不多)?(?<![\d.])"
    rf"(?:(?P<num>{_ZH_NUMBER})\s?个?(?P<half>半)?(?P<more>多)?\s?个?(?P<unit>{_ZH_UNIT})"
    rf"|(?P<num_month>{_ZH_NUMBER})\s?个(?P<half_month>半)?(?P<more_month>多)?月"
    r"|(?P<num_year>\d{1,2}(?:\.\d+)?|[一二两三四五六七八九十几半]+)(?P<more_year>多)?年(?![\d级代])"
    r")"
)
_ZH_UNITS = {"小时": "hour", "钟头": "hour", "分钟": "minute", "天": "day", "周": "week",
             "星期": "week", "礼拜": "week"}  # fmt: skip
_EN_LATE_AFTER = re.compile(r"\s*(?:late|overdue|behind(?: schedule)?|delayed|past due)\b")
_EN_LATE_BEFORE = re.compile(r"\b(?:late|delayed|overdue|behind)\s+(?:by|for)\s*$")
_ZH_LATE_BEFORE = re.compile(r"(?:晚|迟|延误|延迟|推迟|超时|晚到|迟到|超期)了?\s*$")
_ZH_LATE_AFTER = re.compile(r"\s*(?:才到|才送到|才发货)")


@dataclass(frozen=True)
class Duration:
    """A duration as written (``value`` ``unit``) and in hours; ``late`` when the text says the
    order is that much late ("3 days late", "晚了两天")."""

    value: float
    unit: str
    late: bool = False

    @property
    def hours(self) -> float:
        """The duration in hours."""
        return self.value * UNIT_HOURS[self.unit]


def _en_unit(unit: str) -> str:
    unit = unit.rstrip("s")
    return {"min": "minute", "hr": "hour", "h": "hour", "wk": "week", "yr": "year"}.get(unit, unit)


def parse_duration(match: re.Match[str], text: str, lang: str) -> Duration | None:
    """The :class:`Duration` of a match of :data:`EN_DURATION` / :data:`ZH_DURATION` in
    ``text`` (the lower-cased text it was found in: "late" is read around it)."""
    groups = match.groupdict()
    before, after = text[max(0, match.start() - 12) : match.start()], text[match.end() :]
    if lang == "zh":
        if groups["num"] is not None:
            value, unit = zh_number(groups["num"]), _ZH_UNITS[groups["unit"]]
            value += 0.5 if groups["half"] else 0.0
        elif groups["num_month"] is not None:
            value, unit = zh_number(groups["num_month"]), "month"
            value += 0.5 if groups["half_month"] else 0.0
        else:
            value, unit = zh_number(groups["num_year"]), "year"
        late = bool(_ZH_LATE_BEFORE.search(before) or _ZH_LATE_AFTER.match(after))
    else:
        if groups["half_unit"]:
            value, unit = 0.5, groups["half_unit"]
        elif groups["num"] is not None:
            value, unit = en_number(groups["num"]), _en_unit(groups["unit"])
            value += 0.5 if (groups["and_half"] or groups["and_half_after"]) else 0.0
        else:
            value, unit = float(groups["num_short"]), "hour"
        late = bool(_EN_LATE_AFTER.match(after) or _EN_LATE_BEFORE.search(before))
    if math.isnan(value):
        return None
    return Duration(value=value, unit=unit, late=late)


def duration_in(text: str, lang: str) -> Duration | None:
    """The first duration in a text (any case), or None."""
    lowered = text.lower()
    match = (_ZH_DURATION_RE if lang == "zh" else _EN_DURATION_RE).search(lowered)
    if match is None and lang == "zh":  # Chinese tickets mix in English durations
        match, lang = _EN_DURATION_RE.search(lowered), "en"
    return None if match is None else parse_duration(match, lowered, lang)


_EN_DURATION_RE = re.compile(EN_DURATION)
_ZH_DURATION_RE = re.compile(ZH_DURATION)

# --- money -----------------------------------------------------------------------------------
_AMOUNT = r"\d(?:[\d,]*\d)?(?:\.\d+)?"
MONEY = (
    rf"(?P<symbol>[¥￥$€£]|\b(?:rmb|cny|usd|eur|gbp)\s?|人民币)(?P<amount>{_AMOUNT})"
    r"(?P<scale>\s?[万千k])?(?:\s?元)?"
    # Bare amounts start at the first digit of a number: the leftmost match is the same, and
    # the engine no longer re-reads a long order number from each of its digits.
    rf"|(?<!\d)(?P<amount2>{_AMOUNT})(?P<scale2>\s?[万千])?\s?"
    r"(?P<word>元|块钱|块|美元|欧元|英镑|(?:yuan|rmb|cny|dollars?|usd|euros?|eur|pounds?|gbp)\b)"
)
_CURRENCIES = {
    "¥": "CNY", "￥": "CNY", "rmb": "CNY", "cny": "CNY", "人民币": "CNY", "元": "CNY", "块": "CNY",
    "块钱": "CNY", "yuan": "CNY", "$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD",
    "美元": "USD", "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR", "欧元": "EUR",
    "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP", "英镑": "GBP",
}  # fmt: skip
_SCALES = {"万": 10_000, "千": 1_000, "k": 1_000}


@dataclass(frozen=True)
class Amount:
    """An amount of money in currency units and its ISO 4217 currency code."""

    value: float
    currency: str


def parse_amount(match: re.Match[str]) -> Amount:
    """The :class:`Amount` of a match of :data:`MONEY`."""
    groups = match.groupdict()
    number = groups["amount"] or groups["amount2"]
    scale = (groups["scale"] or groups["scale2"] or "").strip()
    marker = (groups["symbol"] or groups["word"]).strip()
    value = float(number.replace(",", "")) * _SCALES.get(scale, 1)
    return Amount(value=value, currency=_CURRENCIES.get(marker, "CNY"))


_MONEY_RE = re.compile(MONEY)


def amount_in(text: str) -> Amount | None:
    """The first amount of money in a text, or None."""
    match = _MONEY_RE.search(text.lower())
    return None if match is None else parse_amount(match)


# --- dates -----------------------------------------------------------------------------------
_EN_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_EN_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
ZH_DATES = (
    r"(?:(?P<year>\d{4})年)?(?P<month>\d{1,2})月(?P<day>\d{1,2})[日号]",
    r"(?P<iso_year>\d{4})[-/](?P<iso_month>\d{1,2})[-/](?P<iso_day>\d{1,2})",
)
EN_DATES = (
    rf"\b(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<month_name>{_EN_MONTH})(?![a-z])"
    r"(?:,?\s+(?P<year>\d{4}))?",
    rf"\b(?P<month_name>{_EN_MONTH})\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(?P<year>\d{{4}}))?",
    r"\b(?P<iso_year>\d{4})[-/](?P<iso_month>\d{1,2})[-/](?P<iso_day>\d{1,2})\b",
    r"\b(?P<first>\d{1,2})/(?P<second>\d{1,2})(?:/(?P<year>\d{2,4}))?\b",
)


def parse_date(match: re.Match[str], reference: pd.Timestamp | None = None) -> str | None:
    """A date match as an ISO date (``2025-05-12``); ``--05-12`` when neither the text nor
    ``reference`` (the ticket's time) gives the year; None when it is no calendar date.

    Without a year, the year is the reference's, moved by one when that puts the date more than
    half a year away from the ticket (a ticket of 2 January about "28 December" means last
    year). ``d/m`` vs ``m/d``: a first number above 12 is a day, else month first (US style).
    """
    groups = match.groupdict()
    year = groups.get("year") or groups.get("iso_year")
    if groups.get("iso_month"):
        month, day = int(groups["iso_month"]), int(groups["iso_day"])
    elif groups.get("month_name"):
        month, day = _EN_MONTHS.index(groups["month_name"][:3]) + 1, int(groups["day"])
    elif groups.get("first"):
        first, second = int(groups["first"]), int(groups["second"])
        month, day = (second, first) if first > 12 else (first, second)
    else:
        month, day = int(groups["month"]), int(groups["day"])
    if year is not None:
        year_number = int(year) + (2000 if len(year) == 2 else 0)
    elif reference is not None and not pd.isna(reference):
        year_number = _nearest_year(month, day, pd.Timestamp(reference))
    else:
        return f"--{month:02d}-{day:02d}" if _valid(2024, month, day) else None  # leap year
    return date(year_number, month, day).isoformat() if _valid(year_number, month, day) else None


def _nearest_year(month: int, day: int, reference: pd.Timestamp) -> int:
    year = reference.year
    if not _valid(year, month, day):
        return year
    offset = (pd.Timestamp(year=year, month=month, day=day) - reference.tz_localize(None)
              if reference.tzinfo else pd.Timestamp(year=year, month=month, day=day) - reference)  # fmt: skip
    if offset.days > 183:
        return year - 1
    if offset.days < -183:
        return year + 1
    return year


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


_DATE_RES = {"zh": [re.compile(p) for p in ZH_DATES], "en": [re.compile(p) for p in EN_DATES]}


def date_in(text: str, lang: str, reference: pd.Timestamp | None = None) -> str | None:
    """The first calendar date in a text as an ISO date (see :func:`parse_date`), or None."""
    lowered = text.lower()
    found = [
        m for regex in _DATE_RES["zh" if lang == "zh" else "en"] if (m := regex.search(lowered))
    ]
    for match in sorted(found, key=lambda m: m.start()):
        value = parse_date(match, reference)
        if value is not None:
            return value
    return None
