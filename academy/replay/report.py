"""The replay benchmark's report: a markdown file with one table and one plot per data set, and a
plain-text table for the terminal. Numbers are rounded here, never in the metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from academy.replay.metrics import Point, cost_at

COLUMNS = [
    ("APGR", "apgr"),
    ("CPT(50%)", "cpt50"),
    ("CPT(80%)", "cpt80"),
    ("saved at 95%", "saved_at_95"),
    ("best quality", "best_quality"),
    ("quality at best single's cost", "quality_at_best_single_cost"),
    ("cost at best single's quality", "cost_at_best_single_quality"),
]


def pct(value: float | None) -> str:
    """A fraction as a percentage with one decimal; an em dash for a value never reached."""
    return "—" if value is None else f"{100 * value:.1f}%"


def _policies(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The router first, then every baseline the harness produced (missing ones are skipped)."""
    rows = [("router", result.get("router"))] + list((result.get("baselines") or {}).items())
    return [(name, policy) for name, policy in rows if policy]


def _points(policy: dict[str, Any]) -> list[Point]:
    pts = [Point(p["cost_share"], p["quality"], p.get("label", "")) for p in policy.get("points", [])]
    return sorted(pts, key=lambda p: p.cost_share)


def _cells(policy: dict[str, Any]) -> list[str]:
    summary = policy.get("summary") or {}
    return [pct(summary.get(key)) for _, key in COLUMNS]


def format_table(results: dict[str, dict]) -> str:
    """A plain-text table, one row per (set, policy), columns aligned for a terminal."""
    header = ["set", "policy"] + [title for title, _ in COLUMNS]
    rows = [[s, name, *_cells(p)] for s, r in results.items() for name, p in _policies(r)]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


def _markdown_table(result: dict[str, Any]) -> list[str]:
    lines = ["| policy | " + " | ".join(t for t, _ in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    return lines + [f"| {name} | " + " | ".join(_cells(p)) + " |" for name, p in _policies(result)]


def _published(result: dict[str, Any]) -> list[str]:
    pub = result.get("published")
    if not pub:
        return []
    ours = pct(((result.get("router") or {}).get("summary") or {}).get("saved_at_95"))
    return [
        f"RouteLLM published: {100 * pub['saved_at_95']:g}% saved at 95% of {result['strong']}'s quality"
        f" — {pub.get('source', 'RouteLLM')} (this replay: {ours}).",
        "",
    ]


def plot_set(name: str, result: dict[str, Any], path: Path) -> Path:
    """Quality vs cost share: router and curve baselines as lines, single models as labelled dots,
    the 95%-of-strong quality as a dashed line and the router's cost to reach it as a dotted one."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    seen: set[str] = set()
    for policy_name, policy in _policies(result):
        pts = _points(policy)
        xs, ys = [p.cost_share for p in pts], [p.quality for p in pts]
        if len(pts) > 1:
            style = {"marker": "o", "lw": 2, "zorder": 3} if policy_name == "router" else {"ls": "-", "lw": 1}
            ax.plot(xs, ys, label=policy_name, **style)
            continue
        for p in pts:
            label = p.label or policy_name
            if label not in seen:
                seen.add(label)
                ax.scatter([p.cost_share], [p.quality], s=20, color="black", zorder=4)
                ax.annotate(
                    label, (p.cost_share, p.quality), fontsize=7, xytext=(3, 3), textcoords="offset points"
                )
    target = 0.95 * result["strong_quality"]
    ax.axhline(target, ls="--", color="gray", lw=1, label="95% of strong")
    reach = cost_at(_points(result.get("router") or {}), target)
    if reach is not None:
        ax.axvline(reach, ls=":", color="gray", lw=1)
    ax.set_title(f"{name} ({result['n_queries']} queries)")
    ax.set_xlabel(f"cost share (1 = always {result['strong']})")
    ax.set_ylabel("mean quality")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _describe(result: dict[str, Any]) -> str:
    text = f"{result['n_queries']} queries; cost in {result.get('cost_unit', '?')}; strong model {result['strong']} (quality {pct(result['strong_quality'])})"
    if result.get("weak"):
        text += f", weak model {result['weak']} (quality {pct(result.get('weak_quality'))})"
    return text + ". Costs are shares of always calling the strong model."


def write_report(results: dict[str, dict], out_dir: Path) -> Path:
    """Write out_dir/report.md and out_dir/<set>.png for every set; return the markdown's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# Routing replay benchmark", ""]
    for name, result in results.items():
        plot_set(name, result, out_dir / f"{name}.png")
        lines += [f"## {name}", "", _describe(result), "", *_markdown_table(result), ""]
        lines += _published(result)
        lines += [f"- {note}" for note in result.get("notes", [])]
        lines += ([""] if result.get("notes") else []) + [f"![{name}]({name}.png)", ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
