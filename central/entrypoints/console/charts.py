"""Server-side SVG charts: OEE trend, downtime Pareto, variance waterfall, machine timeline.

Plain SVG strings (no JavaScript, nothing to download): the page embeds them. Amounts stay
``Decimal`` everywhere else; here they become pixel positions only. Every label is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from markupsafe import Markup, escape

__all__ = ["trend", "pareto", "waterfall", "timeline", "KIND_COLOURS"]

_W, _H, _PAD = 640, 220, 36
KIND_COLOURS = {"run": "#2e8b57", "planned": "#8a8f98", "downtime": "#c0392b", "idle": "#d9d9d9"}


def _svg(width: int, height: int, body: list[str], title: str) -> Markup:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
            f'role="img" aria-label="{escape(title)}" class="chart">')
    return Markup(head + f"<title>{escape(title)}</title>" + "".join(body) + "</svg>")


def _empty(title: str) -> Markup:
    return _svg(_W, 60, ['<text x="10" y="35" class="muted">no data yet</text>'], title)


def trend(points: Sequence[tuple[str, Decimal]], title: str = "OEE trend") -> Markup:
    """A line of ratios 0..1 per label (days), with the value at each point."""
    if not points:
        return _empty(title)
    n = len(points)
    step = (_W - 2 * _PAD) / max(n - 1, 1)

    def y(v: Decimal) -> float:
        v = min(max(v, Decimal(0)), Decimal(1))
        return _H - _PAD - float(v) * (_H - 2 * _PAD)

    xy = [(_PAD + i * step, y(v)) for i, (_, v) in enumerate(points)]
    body = [f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" class="axis"/>',
            f'<text x="4" y="{_PAD + 4}" class="muted">100%</text>',
            f'<text x="4" y="{_H - _PAD + 4}" class="muted">0%</text>',
            '<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="'
            + " ".join(f"{x:.1f},{yy:.1f}" for x, yy in xy) + '"/>']
    for (label, v), (x, yy) in zip(points, xy, strict=True):
        body.append(f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="3" fill="#1f6feb"/>')
        body.append(f'<text x="{x:.1f}" y="{yy - 8:.1f}" text-anchor="middle" class="val">'
                    f'{escape(f"{v * 100:.0f}%")}</text>')
        body.append(f'<text x="{x:.1f}" y="{_H - 12}" text-anchor="middle" class="muted">{escape(label[5:])}</text>')
    return _svg(_W, _H, body, title)


def pareto(items: Sequence[tuple[str, Decimal]], unit: str = "h", title: str = "Downtime Pareto") -> Markup:
    """Bars sorted largest first with the cumulative share as a line."""
    rows = sorted(((label, v) for label, v in items if v > 0), key=lambda kv: kv[1], reverse=True)
    if not rows:
        return _empty(title)
    total = sum((v for _, v in rows), Decimal(0))
    top = rows[0][1]
    slot = (_W - 2 * _PAD) / len(rows)
    body = [f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" class="axis"/>']
    cumulative, line = Decimal(0), []
    for i, (label, v) in enumerate(rows):
        h = float(v / top) * (_H - 2 * _PAD)
        x = _PAD + i * slot + slot * 0.15
        body.append(f'<rect x="{x:.1f}" y="{_H - _PAD - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
                    f'fill="#c0392b"><title>{escape(label)}: {escape(str(v))} {escape(unit)}</title></rect>')
        body.append(f'<text x="{x + slot * 0.35:.1f}" y="{_H - 12}" text-anchor="middle" class="muted">'
                    f'{escape(label[:14])}</text>')
        body.append(f'<text x="{x + slot * 0.35:.1f}" y="{_H - _PAD - h - 4:.1f}" text-anchor="middle" '
                    f'class="val">{escape(str(v))}</text>')
        cumulative += v
        line.append((x + slot * 0.35, _H - _PAD - float(cumulative / total) * (_H - 2 * _PAD)))
    body.append('<polyline fill="none" stroke="#333" stroke-dasharray="4 3" points="'
                + " ".join(f"{x:.1f},{yy:.1f}" for x, yy in line) + '"/>')
    return _svg(_W, _H, body, title)


def waterfall(steps: Sequence[tuple[str, Decimal]], title: str = "Variance waterfall") -> Markup:
    """Each variance type a step up (unfavourable, red) or down (favourable, green) from 0, then the total."""
    if not steps:
        return _empty(title)
    levels, running = [Decimal(0)], Decimal(0)
    for _, v in steps:
        running += v
        levels.append(running)
    lo, hi = min(levels), max(levels)
    span = (hi - lo) or Decimal(1)
    n = len(steps) + 1
    slot = (_W - 2 * _PAD) / n

    def y(v: Decimal) -> float:
        return _PAD + float((hi - v) / span) * (_H - 2 * _PAD)

    body = [f'<line x1="{_PAD}" y1="{y(Decimal(0)):.1f}" x2="{_W - _PAD}" y2="{y(Decimal(0)):.1f}" class="axis"/>']
    bars = [(label, levels[i], levels[i + 1], "#c0392b" if v > 0 else "#2e8b57") for i, (label, v) in
            enumerate(steps)] + [("total", Decimal(0), running, "#1f6feb")]
    for i, (label, a, b, colour) in enumerate(bars):
        top, bottom = y(max(a, b)), y(min(a, b))
        x = _PAD + i * slot + slot * 0.15
        body.append(f'<rect x="{x:.1f}" y="{top:.1f}" width="{slot * 0.7:.1f}" height="{max(bottom - top, 1):.1f}" '
                    f'fill="{colour}"><title>{escape(label)}: {escape(str(b - a))}</title></rect>')
        body.append(f'<text x="{x + slot * 0.35:.1f}" y="{_H - 6}" text-anchor="middle" class="muted">'
                    f'{escape(label.replace("_", " ")[:16])}</text>')
    return _svg(_W, _H + 10, body, title)


def timeline(spans: Sequence[dict[str, object]], seconds: float, title: str = "Machine timeline") -> Markup:
    """One horizontal band: each span (``offset``, ``length`` seconds, ``kind``, ``reason``) coloured by kind."""
    if seconds <= 0:
        return _empty(title)
    width, height = _W - 2 * _PAD, 40
    body = [f'<rect x="{_PAD}" y="10" width="{width}" height="{height}" fill="{KIND_COLOURS["idle"]}"/>']
    for s in spans:
        offset, length = float(str(s["offset"])), float(str(s["length"]))
        x, w = _PAD + offset / seconds * width, max(length / seconds * width, 0.5)
        kind = str(s["kind"])
        label = f"{kind} {s.get('reason') or ''} {s.get('work_order') or ''} {s.get('start')} ({s.get('hours')} h)"
        body.append(f'<rect x="{x:.2f}" y="10" width="{w:.2f}" height="{height}" '
                    f'fill="{KIND_COLOURS.get(kind, "#999")}"><title>{escape(label)}</title></rect>')
    return _svg(_W, 70, body, title)
