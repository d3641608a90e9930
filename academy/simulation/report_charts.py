"""The PNG plots of a simulated week's report, one function per file in :data:`PLOTS`.

Plots use matplotlib's object API only (``Figure``, never ``pyplot``): no global figure state, no
backend selection, safe in a server process or a worker thread. matplotlib is imported lazily, so
importing this module stays cheap. A plot without data still writes its file, with a centred
message saying what is missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from academy.simulation.report_data import (
    ACADEMY,
    academy_of,
    as_dict,
    as_list,
    day_label,
    finite_number,
    ordered_keys,
    policy_day,
    policy_names,
    sorted_days,
)

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

CAPTIONS: dict[str, str] = {
    "cost_quality.png": "Cost (left) and quality (right) of every policy relative to always-teacher, per day. "
    "Dashed lines are the targets.",
    "traffic_share.png": "Share of Academy's served answers per day, by model (left) and by role (right).",
    "domain_accuracy.png": "Quality of Academy's served answers per domain and day (grey: no queries).",
    "timeline.png": "Promotions, rejections, rollbacks and role changes, by the night they happened.",
    "supervisor_calls.png": "Judge calls per day, online vs nightly, those the supervisor made (the rest were delegated to cheap judges), and the judge cost in USD.",
}


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


def plot_cost_quality(result: dict[str, Any], path: Path) -> None:
    """Cost and quality of every policy relative to always-teacher per day, against the targets."""
    from matplotlib.ticker import PercentFormatter

    days = sorted_days(result)
    policies = policy_names(result)
    colours = _policy_colours(policies)
    targets = as_dict(result.get("targets"))
    fig = _new_figure(13, 4.8)
    cost_ax, quality_ax = fig.subplots(1, 2)
    panels = [
        (
            cost_ax,
            "cost_ratio",
            "Cost relative to always-teacher",
            finite_number(targets.get("cost_ratio")),
            "≤",
        ),
        (
            quality_ax,
            "quality_ratio",
            "Quality relative to always-teacher",
            finite_number(targets.get("quality_ratio")),
            "≥",
        ),
    ]
    for ax, key, title, target, sign in panels:
        for policy in policies:
            points = [(d["day"], finite_number(policy_day(d, policy).get(key))) for d in days]
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
    counts = [as_dict(academy_of(d).get(field)) for d in days]
    keys = ordered_keys(counts)
    if not keys:
        _placeholder(ax, "no served traffic")
        ax.set_title(title)
        return
    xs = [d["day"] for d in days]
    totals = [sum(finite_number(v) or 0.0 for v in day_counts.values()) for day_counts in counts]
    bottom = [0.0] * len(days)
    colours = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    for index, key in enumerate(keys):
        shares = [
            (finite_number(day_counts.get(key)) or 0.0) / total if total > 0 else 0.0
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
    days = sorted_days(result)
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
    days = sorted_days(result)
    qualities = [as_dict(academy_of(d).get("domain_quality")) for d in days]
    domains = sorted(
        set(ordered_keys(qualities)) | set(ordered_keys(as_dict(d.get("domains")) for d in days))
    )
    matrix = [
        [
            value if (value := finite_number(quality.get(domain))) is not None else math.nan
            for quality in qualities
        ]
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
    for event in as_list(result.get("timeline")):
        event = as_dict(event)
        night, model = finite_number(event.get("day")), event.get("model")
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
    nights = sorted({event["night"] for event in events} | {float(d["day"]) for d in sorted_days(result)})
    ticks = sorted({float(night) for night in nights if float(night).is_integer()})
    ax.set_xticks(ticks, [str(day_label(night)) for night in ticks])
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
    days = sorted_days(result)
    fig = _new_figure(10, 4.8)
    ax = fig.subplots()
    ax.set_title("Supervisor (judge) calls")
    if not days:
        _placeholder(ax, "no days")
        fig.savefig(path, dpi=DPI)
        return
    xs = [d["day"] for d in days]
    calls = [as_dict(academy_of(d).get("judge_calls")) for d in days]
    online = [finite_number(c.get("online")) or 0.0 for c in calls]
    nightly = [finite_number(c.get("nightly")) or 0.0 for c in calls]
    ax.bar(xs, online, width=0.7, color="#1f77b4", label="online")
    ax.bar(xs, nightly, width=0.7, bottom=online, color="#ff7f0e", label="nightly")
    supervised = [(x, finite_number(c.get("supervisor"))) for x, c in zip(xs, calls)]
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
    points = [(x, finite_number(as_dict(academy_of(d).get("cost")).get("judge"))) for x, d in zip(xs, days)]
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


PLOTTERS: dict[str, Callable[[dict[str, Any], Path], None]] = {
    "cost_quality.png": plot_cost_quality,
    "traffic_share.png": plot_traffic_share,
    "domain_accuracy.png": plot_domain_accuracy,
    "timeline.png": plot_timeline,
    "supervisor_calls.png": plot_supervisor_calls,
}
assert tuple(PLOTTERS) == PLOTS
