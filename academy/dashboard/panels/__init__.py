"""What each dashboard panel shows, computed from plain DataFrames and registry reads; one panel per
module (``traffic``, ``cost``, ``supervisor``, ``accuracy``, ``registry``, ``gaps``, ``peer``) on
the shared building blocks of ``base``. This package re-exports their public names.

Every panel function is pure: frames (or a registry object, a file path) in, one JSON-able panel
out. The HTTP layer (``academy.dashboard.http``) only loads the inputs and serialises the result, so
each panel is unit-testable on known data.

A panel is a dict::

    {"panel", "title", "state": "ok" | "empty" | "unavailable", "message", "source", "notes",
     "summary": [{"label", "value", "digits"}],
     "charts": [{"id", "title", "kind": "bar" | "heatmap" | "scatter", "stacked", "xtitle", "ytitle",
                 "series": [{"name", "x", "y", "text"?, "kind"?}]  (heatmap: "x", "y", "z")}],
     "tables": [{"id", "title", "columns": [{"name", "digits"}], "rows": [[...]]}]}

``digits`` says how many decimals the page shows for a number (None: as is). Values are rounded
once, in the panel functions, so the page draws exactly the numbers the JSON API returns.

Costs and judge calls follow the demo's accounting (``academy.simulation``): the always-teacher
counterfactual and Academy's cost are defined in ``academy.dashboard.panels.cost``, supervisor
calls in ``academy.dashboard.panels.supervisor``.
"""

from academy.dashboard.panels.accuracy import accuracy_panel, judged_answers
from academy.dashboard.panels.base import (
    ANSWER_COLUMNS,
    CACHE,
    NO_TRAFFIC,
    QUERY_COLUMNS,
    RATIO,
    SCORE_COLUMNS,
    SERVED_PURPOSES,
    USD,
    bar_chart,
    column,
    counts,
    day_of,
    figure,
    hour_of,
    jsonable,
    ordered,
    panel,
    rnd,
    traffic_only,
    unavailable,
)
from academy.dashboard.panels.cost import cost_panel, nightly_judge_cost, teacher_counterfactual
from academy.dashboard.panels.gaps import MAX_GAP_CLUSTERS, gaps_panel
from academy.dashboard.panels.peer import peer_panel, peer_variants_from_results, peer_variants_from_runs
from academy.dashboard.panels.registry import (
    EVENT_ORDER,
    MAX_TIMELINE_ROWS,
    production_table,
    registry_panel,
    registry_summary,
    timeline_chart,
    timeline_table,
    transition_event,
)
from academy.dashboard.panels.supervisor import judge_calls, supervisor_panel
from academy.dashboard.panels.traffic import (
    HOUR_WINDOW,
    ROLE_ORDER,
    ROUTE_ORDER,
    served_answers,
    traffic_panel,
)

__all__ = [
    "ANSWER_COLUMNS",
    "CACHE",
    "EVENT_ORDER",
    "HOUR_WINDOW",
    "MAX_GAP_CLUSTERS",
    "MAX_TIMELINE_ROWS",
    "NO_TRAFFIC",
    "QUERY_COLUMNS",
    "RATIO",
    "ROLE_ORDER",
    "ROUTE_ORDER",
    "SCORE_COLUMNS",
    "SERVED_PURPOSES",
    "USD",
    "accuracy_panel",
    "bar_chart",
    "column",
    "cost_panel",
    "counts",
    "day_of",
    "figure",
    "gaps_panel",
    "hour_of",
    "judge_calls",
    "judged_answers",
    "jsonable",
    "nightly_judge_cost",
    "ordered",
    "panel",
    "peer_panel",
    "peer_variants_from_results",
    "peer_variants_from_runs",
    "production_table",
    "registry_panel",
    "registry_summary",
    "rnd",
    "served_answers",
    "supervisor_panel",
    "teacher_counterfactual",
    "timeline_chart",
    "timeline_table",
    "traffic_only",
    "traffic_panel",
    "transition_event",
    "unavailable",
]
