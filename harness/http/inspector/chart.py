"""Charts drawn on the server as inline SVG: readable without JavaScript, nothing to load.

Every mark carries a ``<title>`` (a tooltip, and what a screen reader says), and each
chart a title and a description; the tables beside the charts hold the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from markupsafe import escape

from harness.abtasty.records import RefreshRun
from harness.core.clock import format_instant
from harness.segment.records import Attempt

WIDTH = 900
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 56, 56, 20, 44
PLOT_W = WIDTH - LEFT - RIGHT
PLOT_H = HEIGHT - TOP - BOTTOM
OUTCOME_CLASS = {"delivered": "ok", "retry": "retry", "failed": "bad"}


def _x(when: datetime, start: datetime, span: float) -> float:
    return LEFT + PLOT_W * (when - start).total_seconds() / span


def _text(x: float, y: float, label: str, css: str = "", anchor: str = "middle") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{css}">{escape(label)}</text>'
    )


def _day_ticks(start: datetime, end: datetime, span: float) -> list[str]:
    marks = []
    days = max(1, round((end - start).total_seconds() / 86_400))
    step = max(1, days // 10)
    day = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    n = 0
    while day < end:
        if n % step == 0:
            x = _x(day, start, span)
            marks.append(
                f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + PLOT_H}" class="grid"/>'
            )
            marks.append(_text(x, HEIGHT - BOTTOM + 16, day.strftime("%b %d"), "tick"))
        day += timedelta(days=1)
        n += 1
    return marks


def refresh_chart(
    runs: Sequence[RefreshRun], now: datetime, next_run: datetime, catch_up_after: float
) -> str:
    """The nightly runs over simulated days.

    Bars: the messages each run took; dots joined by lines: matched profiles (filled) and
    cohorts (hollow) after it; a bracket under each bar from its cutoff to its scheduled
    time; catch-up runs (made more than ``catch_up_after`` seconds late) hatched and marked;
    vertical lines for the clock's present and the next scheduled run.
    """
    first = runs[0].cutoff if runs else now - timedelta(days=1)
    start = min(first, now) - timedelta(hours=6)
    end = max(now, next_run) + timedelta(hours=6)
    span = (end - start).total_seconds()
    most_messages = max([r.messages for r in runs] + [1])
    most_counts = max([max(r.matched_profiles, r.cohorts) for r in runs] + [1])
    days = span / 86_400
    bar = max(3.0, min(28.0, PLOT_W / days * 0.35))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-labelledby="refresh-chart-title refresh-chart-desc" class="chart">',
        '<title id="refresh-chart-title">Nightly refresh runs</title>',
        f'<desc id="refresh-chart-desc">{len(runs)} run(s) from '
        f"{escape(format_instant(start))} to {escape(format_instant(end))}: bars are the messages "
        "each run took, filled dots the matched profiles, hollow dots the cohorts after it; "
        "hatched bars are catch-up runs.</desc>",
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" class="catchup-bg"/>'
        '<line x1="0" y1="0" x2="0" y2="6" class="catchup-line"/></pattern></defs>',
        f'<rect x="{LEFT}" y="{TOP}" width="{PLOT_W}" height="{PLOT_H}" class="plot"/>',
        *_day_ticks(start, end, span),
        _text(LEFT - 8, TOP + 10, f"{most_messages:,}", "axis", "end"),
        _text(LEFT - 8, TOP + PLOT_H, "0", "axis", "end"),
        _text(WIDTH - RIGHT + 8, TOP + 10, f"{most_counts:,}", "axis", "start"),
        f'<text x="0" y="0" transform="translate(14 {TOP + PLOT_H / 2:.0f}) rotate(-90)" '
        'text-anchor="middle" class="axis-label">messages taken</text>',
        f'<text x="0" y="0" transform="translate({WIDTH - 10} {TOP + PLOT_H / 2:.0f}) rotate(90)" '
        'text-anchor="middle" class="axis-label">profiles, cohorts</text>',
    ]
    matched_points = []
    cohort_points = []
    for run in runs:
        x = _x(run.scheduled_for, start, span)
        late = (run.ran_at - run.scheduled_for).total_seconds() if run.ran_at else 0.0
        catch_up = late > catch_up_after
        height = PLOT_H * run.messages / most_messages
        label = (
            f"Run {format_instant(run.scheduled_for)} (cutoff {format_instant(run.cutoff)}): "
            f"{run.messages} message(s), {run.matched_profiles} matched profile(s), "
            f"{run.cohorts} cohort(s), {run.entered} entered, {run.left} left"
        )
        if catch_up and run.ran_at is not None:
            label += f"; catch-up run, made at {format_instant(run.ran_at)}"
        css = "bar catchup" if catch_up else "bar"
        parts.append(
            f'<g class="run" data-scheduled="{escape(format_instant(run.scheduled_for))}">'
            f"<title>{escape(label)}</title>"
            f'<rect x="{x - bar / 2:.1f}" y="{TOP + PLOT_H - height:.1f}" width="{bar:.1f}" '
            f'height="{max(height, 1):.1f}" class="{css}"/>'
        )
        cutoff_x = _x(run.cutoff, start, span)
        parts.append(
            f'<line x1="{cutoff_x:.1f}" y1="{TOP + PLOT_H + 6}" x2="{x:.1f}" '
            f'y2="{TOP + PLOT_H + 6}" class="cutoff"/>'
        )
        if catch_up:
            parts.append(_text(x, TOP + PLOT_H - height - 4, "↻", "catchup-mark"))
        parts.append("</g>")
        matched_points.append((x, TOP + PLOT_H * (1 - run.matched_profiles / most_counts)))
        cohort_points.append((x, TOP + PLOT_H * (1 - run.cohorts / most_counts)))
    for points, css in ((matched_points, "matched"), (cohort_points, "cohorts")):
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" class="line {css}"/>')
        parts.extend(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" class="dot {css}"/>' for x, y in points
        )
    for when, css, label in ((now, "now", "now"), (next_run, "next", "next run")):
        x = _x(when, start, span)
        parts.append(
            f'<g class="{css}"><title>{escape(label)}: {escape(format_instant(when))}</title>'
            f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{TOP + PLOT_H}" class="marker {css}"/>'
            + _text(x, TOP - 8 if css == "now" else HEIGHT - 4, label, f"marker-label {css}")
            + "</g>"
        )
    if not runs:
        parts.append(
            _text(
                LEFT + PLOT_W / 2,
                TOP + PLOT_H / 2,
                f"No refresh has run yet; the first is at {format_instant(next_run)}.",
                "empty",
            )
        )
    parts.append("</svg>")
    return "".join(parts)


def attempts_chart(
    received_at: datetime | None,
    history: Sequence[Attempt],
    next_attempt_at: datetime | None,
    now: datetime,
) -> str:
    """One message's delivery attempts to one destination on a time line."""
    height = 110
    times = [a.at for a in history] + [t for t in (received_at, next_attempt_at) if t]
    start = min(times) if times else now
    end = max([*times, start + timedelta(minutes=1)])
    span = (end - start).total_seconds() * 1.08 or 60.0
    y = 52
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        'aria-label="Delivery attempts on a time line" class="chart attempts">',
        f'<line x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}" class="axis-line"/>',
    ]
    if received_at is not None:
        x = _x(received_at, start, span)
        parts.append(
            f"<g><title>received {escape(format_instant(received_at))}</title>"
            f'<rect x="{x - 4:.1f}" y="{y - 4}" width="8" height="8" class="received"/></g>'
        )
        parts.append(_text(x, y + 26, "received", "tick"))
    for number, attempt in enumerate(history, start=1):
        x = _x(attempt.at, start, span)
        css = OUTCOME_CLASS.get(attempt.outcome, "retry")
        status = "timeout" if attempt.status is None else str(attempt.status)
        parts.append(
            f"<g><title>attempt {number} at {escape(format_instant(attempt.at))}: "
            f"{escape(status)} ({escape(attempt.outcome)})</title>"
            f'<circle cx="{x:.1f}" cy="{y}" r="7" class="attempt {css}"/></g>'
        )
        parts.append(_text(x, y - 14, status, f"status {css}"))
        parts.append(_text(x, y + 26, f"#{number}", "tick"))
    if next_attempt_at is not None:
        x = _x(next_attempt_at, start, span)
        last = _x(history[-1].at, start, span) if history else LEFT
        parts.append(
            f'<line x1="{last:.1f}" y1="{y}" x2="{x:.1f}" y2="{y}" class="pending"/>'
            f"<g><title>next attempt due {escape(format_instant(next_attempt_at))}</title>"
            f'<circle cx="{x:.1f}" cy="{y}" r="6" class="attempt due"/></g>'
        )
        parts.append(_text(x, y + 26, "next", "tick"))
    parts.append(_text(LEFT, height - 6, format_instant(start), "tick", "start"))
    parts.append(_text(WIDTH - RIGHT, height - 6, format_instant(end), "tick", "end"))
    parts.append("</svg>")
    return "".join(parts)
