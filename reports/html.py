"""Self-contained HTML for the reports we draw ourselves: one page shell with inline CSS, tables
and inline SVG charts. No JavaScript and nothing fetched: a page reads the same offline, in a
mail attachment or from a file share.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape

PALETTE = ("#2f6db5", "#e07b39", "#3a9d5d", "#b8434e", "#7d5ba6", "#8c8c3c", "#2aa1a8", "#999")

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#f6f7f9}
header{background:#1f3b5a;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;opacity:.85}
main{padding:8px 28px 40px;max-width:1400px}
section{background:#fff;border:1px solid #e2e5ea;border-radius:6px;padding:14px 18px;margin:16px 0}
h2{font-size:17px;margin:0 0 8px} h3{font-size:15px;margin:14px 0 6px}
p.note{color:#555;margin:4px 0 10px}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}
th,td{border:1px solid #e2e5ea;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#f0f2f5;position:sticky;top:0} td.l,th.l{text-align:left}
.scroll{overflow-x:auto;max-height:640px}
.tiles{display:flex;flex-wrap:wrap;gap:12px}
.tile{background:#f0f4f9;border-radius:6px;padding:10px 14px;min-width:150px}
.tile b{display:block;font-size:20px} .tile span{color:#555;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
svg text{font:11px system-ui,sans-serif;fill:#333}
a{color:#1f5fa8}
"""


def page(title: str, subtitle: str, sections: Sequence[str]) -> str:
    """A complete HTML document: header, then each section's HTML in order."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)} · generated {stamp}</p></header>"
        f"<main>{body}</main></body></html>\n"
    )


def section(title: str, *parts: str, note: str | None = None) -> str:
    """A titled card; ``note`` is a plain-text explanation shown under the title."""
    text = f"<p class='note'>{escape(note)}</p>" if note else ""
    return f"<section><h2>{escape(title)}</h2>{text}{''.join(parts)}</section>"


def tiles(items: Mapping[str, str]) -> str:
    """Headline figures: label → already formatted value."""
    cells = "".join(
        f"<div class='tile'><b>{escape(value)}</b><span>{escape(label)}</span></div>"
        for label, value in items.items()
    )
    return f"<div class='tiles'>{cells}</div>"


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    left: int = 1,
    colours: Sequence[Sequence[str | None]] | None = None,
) -> str:
    """An HTML table. The first ``left`` columns are left-aligned (labels); cells are escaped.

    Args:
        colours: optional background colour per cell (same shape as ``rows``; None: none).
    """
    head = "".join(
        f"<th class='{'l' if i < left else ''}'>{escape(str(h))}</th>" for i, h in enumerate(header)
    )
    body = []
    for r, row in enumerate(rows):
        cells = []
        for i, value in enumerate(row):
            colour = colours[r][i] if colours is not None else None
            style = f" style='background:{colour}'" if colour else ""
            cls = " class='l'" if i < left else ""
            cells.append(f"<td{cls}{style}>{escape(str(value))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<div class='scroll'><table><tr>{head}</tr>{''.join(body)}</table></div>"


def pct(x: float | None, digits: int = 1) -> str:
    """``0.1234`` → ``12.3%`` (a dash for missing)."""
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f}%"


def num(x: float | None, digits: int = 2) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:,.{digits}f}"


def lift_colour(lift: float | None) -> str | None:
    """Green where a segment brings more of a value than its share of orders, red where less."""
    if lift is None or not math.isfinite(lift):
        return None
    if lift >= 1:
        strength = min((lift - 1) / 0.5, 1.0)
        return f"rgba(58,157,93,{0.08 + 0.5 * strength:.2f})"
    strength = min((1 - lift) / 0.5, 1.0)
    return f"rgba(184,67,78,{0.08 + 0.5 * strength:.2f})"


# --- SVG charts ------------------------------------------------------------------------------
def bar_chart(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    percent: bool = True,
    width: int = 560,
) -> str:
    """Horizontal grouped bars: one group per label, one bar per series (values ≥ 0)."""
    n_series = max(len(series), 1)
    bar, gap, label_w, top = 9, 8, 150, 34
    group_h = n_series * bar + gap
    height = top + len(labels) * group_h + 10
    values = [v for vs in series.values() for v in vs if math.isfinite(v)]
    vmax = max([v for v in values if v > 0], default=1.0)
    plot_w = width - label_w - 60
    parts = [
        _svg_open(width, height),
        f"<text x='4' y='14' font-weight='bold'>{escape(title)}</text>",
    ]
    parts.append(_legend(list(series), 4, 28, width))
    for i, label in enumerate(labels):
        y0 = top + i * group_h
        parts.append(
            f"<text x='{label_w - 6}' y='{y0 + group_h / 2}' text-anchor='end' "
            f"dominant-baseline='middle'>{escape(str(label))[:24]}</text>"
        )
        for j, (_, vals) in enumerate(series.items()):
            v = vals[i] if math.isfinite(vals[i]) else 0.0
            w = max(v, 0) / vmax * plot_w
            y = y0 + j * bar
            parts.append(
                f"<rect x='{label_w}' y='{y}' width='{w:.1f}' height='{bar - 1}' "
                f"fill='{PALETTE[j % len(PALETTE)]}'><title>{escape(str(label))}: "
                f"{pct(v) if percent else num(v)}</title></rect>"
            )
            text = pct(v) if percent else num(v)
            parts.append(
                f"<text x='{label_w + w + 3:.1f}' y='{y + bar - 2}' font-size='9'>{text}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def interval_chart(
    labels: Sequence[str],
    means: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    *,
    reference: float | None = None,
    title: str = "",
    unit: str = "",
    width: int = 560,
) -> str:
    """Horizontal dots with interval whiskers, one row per label (values may be negative), and
    an optional dashed reference line (e.g. the mean of all orders)."""
    row_h, label_w, top = 18, 150, 30
    height = top + len(labels) * row_h + 24
    finite = [v for v in (*means, *lows, *highs, reference or 0.0) if math.isfinite(v)]
    lo, hi = min(finite, default=0.0), max(finite, default=1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    pad = 0.05 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    plot_w = width - label_w - 70

    def sx(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * plot_w

    parts = [
        _svg_open(width, height),
        f"<text x='4' y='14' font-weight='bold'>{escape(title)}</text>",
    ]
    if reference is not None and math.isfinite(reference):
        x = sx(reference)
        parts.append(
            f"<line x1='{x:.1f}' y1='{top - 6}' x2='{x:.1f}' y2='{height - 20}' stroke='#888' "
            f"stroke-dasharray='4 3'/><text x='{x:.1f}' y='{height - 6}' text-anchor='middle' "
            f"font-size='9'>all orders {escape(num(reference, 0))} {escape(unit)}</text>"
        )
    for i, label in enumerate(labels):
        y = top + i * row_h + row_h / 2
        parts.append(
            f"<text x='{label_w - 6}' y='{y}' text-anchor='end' dominant-baseline='middle'>"
            f"{escape(str(label))[:24]}</text>"
        )
        if math.isfinite(lows[i]) and math.isfinite(highs[i]):
            parts.append(
                f"<line x1='{sx(lows[i]):.1f}' y1='{y}' x2='{sx(highs[i]):.1f}' y2='{y}' "
                f"stroke='{PALETTE[0]}' stroke-width='2'/>"
            )
        if math.isfinite(means[i]):
            tip = f"{label}: {num(means[i], 0)} {unit} [{num(lows[i], 0)}, {num(highs[i], 0)}]"
            parts.append(
                f"<circle cx='{sx(means[i]):.1f}' cy='{y}' r='4' fill='{PALETTE[1]}'>"
                f"<title>{escape(tip)}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def radar_chart(
    axes: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str = "", size: int = 300
) -> str:
    """A radar (spider) chart on a 0–100 scale: one polygon per series."""
    cx, cy, r = size / 2, size / 2 + 14, size / 2 - 58
    k = len(axes)

    def point(i: int, value: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * i / k
        d = r * max(0.0, min(value, 100.0)) / 100
        return cx + d * math.cos(angle), cy + d * math.sin(angle)

    parts = [
        _svg_open(size, size + 30),
        f"<text x='4' y='14' font-weight='bold'>{escape(title)}</text>",
    ]
    for level in (25, 50, 75, 100):
        ring = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, level) for i in range(k)))
        parts.append(f"<polygon points='{ring}' fill='none' stroke='#ddd'/>")
    for i, axis in enumerate(axes):
        x, y = point(i, 100)
        lx, ly = point(i, 122)
        parts.append(f"<line x1='{cx}' y1='{cy}' x2='{x:.1f}' y2='{y:.1f}' stroke='#ccc'/>")
        parts.append(
            f"<text x='{lx:.1f}' y='{ly:.1f}' text-anchor='middle' "
            f"dominant-baseline='middle'>{escape(axis)}</text>"
        )
    for j, (name, values) in enumerate(series.items()):
        colour = PALETTE[j % len(PALETTE)]
        poly = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, v) for i, v in enumerate(values)))
        tip = ", ".join(f"{a} {v:.0f}" for a, v in zip(axes, values, strict=True))
        parts.append(
            f"<polygon points='{poly}' fill='{colour}' fill-opacity='0.18' stroke='{colour}' "
            f"stroke-width='2'><title>{escape(name)}: {escape(tip)}</title></polygon>"
        )
    parts.append(_legend(list(series), 4, size + 22, size))
    parts.append("</svg>")
    return "".join(parts)


def xy_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    diagonal: bool = False,
    width: int = 420,
    height: int = 300,
) -> str:
    """Lines with point markers (e.g. a calibration curve, a daily series); ``diagonal`` draws
    y = x (the perfectly calibrated line)."""
    points = [p for pts in series.values() for p in pts if all(map(math.isfinite, p))]
    xs = [p[0] for p in points] or [0.0, 1.0]
    ys = [p[1] for p in points] or [0.0, 1.0]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(min(ys), 0.0), max(ys)
    if diagonal:
        x0, y0, x1, y1 = min(x0, y0), min(x0, y0), max(x1, y1), max(x1, y1)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    left, right, top, bottom = 56, 12, 38, 36

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def sy(y: float) -> float:
        return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)

    parts = [
        _svg_open(width, height),
        f"<text x='4' y='14' font-weight='bold'>{escape(title)}</text>",
    ]
    parts.append(_legend(list(series), 4, 28, width))
    parts.append(
        f"<rect x='{left}' y='{top}' width='{width - left - right}' "
        f"height='{height - top - bottom}' fill='none' stroke='#ccc'/>"
    )
    for t in range(5):
        yv, xv = y0 + (y1 - y0) * t / 4, x0 + (x1 - x0) * t / 4
        parts.append(f"<text x='{left - 4}' y='{sy(yv):.1f}' text-anchor='end'>{_short(yv)}</text>")
        parts.append(
            f"<text x='{sx(xv):.1f}' y='{height - bottom + 13}' text-anchor='middle'>{_short(xv)}</text>"
        )
    parts.append(
        f"<text x='{(left + width) / 2}' y='{height - 4}' text-anchor='middle'>{escape(x_label)}</text>"
        f"<text transform='rotate(-90)' x='{-(top + height - bottom) / 2}' y='11' "
        f"text-anchor='middle'>{escape(y_label)}</text>"
    )
    if diagonal:
        parts.append(
            f"<line x1='{sx(x0):.1f}' y1='{sy(x0):.1f}' x2='{sx(x1):.1f}' y2='{sy(x1):.1f}' "
            "stroke='#999' stroke-dasharray='4 3'/>"
        )
    for j, (name, pts) in enumerate(series.items()):
        colour = PALETTE[j % len(PALETTE)]
        finite = [p for p in pts if all(map(math.isfinite, p))]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in finite)
        parts.append(f"<polyline points='{path}' fill='none' stroke='{colour}' stroke-width='2'/>")
        for x, y in finite:
            parts.append(
                f"<circle cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='3' fill='{colour}'>"
                f"<title>{escape(name)}: {_short(x)}, {_short(y)}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _svg_open(width: float, height: float) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img'>"
    )


def _legend(names: Sequence[str], x: float, y: float, width: float) -> str:
    parts, cursor = [], x
    for j, name in enumerate(names):
        if cursor > width - 60:
            break
        parts.append(
            f"<rect x='{cursor}' y='{y - 8}' width='10' height='10' fill='{PALETTE[j % len(PALETTE)]}'/>"
            f"<text x='{cursor + 14}' y='{y + 1}'>{escape(name)}</text>"
        )
        cursor += 24 + 6.5 * len(name)
    return "".join(parts)


def _short(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.2f}".rstrip("0").rstrip(".") if abs(v) < 10 else f"{v:.0f}"
