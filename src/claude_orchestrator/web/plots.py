"""Two small inline SVG plots, drawn here (no library, nothing fetched): the spend over the
night (the supervisor's and Claude's estimate, added up as it happened) and the turns per hour
of each run. Numbers and our own labels go into the markup; any text from data is escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from claude_orchestrator.runlog.overview import Spend

W, H, LEFT, BOTTOM, TOP = 720, 190, 56, 24, 10


def _x(t: datetime, start: datetime, end: datetime, width: float) -> float:
    whole = max((end - start).total_seconds(), 1.0)
    return LEFT + (t - start).total_seconds() / whole * width


def _hour_ticks(start: datetime, end: datetime, width: float) -> str:
    """Local-time hour marks along the bottom (at most 12 of them)."""
    local = start.astimezone()
    first = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    hours = max(1, int((end - start).total_seconds() // 3600))
    step = max(1, -(-hours // 12))
    out = []
    t = first
    while t < end:
        x = _x(t, start, end, width)
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{H - BOTTOM}" '
                   f'stroke="#eef0f3"/><text x="{x:.1f}" y="{H - 8}" '
                   f'text-anchor="middle">{t:%H:%M}</text>')
        t += timedelta(hours=step)
    return "".join(out)


def spend_plot(points: Sequence[Spend], start: datetime, end: datetime) -> str:
    """Cumulative spend from `start` to `end`: supervisor, Claude (estimate), and both."""
    width, height = W - LEFT - 10, H - TOP - BOTTOM
    sup = claude = 0.0
    series: dict[str, list[tuple[float, float]]] = {"sup": [(LEFT, 0.0)],
                                                    "claude": [(LEFT, 0.0)],
                                                    "all": [(LEFT, 0.0)]}
    for p in points:
        x = _x(min(max(p.at, start), end), start, end, width)
        sup += p.supervisor_usd
        claude += p.claude_usd
        for name, value in (("sup", sup), ("claude", claude), ("all", sup + claude)):
            series[name].append((x, value))
    right = LEFT + width
    for name in series:
        series[name].append((right, series[name][-1][1]))
    top = max(sup + claude, 0.01)

    def path(pts: list[tuple[float, float]]) -> str:
        coords = []
        last_y = None
        for x, v in pts:
            y = TOP + height - v / top * height
            if last_y is not None:
                coords.append(f"{x:.1f},{last_y:.1f}")  # a step: spend happens at once
            coords.append(f"{x:.1f},{y:.1f}")
            last_y = y
        return " ".join(coords)

    lines = (f'<polyline fill="none" stroke="#8250df" stroke-width="1.5" '
             f'points="{path(series["sup"])}"/>'
             f'<polyline fill="none" stroke="#0969da" stroke-width="1.5" '
             f'points="{path(series["claude"])}"/>'
             f'<polyline fill="none" stroke="#1d2330" stroke-width="2" '
             f'points="{path(series["all"])}"/>')
    axis = (f'<text x="{LEFT - 6}" y="{TOP + 8}" text-anchor="end">${top:.2f}</text>'
            f'<text x="{LEFT - 6}" y="{TOP + height}" text-anchor="end">$0</text>'
            f'<line x1="{LEFT}" y1="{TOP + height}" x2="{right}" y2="{TOP + height}" '
            f'stroke="#dde1e8"/>')
    legend = (f'<text x="{LEFT + 6}" y="{TOP + 10}"><tspan fill="#1d2330">■ all '
              f'${sup + claude:.2f}</tspan>  <tspan fill="#8250df">■ supervisor ${sup:.2f}'
              f'</tspan>  <tspan fill="#0969da">■ Claude ~${claude:.2f} (estimate)</tspan>'
              "</text>")
    return (f'<svg class="plot" id="spend-plot" viewBox="0 0 {W} {H}" width="{W}" '
            f'height="{H}" role="img" aria-label="spend over time">'
            f"{_hour_ticks(start, end, width)}{axis}{lines}{legend}</svg>")


def turns_plot(turns: Mapping[str, Mapping[datetime, int]], names: Mapping[str, str],
               start: datetime, end: datetime, esc: Callable[[str], str],
               most: int = 20) -> str:
    """Per run (the busiest `most`), how many turns began in each hour: a row of shaded
    cells, darker for more. `esc` makes a run's name safe for the page."""
    busiest = sorted(turns, key=lambda r: -sum(turns[r].values()))[:most]
    if not busiest:
        return '<p class="dim">no turns in this window</p>'
    first = start.replace(minute=0, second=0, microsecond=0)
    hours = max(1, -(-int((end - first).total_seconds()) // 3600))
    label_w, row_h = 170, 16
    cell = (W - label_w - 10) / hours
    counts = {r: [0] * hours for r in busiest}
    for r in busiest:
        for hour, n in turns[r].items():
            i = int((hour - first).total_seconds() // 3600)
            if 0 <= i < hours:
                counts[r][i] += n
    peak = max(1, *(max(c) for c in counts.values()))
    rows = []
    for n, r in enumerate(busiest):
        y = TOP + n * row_h
        name = esc(names.get(r, r)[:26])
        rows.append(f'<text x="{label_w - 6}" y="{y + 11}" text-anchor="end">{name}</text>')
        for i, c in enumerate(counts[r]):
            if c:
                shade = 0.15 + 0.85 * c / peak
                rows.append(f'<rect x="{label_w + i * cell:.1f}" y="{y}" width="'
                            f'{max(cell - 1, 1):.1f}" height="{row_h - 2}" fill="#0969da" '
                            f'fill-opacity="{shade:.2f}"><title>{c} turn(s)</title></rect>')
    height = TOP + len(busiest) * row_h + 20
    local = first.astimezone()
    marks = "".join(
        f'<text x="{label_w + i * cell:.1f}" y="{height - 6}">'
        f"{(local + timedelta(hours=i)):%H}h</text>"
        for i in range(0, hours, max(1, -(-hours // 12))))
    return (f'<svg class="plot" id="turns-plot" viewBox="0 0 {W} {height}" width="{W}" '
            f'height="{height}" role="img" aria-label="turns per hour per run">'
            f"{''.join(rows)}{marks}</svg>")
