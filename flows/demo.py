"""``academy demo`` as a Prefect flow: simulated days of traffic through the real router, the real
``nightly_evolution`` after each day, baselines on the same queries, and a report.

The flow only composes tasks (``tasks/demo.py``) and the nightly flows; the work is in
``academy.simulation``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import flow

from academy.config import load_config
from academy.simulation.week import cpu_seconds, demo_config
from flows.nightly import DEFAULT_CONFIG, nightly_evolution, score_traffic
from tasks import demo as t


@flow(name="simulated_week")
def simulated_week(
    config_path: str = DEFAULT_CONFIG,
    home: str | None = None,
    quick: bool = False,
    traffic: str | None = None,
    days: int | None = None,
    queries_per_day: int | None = None,
    out: str | None = None,
    delegation: bool | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Day d: route through Academy and the static baseline; night d: nightly_evolution (after the
    last day only the scorer, so that day's monitoring is paid for). Then account and report.

    Each night runs in this process (a subflow), so its CPU time is measured around the call
    (``cpu_seconds``: this process's threads and its exited children) and charged to day d + 1.
    ``seed`` replaces ``demo.seed`` (``academy demo --seed``)."""
    started = time.perf_counter()
    trace = Path(traffic) if traffic else None
    overrides = {"days": days, "queries_per_day": queries_per_day, "seed": seed}
    cfg = demo_config(
        load_config(config_path), quick, Path(home) if home else None, trace, overrides, delegation
    )
    prepared = t.prepare_demo(cfg)
    plans = t.plan_week(cfg, trace)
    rows, nights = [], {}
    for day in plans:
        simulated = t.simulate_day(cfg, prepared, day)
        last = day.day == plans[-1].day
        night_flow = score_traffic if last else nightly_evolution
        cpu_started = cpu_seconds()
        outcome = night_flow(prepared.config_path, str(cfg.paths.home))
        nights[day.day] = ({"scoring": outcome} if last else dict(outcome)) | {
            "cpu_seconds": round(cpu_seconds() - cpu_started, 1)
        }
        rows.append(
            t.account_day(
                cfg, day, simulated, nights, prepared.warm_start_seconds, prepared.warm_start_cpu_seconds
            )
        )
    result = t.week_result(cfg, rows, nights, time.perf_counter() - started, trace)
    result |= t.publish_report(cfg, result, Path(out) if out else None)
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    return result
