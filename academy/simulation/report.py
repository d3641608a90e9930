"""The report of a simulated week: one self-contained HTML page, the PNG plots it shows and the raw result.

The input is the plain JSON-able dict a simulation returns (see ``write_report``). Everything is read
defensively: a policy may lack a day, a value may be ``None``, unknown keys are ignored, so that a
long simulation never loses its report to one odd number. The raw result is written first
(``summary.json``) so that it survives even if a plot fails.

Plots use matplotlib's object API only (``Figure``, never ``pyplot``): no global figure state, no
backend selection, safe in a server process or a worker thread. matplotlib is imported lazily so
importing this module stays cheap.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PLOTS: tuple[str, ...] = (
    "cost_quality.png",
    "traffic_share.png",
    "domain_accuracy.png",
    "timeline.png",
    "supervisor_calls.png",
)

DPI = 110
ACADEMY = "academy"
TEACHER = "always_teacher"
DASH = "–"

# Marker, colour and legend label per timeline event kind; unknown kinds fall back to _OTHER_EVENT.
_EVENT_STYLES: dict[str, tuple[str, str, str]] = {
    "production": ("^", "#2ca02c", "promoted"),
    "staging": ("s", "#ff7f0e", "staging"),
    "rejected": ("X", "#d62728", "rejected"),
    "rollback": ("v", "#9467bd", "rollback"),
    "role:ta": ("D", "#1f77b4", "role → TA"),
    "role:teacher": ("*", "#8c564b", "role → teacher"),
    "role:student": ("o", "#7f7f7f", "role → student"),
}
_OTHER_EVENT = ("P", "#000000")

_CAPTIONS: dict[str, str] = {
    "cost_quality.png": "Cost (left) and quality (right) of every policy relative to always-teacher, per day. "
    "Dashed lines are the targets.",
    "traffic_share.png": "Share of Academy's served answers per day, by model (left) and by role (right).",
    "domain_accuracy.png": "Quality of Academy's served answers per domain and day (grey: no queries).",
    "timeline.png": "Promotions, rejections, rollbacks and role changes, by the night they happened.",
    "supervisor_calls.png": "Judge calls per day, online vs nightly, those the supervisor made (the rest were delegated to cheap judges), and the judge cost in USD.",
}


# ----------------------------------------------------------------------------------------------- helpers


def _num(value: Any) -> float | None:
    """A finite float or None: the result may carry None, NaN, strings or bools where a number is expected."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _dict(value: Any) -> dict[str, Any]:
    """The value if it is a dict, else an empty one, so that a missing or None section reads as empty."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    """The value if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def _pct(value: Any) -> str:
    """A ratio as a percentage with one decimal (0.2834 -> '28.3%'), or a dash."""
    number = _num(value)
    return DASH if number is None else f"{number * 100:.1f}%"


def _usd(value: Any) -> str:
    """Dollars: 4 decimals, 6 for sub-cent amounts so that a cheap day does not read as $0.0000."""
    number = _num(value)
    if number is None:
        return DASH
    return f"${number:,.4f}" if abs(number) >= 0.01 or number == 0 else f"${number:.6f}"


def _plain(value: Any, decimals: int = 1) -> str:
    """A number with fixed decimals (ints stay ints), or a dash."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    number = _num(value)
    return DASH if number is None else f"{number:.{decimals}f}"


def _esc(value: Any) -> str:
    """Any value as escaped HTML text."""
    return html.escape(str(value), quote=True)


def _days(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-day entries that are dicts, sorted by day (the index stands in for a missing day number)."""
    entries = [entry for entry in _list(result.get("per_day")) if isinstance(entry, dict)]
    numbered = [(_num(entry.get("day")), index, entry) for index, entry in enumerate(entries)]
    numbered = [(index + 1.0 if day is None else day, index, entry) for day, index, entry in numbered]
    return [
        dict(entry, day=_day_label(day)) for day, _, entry in sorted(numbered, key=lambda t: (t[0], t[1]))
    ]


def _day_label(day: float) -> int | float:
    """Integral days as ints so that axes and tables show '3', not '3.0'."""
    return int(day) if float(day).is_integer() else day


def _policies(result: dict[str, Any]) -> list[str]:
    """The policies to show, Academy first: from result['policies'], else from the overall block."""
    names = [str(name) for name in _list(result.get("policies"))] or [
        str(n) for n in _dict(result.get("overall"))
    ]
    names = list(dict.fromkeys(names))
    return sorted(names, key=lambda name: name != ACADEMY)


def _policy_day(day: dict[str, Any], policy: str) -> dict[str, Any]:
    """One policy's numbers for one day; empty when the policy has no entry that day."""
    return _dict(_dict(day.get("policies")).get(policy))


def _academy(day: dict[str, Any]) -> dict[str, Any]:
    """Academy's detailed block for one day (routes, served traffic, judge calls, costs)."""
    return _dict(day.get("academy"))


def _ordered_keys(dicts: Iterable[dict[str, Any]], first: str = "teacher") -> list[str]:
    """The union of keys over days, in a stable order with the teacher first, so colours match across days."""
    keys: set[str] = set()
    for entry in dicts:
        keys.update(str(key) for key in entry)
    return sorted(keys, key=lambda key: (key != first, key))


def _new_figure(width: float, height: float) -> Figure:
    """A figure detached from pyplot: nothing global is created, saved or leaked."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _placeholder(ax: Axes, text: str) -> None:
    """A centred message in an empty panel so that a plot without data still explains itself."""
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=13, color="#555555", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _policy_colours(policies: list[str]) -> dict[str, str]:
    """A fixed colour per policy, the same in every panel."""
    palette = ["#d62728", "#1f77b4", "#7f7f7f", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]
    return {name: palette[index % len(palette)] for index, name in enumerate(policies)}


# ------------------------------------------------------------------------------------------------- plots


def plot_cost_quality(result: dict[str, Any], path: Path) -> None:
    """Cost and quality of every policy relative to always-teacher per day, against the targets."""
    from matplotlib.ticker import PercentFormatter

    days = _days(result)
    policies = _policies(result)
    colours = _policy_colours(policies)
    targets = _dict(result.get("targets"))
    fig = _new_figure(13, 4.8)
    cost_ax, quality_ax = fig.subplots(1, 2)
    panels = [
        (cost_ax, "cost_ratio", "Cost relative to always-teacher", _num(targets.get("cost_ratio")), "≤"),
        (
            quality_ax,
            "quality_ratio",
            "Quality relative to always-teacher",
            _num(targets.get("quality_ratio")),
            "≥",
        ),
    ]
    for ax, key, title, target, sign in panels:
        for policy in policies:
            points = [(d["day"], _num(_policy_day(d, policy).get(key))) for d in days]
            points = [(x, y) for x, y in points if y is not None]
            if not points:
                continue
            bold = policy == ACADEMY
            ax.plot(
                [x for x, _ in points],
                [y for _, y in points],
                marker="o",
                markersize=6 if bold else 4,
                linewidth=3.0 if bold else 1.4,
                zorder=5 if bold else 3,
                color=colours[policy],
                label=policy,
            )
        if target is not None:
            ax.axhline(
                target, linestyle="--", color="black", linewidth=1.0, label=f"target {sign} {target:.0%}"
            )
        ax.set_title(title)
        ax.set_xlabel("day")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_xticks([d["day"] for d in days])
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize=8)
        else:
            _placeholder(ax, "no data")
    fig.savefig(path, dpi=DPI)


def _stacked_shares(ax: Axes, days: list[dict[str, Any]], field: str, title: str) -> None:
    """Stacked bars of each key's share of a day's served answers; shares sum to 1 on days with traffic."""
    counts = [_dict(_academy(d).get(field)) for d in days]
    keys = _ordered_keys(counts)
    if not keys:
        _placeholder(ax, "no served traffic")
        ax.set_title(title)
        return
    xs = [d["day"] for d in days]
    totals = [sum(_num(v) or 0.0 for v in day_counts.values()) for day_counts in counts]
    bottom = [0.0] * len(days)
    colours = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    for index, key in enumerate(keys):
        shares = [
            (_num(day_counts.get(key)) or 0.0) / total if total > 0 else 0.0
            for day_counts, total in zip(counts, totals)
        ]
        ax.bar(xs, shares, bottom=bottom, label=key, color=colours[index % len(colours)], width=0.7)
        bottom = [b + s for b, s in zip(bottom, shares)]
    ax.set_title(title)
    ax.set_xlabel("day")
    ax.set_ylabel("share of served answers")
    ax.set_ylim(0, 1.0)
    ax.set_xticks(xs)
    ax.legend(fontsize=8, loc="lower left")


def plot_traffic_share(result: dict[str, Any], path: Path) -> None:
    """Who served Academy's answers each day: how fast traffic moves from the teacher to students."""
    days = _days(result)
    fig = _new_figure(13, 4.8)
    model_ax, role_ax = fig.subplots(1, 2)
    _stacked_shares(model_ax, days, "served_by_model", "Served by model")
    _stacked_shares(role_ax, days, "served_by_role", "Served by role")
    fig.savefig(path, dpi=DPI)


def domain_matrix(result: dict[str, Any]) -> tuple[list[str], list[int | float], list[list[float]]]:
    """Domains (rows) x days (columns) of Academy's served quality; NaN where a domain has no value that day.

    Rows are every domain seen on any day (in ``domain_quality`` or with queries in ``domains``), so a
    domain that appears mid-week has blank cells before it appears instead of shifting the columns.
    """
    days = _days(result)
    qualities = [_dict(_academy(d).get("domain_quality")) for d in days]
    domains = sorted(
        set(_ordered_keys(qualities)) | set(_ordered_keys(_dict(d.get("domains")) for d in days))
    )
    matrix = [
        [value if (value := _num(quality.get(domain))) is not None else math.nan for quality in qualities]
        for domain in domains
    ]
    return domains, [d["day"] for d in days], matrix


def plot_domain_accuracy(result: dict[str, Any], path: Path) -> None:
    """Heat map of served quality per domain and day: where the students are still weak."""
    import matplotlib
    import numpy as np

    domains, days, matrix = domain_matrix(result)
    fig = _new_figure(max(6.0, 1.0 + 0.9 * len(days)), max(3.0, 1.2 + 0.45 * len(domains)))
    ax = fig.subplots()
    if not domains or not days:
        _placeholder(ax, "no domain quality recorded")
        ax.set_title("Served quality by domain")
        fig.savefig(path, dpi=DPI)
        return
    values = np.ma.masked_invalid(np.array(matrix, dtype=float))
    cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#d0d0d0")
    image = ax.imshow(values, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    for row, domain_values in enumerate(matrix):
        for col, value in enumerate(domain_values):
            if not math.isnan(value):
                ax.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=8, color="black")
    ax.set_xticks(range(len(days)), [str(day) for day in days])
    ax.set_yticks(range(len(domains)), domains)
    ax.set_xlabel("day")
    ax.set_title("Served quality by domain (Academy)")
    fig.colorbar(image, ax=ax, label="quality")
    fig.savefig(path, dpi=DPI)


def _timeline_events(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Timeline events with a usable night and model; others cannot be placed on the plot."""
    events = []
    for event in _list(result.get("timeline")):
        event = _dict(event)
        night, model = _num(event.get("day")), event.get("model")
        if night is not None and model is not None:
            events.append({**event, "night": night, "model": str(model), "kind": str(event.get("event"))})
    return events


def plot_timeline(result: dict[str, Any], path: Path) -> None:
    """Promotions and demotions per model by night, annotated with the version they concern."""
    events = _timeline_events(result)
    models = sorted({event["model"] for event in events})
    fig = _new_figure(11, max(3.0, 1.5 + 0.5 * len(models)))
    ax = fig.subplots()
    ax.set_title("Promotion / demotion timeline")
    if not events:
        _placeholder(ax, "no promotions or demotions")
        fig.savefig(path, dpi=DPI)
        return
    rows = {model: index for index, model in enumerate(models)}
    seen: dict[tuple[float, str], int] = {}
    labelled: set[str] = set()
    for event in events:
        slot = seen.get((event["night"], event["model"]), 0)
        seen[(event["night"], event["model"])] = slot + 1
        x, y = event["night"] + 0.12 * slot, rows[event["model"]]  # nudge same-night events apart
        marker, colour, label = _EVENT_STYLES.get(event["kind"], (*_OTHER_EVENT, event["kind"]))
        ax.scatter(
            [x], [y], marker=marker, color=colour, s=110, zorder=3, label=None if label in labelled else label
        )
        labelled.add(label)
        version = event.get("version")
        if version is not None:
            ax.annotate(
                f"v{version}", (x, y), xytext=(0, 9), textcoords="offset points", ha="center", fontsize=8
            )
    # The axis spans the whole week, not only the nights with events, so a quiet stretch reads as quiet.
    nights = sorted({event["night"] for event in events} | {float(d["day"]) for d in _days(result)})
    ticks = sorted({float(night) for night in nights if float(night).is_integer()})
    ax.set_xticks(ticks, [str(_day_label(night)) for night in ticks])
    ax.set_xlim(min(nights) - 0.6, max(nights) + 0.9)
    ax.set_yticks(range(len(models)), models)
    ax.set_ylim(-0.6, len(models) - 0.4)
    ax.set_xlabel("night (after day)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(path, dpi=DPI)


def plot_supervisor_calls(result: dict[str, Any], path: Path) -> None:
    """Judge calls per day (online vs nightly), those the supervisor made (the rest were delegated),
    and their cost: the supervision bill should shrink too."""
    days = _days(result)
    fig = _new_figure(10, 4.8)
    ax = fig.subplots()
    ax.set_title("Supervisor (judge) calls")
    if not days:
        _placeholder(ax, "no days")
        fig.savefig(path, dpi=DPI)
        return
    xs = [d["day"] for d in days]
    calls = [_dict(_academy(d).get("judge_calls")) for d in days]
    online = [_num(c.get("online")) or 0.0 for c in calls]
    nightly = [_num(c.get("nightly")) or 0.0 for c in calls]
    ax.bar(xs, online, width=0.7, color="#1f77b4", label="online")
    ax.bar(xs, nightly, width=0.7, bottom=online, color="#ff7f0e", label="nightly")
    supervised = [(x, _num(c.get("supervisor"))) for x, c in zip(xs, calls)]
    supervised = [(x, y) for x, y in supervised if y is not None]
    if supervised:  # the rest were judged by a delegated cheap judge (academy/judges/delegation.py)
        ax.plot(
            [x for x, _ in supervised],
            [y for _, y in supervised],
            color="black",
            marker="s",
            label="by the supervisor",
        )
    ax.set_xlabel("day")
    ax.set_ylabel("judge calls")
    ax.set_xticks(xs)
    cost_ax = ax.twinx()
    points = [(x, _num(_dict(_academy(d).get("cost")).get("judge"))) for x, d in zip(xs, days)]
    points = [(x, y) for x, y in points if y is not None]
    if points:
        cost_ax.plot(
            [x for x, _ in points], [y for _, y in points], color="#d62728", marker="o", label="judge cost $"
        )
    cost_ax.set_ylabel("judge cost (USD)")
    cost_ax.set_ylim(bottom=0)
    handles, labels = ax.get_legend_handles_labels()
    more_handles, more_labels = cost_ax.get_legend_handles_labels()
    ax.legend(handles + more_handles, labels + more_labels, fontsize=8, loc="upper right")
    fig.savefig(path, dpi=DPI)


_PLOTTERS: dict[str, Callable[[dict[str, Any], Path], None]] = {
    "cost_quality.png": plot_cost_quality,
    "traffic_share.png": plot_traffic_share,
    "domain_accuracy.png": plot_domain_accuracy,
    "timeline.png": plot_timeline,
    "supervisor_calls.png": plot_supervisor_calls,
}
assert tuple(_PLOTTERS) == PLOTS


# -------------------------------------------------------------------------------------------------- HTML

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; vertical-align: top; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
tr.academy td { font-weight: bold; }
.pass { color: #1a7f37; font-weight: bold; } .miss { color: #c62828; font-weight: bold; }
.headline { font-size: 1.15em; } .muted { color: #666; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
"""


def _table(
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

    head = f"<tr>{cells('th', [_esc(h) for h in headers])}</tr>"
    classes = row_classes or [""] * len(rows)
    body = "".join(
        f'<tr class="{_esc(cls)}">{cells("td", row)}</tr>' if cls else f"<tr>{cells('td', row)}</tr>"
        for row, cls in zip(rows, classes)
    )
    return f"<table>{head}{body}</table>"


def _mark(value: float | None, target: float | None, at_most: bool) -> str:
    """A pass/miss badge for one headline number against its target."""
    if value is None or target is None:
        return '<span class="muted">no target</span>' if target is None else DASH
    ok = value <= target if at_most else value >= target
    return '<span class="pass">✓ pass</span>' if ok else '<span class="miss">✗ miss</span>'


def _headline(result: dict[str, Any]) -> str:
    """Academy vs always-teacher, last day and overall, each against its target."""
    summary, targets = _dict(result.get("summary")), _dict(result.get("targets"))
    cost_target, quality_target = _num(targets.get("cost_ratio")), _num(targets.get("quality_ratio"))
    rows = []
    for key, label, target, at_most, sign in [
        ("cost_ratio", "cost vs always-teacher", cost_target, True, "≤"),
        ("quality_ratio", "quality vs always-teacher", quality_target, False, "≥"),
    ]:
        block = _dict(summary.get(key))
        last, overall = _num(block.get("last_day")), _num(block.get("overall"))
        rows.append(
            [
                _esc(label),
                _esc(DASH if target is None else f"{sign} {_pct(target)}"),
                _esc(_pct(last)),
                _mark(last, target, at_most),
                _esc(_pct(overall)),
                _mark(overall, target, at_most),
            ]
        )
    table = _table(["Academy", "target", "last day", "", "overall", ""], rows)
    return f'<h2>Headline</h2><div class="headline">{table}</div>'


def _settings(result: dict[str, Any]) -> str:
    """The simulation's settings as a key/value table, so a report says how it was produced."""
    settings = _dict(result.get("settings"))
    rows = [[_esc(key), _esc(value)] for key, value in settings.items()]
    wall = _num(result.get("wall_seconds"))
    if wall is not None:
        rows.append([_esc("wall seconds"), _esc(f"{wall:.1f}")])
    return "<h2>Settings</h2>" + (
        _table(["setting", "value"], rows, text_cols=(0, 1)) if rows else "<p>none</p>"
    )


def _policy_table(result: dict[str, Any]) -> str:
    """Every policy's overall and last-day ratios against always-teacher."""
    overall, days = _dict(result.get("overall")), _days(result)
    last = days[-1] if days else {}
    rows, classes = [], []
    for policy in _policies(result):
        total, final = _dict(overall.get(policy)), _policy_day(last, policy)
        rows.append(
            [
                _esc(policy),
                _esc(_pct(total.get("cost_ratio"))),
                _esc(_pct(total.get("quality_ratio"))),
                _esc(_pct(final.get("cost_ratio"))),
                _esc(_pct(final.get("quality_ratio"))),
                _esc(_usd(total.get("cost"))),
                _esc(_plain(total.get("quality"), 3)),
            ]
        )
        classes.append("academy" if policy == ACADEMY else "")
    headers = ["policy", "overall cost ratio", "overall quality ratio", "last-day cost ratio"]
    headers += ["last-day quality ratio", "overall cost $", "overall quality"]
    return "<h2>Policies</h2>" + _table(headers, rows, row_classes=classes)


def _figures() -> str:
    """The plots, referenced by relative file name so the folder can be moved or zipped as a whole."""
    blocks = [
        f'<figure><img src="{_esc(name)}" alt="{_esc(name)}"><figcaption>{_esc(_CAPTIONS[name])}</figcaption></figure>'
        for name in PLOTS
    ]
    return "<h2>Plots</h2>" + "".join(blocks)


def _novel_share(routes: dict[str, Any]) -> float | None:
    """The share of Academy's queries routed as novel (no close neighbour in the store)."""
    total = sum(_num(v) or 0.0 for v in routes.values())
    novel = _num(routes.get("novel"))
    return None if novel is None or total <= 0 else novel / total


def _day_row(day: dict[str, Any]) -> list[str]:
    """One row of the per-day table."""
    academy, mine, teacher = _academy(day), _policy_day(day, ACADEMY), _policy_day(day, TEACHER)
    calls = _dict(academy.get("judge_calls"))
    cost = _num(mine.get("cost"))
    if cost is None and _dict(academy.get("cost")):
        cost = sum(_num(v) or 0.0 for v in _dict(academy["cost"]).values())
    events = [str(e) for e in _list(day.get("events"))]
    return [
        _esc(day["day"]),
        _esc(_plain(day.get("queries"))),
        "<br>".join(_esc(e) for e in events) or DASH,
        _esc(_pct(_novel_share(_dict(academy.get("routes"))))),
        _esc(_usd(cost)),
        _esc(_usd(teacher.get("cost"))),
        _esc(_pct(mine.get("cost_ratio"))),
        _esc(_pct(mine.get("quality_ratio"))),
        _esc(_plain(calls.get("online"), 0)),
        _esc(_plain(calls.get("nightly"), 0)),
        _esc(_plain(calls.get("supervisor"), 0)),
        _esc(_plain(academy.get("training_seconds"))),
    ]


def _per_day_table(result: dict[str, Any]) -> str:
    """What happened each day: traffic, events, costs, ratios, supervision and training."""
    headers = ["day", "queries", "events", "novel share", "academy cost $", "always-teacher cost $"]
    headers += ["cost ratio", "quality ratio", "judge calls online", "judge calls nightly"]
    headers += ["of them by the supervisor", "training s"]
    rows = [_day_row(day) for day in _days(result)]
    return (
        "<h2>Per day</h2>" + _table(headers, rows, text_cols=(2,))
        if rows
        else "<h2>Per day</h2><p>no days</p>"
    )


def _students_table(result: dict[str, Any]) -> str:
    """Per day and domain: each student's own accuracy next to the share of the domain it served,
    and Academy's cost split into answers, judging, training and practice."""
    headers = ["day", "domain", "queries", "student", "right on its own", "share served"]
    rows = []
    for day in _days(result):
        for domain, figures in sorted(_dict(_academy(day).get("students")).items()):
            accuracy, served = _dict(figures.get("accuracy")), _dict(figures.get("served"))
            for student in sorted(accuracy):
                rows.append(
                    [
                        _esc(day["day"]),
                        _esc(domain),
                        _esc(_plain(figures.get("queries"), 0)),
                        _esc(student),
                        _esc(_pct(accuracy.get(student))),
                        _esc(_pct(served.get(student))),
                    ]
                )
    costs = [
        [_esc(day["day"])]
        + [
            _esc(_usd(_dict(_academy(day).get("cost")).get(k)))
            for k in ("answers", "judge", "training", "practice")
        ]
        + [_esc(_plain(_academy(day).get("training_cpu_seconds")))]
        for day in _days(result)
    ]
    cost_headers = ["day", "answers $", "judging $", "training $", "practice $", "training CPU s"]
    return (
        "<h2>What the students know, and what they are given</h2>"
        + (_table(headers, rows, text_cols=(1, 3)) if rows else "<p>no students</p>")
        + "<h2>Where Academy's money goes</h2>"
        + (_table(cost_headers, costs) if costs else "<p>no days</p>")
    )


def _night_row(day: dict[str, Any], night: dict[str, Any]) -> list[str]:
    """One row of the nights table: which students were trained to which version and stage."""
    students = []
    for student in _list(night.get("students")):
        student = _dict(student)
        version = student.get("version")
        name = _esc(student.get("student", "?"))
        students.append(
            f"{name} → {_esc('v' + str(version) if version is not None else DASH)} ({_esc(student.get('stage', DASH))})"
        )
    roles = [
        f"{_esc(model)} → {_esc(_dict(change).get('role', DASH))}"
        + (
            f' <span class="muted">({_esc(_dict(change)["reason"])})</span>'
            if _dict(change).get("reason")
            else ""
        )
        for model, change in _dict(night.get("role_changes")).items()
    ]
    return [
        _esc(day["day"]),
        _esc(_plain(night.get("seconds"))),
        "<br>".join(students) or DASH,
        "<br>".join(roles) or DASH,
    ]


def _nights_table(result: dict[str, Any]) -> str:
    """Each night's duration and outcome per student."""
    rows = [
        _night_row(day, _dict(day.get("night")))
        for day in _days(result)
        if isinstance(day.get("night"), dict)
    ]
    if not rows:
        return "<h2>Nights</h2><p>no nights</p>"
    return "<h2>Nights</h2>" + _table(
        ["night after day", "seconds", "students trained", "role changes"], rows, text_cols=(2, 3)
    )


def render_html(result: dict[str, Any]) -> str:
    """The whole report page: inline CSS, no scripts, images by relative name."""
    title = str(result.get("title") or "Academy simulation report")
    sections = [
        _settings(result),
        _headline(result),
        _policy_table(result),
        _figures(),
        _per_day_table(result),
        _students_table(result),
        _nights_table(result),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_esc(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{_esc(title)}</h1>\n" + "\n".join(sections) + "\n</body>\n</html>\n"
    )


# ---------------------------------------------------------------------------------------------- entry point


def write_report(result: dict[str, Any], out_dir: Path) -> Path:
    """Writes out_dir/report.html, out_dir/summary.json and the PNGs in PLOTS; returns the report.html path.

    summary.json is the result itself (``json.dumps(indent=2, sort_keys=True, default=str)``), written
    before any plot so that the numbers survive a plotting error.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = json.dumps(result, indent=2, sort_keys=True, default=str)
    (out_dir / "summary.json").write_text(summary + "\n", encoding="utf-8")
    for name, plot in _PLOTTERS.items():
        plot(result, out_dir / name)
    report = out_dir / "report.html"
    report.write_text(render_html(result), encoding="utf-8")
    return report
