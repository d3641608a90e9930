"""The HTML tables of a simulated week's report, and how their values are written as text.

Every cell is escaped HTML; a missing or non-numeric value shows as a dash, never as an error.
Ratios are percentages with one decimal, dollars have 4 decimals (6 below a cent, so a cheap day
does not read as $0.0000).
"""

from __future__ import annotations

import html
from typing import Any

from academy.simulation.report_data import (
    ACADEMY,
    TEACHER,
    academy_of,
    as_dict,
    as_list,
    finite_number,
    policy_day,
    policy_names,
    sorted_days,
)

DASH = "–"


def pct(value: Any) -> str:
    """A ratio as a percentage with one decimal (0.2834 -> '28.3%'), or a dash."""
    number = finite_number(value)
    return DASH if number is None else f"{number * 100:.1f}%"


def usd(value: Any) -> str:
    """Dollars: 4 decimals, 6 for sub-cent amounts so that a cheap day does not read as $0.0000."""
    number = finite_number(value)
    if number is None:
        return DASH
    return f"${number:,.4f}" if abs(number) >= 0.01 or number == 0 else f"${number:.6f}"


def plain(value: Any, decimals: int = 1) -> str:
    """A number with fixed decimals (ints stay ints), or a dash."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    number = finite_number(value)
    return DASH if number is None else f"{number:.{decimals}f}"


def esc(value: Any) -> str:
    """Any value as escaped HTML text."""
    return html.escape(str(value), quote=True)


def html_table(
    headers: list[str],
    rows: list[list[str]],
    text_cols: tuple[int, ...] = (0,),
    row_classes: list[str] | None = None,
) -> str:
    """An HTML table from already-escaped cells; the ``text_cols`` columns are left-aligned text."""

    def cells(tag: str, values: list[str]) -> str:
        return "".join(
            f'<{tag} class="text">{v}</{tag}>' if i in text_cols else f"<{tag}>{v}</{tag}>"
            for i, v in enumerate(values)
        )

    head = f"<tr>{cells('th', [esc(h) for h in headers])}</tr>"
    classes = row_classes or [""] * len(rows)
    body = "".join(
        f'<tr class="{esc(cls)}">{cells("td", row)}</tr>' if cls else f"<tr>{cells('td', row)}</tr>"
        for row, cls in zip(rows, classes)
    )
    return f"<table>{head}{body}</table>"


def _mark(value: float | None, target: float | None, at_most: bool) -> str:
    """A pass/miss badge for one headline number against its target."""
    if value is None or target is None:
        return '<span class="muted">no target</span>' if target is None else DASH
    ok = value <= target if at_most else value >= target
    return '<span class="pass">✓ pass</span>' if ok else '<span class="miss">✗ miss</span>'


def headline(result: dict[str, Any]) -> str:
    """Academy vs always-teacher, last day and overall, each against its target."""
    summary, targets = as_dict(result.get("summary")), as_dict(result.get("targets"))
    cost_target, quality_target = (
        finite_number(targets.get("cost_ratio")),
        finite_number(targets.get("quality_ratio")),
    )
    rows = []
    for key, label, target, at_most, sign in [
        ("cost_ratio", "cost vs always-teacher", cost_target, True, "≤"),
        ("quality_ratio", "quality vs always-teacher", quality_target, False, "≥"),
    ]:
        block = as_dict(summary.get(key))
        last, overall = finite_number(block.get("last_day")), finite_number(block.get("overall"))
        rows.append(
            [
                esc(label),
                esc(DASH if target is None else f"{sign} {pct(target)}"),
                esc(pct(last)),
                _mark(last, target, at_most),
                esc(pct(overall)),
                _mark(overall, target, at_most),
            ]
        )
    table = html_table(["Academy", "target", "last day", "", "overall", ""], rows)
    return f'<h2>Headline</h2><div class="headline">{table}</div>'


def settings_table(result: dict[str, Any]) -> str:
    """The simulation's settings as a key/value table, so a report says how it was produced."""
    settings = as_dict(result.get("settings"))
    rows = [[esc(key), esc(value)] for key, value in settings.items()]
    wall = finite_number(result.get("wall_seconds"))
    if wall is not None:
        rows.append([esc("wall seconds"), esc(f"{wall:.1f}")])
    return "<h2>Settings</h2>" + (
        html_table(["setting", "value"], rows, text_cols=(0, 1)) if rows else "<p>none</p>"
    )


def policy_table(result: dict[str, Any]) -> str:
    """Every policy's overall and last-day ratios against always-teacher."""
    overall, days = as_dict(result.get("overall")), sorted_days(result)
    last = days[-1] if days else {}
    rows, classes = [], []
    for policy in policy_names(result):
        total, final = as_dict(overall.get(policy)), policy_day(last, policy)
        rows.append(
            [
                esc(policy),
                esc(pct(total.get("cost_ratio"))),
                esc(pct(total.get("quality_ratio"))),
                esc(pct(final.get("cost_ratio"))),
                esc(pct(final.get("quality_ratio"))),
                esc(usd(total.get("cost"))),
                esc(plain(total.get("quality"), 3)),
            ]
        )
        classes.append("academy" if policy == ACADEMY else "")
    headers = ["policy", "overall cost ratio", "overall quality ratio", "last-day cost ratio"]
    headers += ["last-day quality ratio", "overall cost $", "overall quality"]
    return "<h2>Policies</h2>" + html_table(headers, rows, row_classes=classes)


def _novel_share(routes: dict[str, Any]) -> float | None:
    """The share of Academy's queries routed as novel (no close neighbour in the store)."""
    total = sum(finite_number(v) or 0.0 for v in routes.values())
    novel = finite_number(routes.get("novel"))
    return None if novel is None or total <= 0 else novel / total


def _day_row(day: dict[str, Any]) -> list[str]:
    """One row of the per-day table."""
    academy, mine, teacher = academy_of(day), policy_day(day, ACADEMY), policy_day(day, TEACHER)
    calls = as_dict(academy.get("judge_calls"))
    cost = finite_number(mine.get("cost"))
    if cost is None and as_dict(academy.get("cost")):
        cost = sum(finite_number(v) or 0.0 for v in as_dict(academy["cost"]).values())
    events = [str(e) for e in as_list(day.get("events"))]
    return [
        esc(day["day"]),
        esc(plain(day.get("queries"))),
        "<br>".join(esc(e) for e in events) or DASH,
        esc(pct(_novel_share(as_dict(academy.get("routes"))))),
        esc(usd(cost)),
        esc(usd(teacher.get("cost"))),
        esc(pct(mine.get("cost_ratio"))),
        esc(pct(mine.get("quality_ratio"))),
        esc(plain(calls.get("online"), 0)),
        esc(plain(calls.get("nightly"), 0)),
        esc(plain(calls.get("supervisor"), 0)),
        esc(plain(academy.get("training_seconds"))),
    ]


def per_day_table(result: dict[str, Any]) -> str:
    """What happened each day: traffic, events, costs, ratios, supervision and training."""
    headers = ["day", "queries", "events", "novel share", "academy cost $", "always-teacher cost $"]
    headers += ["cost ratio", "quality ratio", "judge calls online", "judge calls nightly"]
    headers += ["of them by the supervisor", "training s"]
    rows = [_day_row(day) for day in sorted_days(result)]
    return (
        "<h2>Per day</h2>" + html_table(headers, rows, text_cols=(2,))
        if rows
        else "<h2>Per day</h2><p>no days</p>"
    )


def students_table(result: dict[str, Any]) -> str:
    """Per day and domain: each student's own accuracy next to the share of the domain it served,
    and Academy's cost split into answers, judging, training and practice."""
    headers = ["day", "domain", "queries", "student", "right on its own", "share served"]
    rows = []
    for day in sorted_days(result):
        for domain, figures in sorted(as_dict(academy_of(day).get("students")).items()):
            accuracy, served = as_dict(figures.get("accuracy")), as_dict(figures.get("served"))
            for student in sorted(accuracy):
                rows.append(
                    [
                        esc(day["day"]),
                        esc(domain),
                        esc(plain(figures.get("queries"), 0)),
                        esc(student),
                        esc(pct(accuracy.get(student))),
                        esc(pct(served.get(student))),
                    ]
                )
    costs = [
        [esc(day["day"])]
        + [
            esc(usd(as_dict(academy_of(day).get("cost")).get(k)))
            for k in ("answers", "judge", "training", "practice")
        ]
        + [esc(plain(academy_of(day).get("training_cpu_seconds")))]
        for day in sorted_days(result)
    ]
    cost_headers = ["day", "answers $", "judging $", "training $", "practice $", "training CPU s"]
    return (
        "<h2>What the students know, and what they are given</h2>"
        + (html_table(headers, rows, text_cols=(1, 3)) if rows else "<p>no students</p>")
        + "<h2>Where Academy's money goes</h2>"
        + (html_table(cost_headers, costs) if costs else "<p>no days</p>")
    )


def _night_row(day: dict[str, Any], night: dict[str, Any]) -> list[str]:
    """One row of the nights table: which students were trained to which version and stage."""
    students = []
    for student in as_list(night.get("students")):
        student = as_dict(student)
        version = student.get("version")
        name = esc(student.get("student", "?"))
        students.append(
            f"{name} → {esc('v' + str(version) if version is not None else DASH)} ({esc(student.get('stage', DASH))})"
        )
    roles = [
        f"{esc(model)} → {esc(as_dict(change).get('role', DASH))}"
        + (
            f' <span class="muted">({esc(as_dict(change)["reason"])})</span>'
            if as_dict(change).get("reason")
            else ""
        )
        for model, change in as_dict(night.get("role_changes")).items()
    ]
    return [
        esc(day["day"]),
        esc(plain(night.get("seconds"))),
        "<br>".join(students) or DASH,
        "<br>".join(roles) or DASH,
    ]


def nights_table(result: dict[str, Any]) -> str:
    """Each night's duration and outcome per student."""
    rows = [
        _night_row(day, as_dict(day.get("night")))
        for day in sorted_days(result)
        if isinstance(day.get("night"), dict)
    ]
    if not rows:
        return "<h2>Nights</h2><p>no nights</p>"
    return "<h2>Nights</h2>" + html_table(
        ["night after day", "seconds", "students trained", "role changes"], rows, text_cols=(2, 3)
    )
