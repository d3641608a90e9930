"""The report of a simulated week: one self-contained HTML page, the PNG plots it shows and the raw result.

:func:`write_report` writes ``summary.json`` (the result itself), the plots in :data:`PLOTS`
(``academy.simulation.report_charts``) and ``report.html`` (:func:`render_html`, with the tables of
``academy.simulation.report_tables``). The raw result is written first, so it survives even if a
plot fails. The input is the plain JSON-able dict a simulation returns, read defensively
(``academy.simulation.report_data``): a missing day, a ``None`` value or an unknown key never costs
the report. The page has inline CSS, no scripts, and refers to its images by relative name, so the
folder can be moved or zipped as a whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from academy.simulation.report_charts import (
    CAPTIONS,
    DPI,
    PLOTS,
    PLOTTERS,
    domain_matrix,
    plot_cost_quality,
    plot_domain_accuracy,
    plot_supervisor_calls,
    plot_timeline,
    plot_traffic_share,
)
from academy.simulation.report_data import ACADEMY, TEACHER
from academy.simulation.report_tables import (
    DASH,
    esc,
    headline,
    nights_table,
    per_day_table,
    policy_table,
    settings_table,
    students_table,
)

__all__ = [
    "ACADEMY",
    "DASH",
    "DPI",
    "PLOTS",
    "TEACHER",
    "domain_matrix",
    "plot_cost_quality",
    "plot_domain_accuracy",
    "plot_supervisor_calls",
    "plot_timeline",
    "plot_traffic_share",
    "render_html",
    "write_report",
]

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


def _figures() -> str:
    """The plots, referenced by relative file name so the folder can be moved or zipped as a whole."""
    blocks = [
        f'<figure><img src="{esc(name)}" alt="{esc(name)}"><figcaption>{esc(CAPTIONS[name])}</figcaption></figure>'
        for name in PLOTS
    ]
    return "<h2>Plots</h2>" + "".join(blocks)


def render_html(result: dict[str, Any]) -> str:
    """The whole report page: inline CSS, no scripts, images by relative name."""
    title = str(result.get("title") or "Academy simulation report")
    sections = [
        settings_table(result),
        headline(result),
        policy_table(result),
        _figures(),
        per_day_table(result),
        students_table(result),
        nights_table(result),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{esc(title)}</h1>\n" + "\n".join(sections) + "\n</body>\n</html>\n"
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
    for name, plot in PLOTTERS.items():
        plot(result, out_dir / name)
    report = out_dir / "report.html"
    report.write_text(render_html(result), encoding="utf-8")
    return report
