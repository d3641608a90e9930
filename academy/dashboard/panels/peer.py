"""The peer learning panel: held-out exact match of students trained with and without a peer
teacher's logits, from the distillation benchmark (its committed results or its MLflow runs)."""

from __future__ import annotations

import json
from typing import Any

from academy.dashboard.panels.base import RATIO, column, figure, panel, rnd, unavailable


def peer_variants_from_results(results: dict[str, Any]) -> list[dict[str, Any]]:
    """``bench/results/distill/results.json`` -> one dict per variant."""
    return [
        {
            "name": name,
            "peer": v.get("peer"),
            "with_peer": "peer" in (v.get("aspects") or []),
            "mean": v.get("mean"),
            "exact_match": dict(v.get("exact_match") or {}),
            "steps": v.get("steps"),
            "peer_steps": v.get("peer_steps"),
        }
        for name, v in (results.get("variants") or {}).items()
    ]


def peer_variants_from_runs(children: list[Any]) -> list[dict[str, Any]]:
    """The child runs of one MLflow ``distill-bench`` run (one per variant) -> one dict per variant."""
    variants = []
    for run in sorted(children, key=lambda r: r.info.start_time or 0):
        params, metrics = run.data.params, run.data.metrics
        aspects = _json_param(params.get("aspects")) or []
        variants.append(
            {
                "name": run.info.run_name,
                "peer": _json_param(params.get("peer")),
                "with_peer": "peer" in aspects,
                "mean": metrics.get("mean_exact_match"),
                "exact_match": {
                    k.split(".", 1)[1]: v for k, v in metrics.items() if k.startswith("exact_match.")
                },
                "steps": _json_param(params.get("steps")),
                "peer_steps": _json_param(params.get("peer_steps")),
            }
        )
    return variants


def _json_param(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def peer_panel(variants: list[dict[str, Any]], source: str) -> dict[str, Any]:
    """Held-out exact match of students trained with vs without a peer teacher's logits."""
    title = "Peer learning"
    if not variants:
        return unavailable("peer", title, "no distillation benchmark yet: run `academy bench distill`",
                           source=source)  # fmt: skip
    names = [v["name"] for v in variants]
    with_peer = [rnd(v["mean"], RATIO) if v["with_peer"] else None for v in variants]
    without = [None if v["with_peer"] else rnd(v["mean"], RATIO) for v in variants]
    chart = {
        "id": "peer-variants",
        "title": "Held-out exact match (mean over domains)",
        "kind": "bar",
        "stacked": True,
        "xtitle": "variant",
        "ytitle": "exact match",
        "series": [
            {"name": "without a peer teacher", "x": names, "y": without},
            {"name": "with a peer teacher", "x": names, "y": with_peer},
        ],
    }
    domains = sorted({d for v in variants for d in v["exact_match"]})
    rows = [
        [v["name"], "yes" if v["with_peer"] else "no", v["peer"], rnd(v["mean"], RATIO),
         *(rnd(v["exact_match"].get(d), RATIO) if v["exact_match"].get(d) is not None else None for d in domains)]
        for v in variants
    ]  # fmt: skip
    columns = [column("variant"), column("peer teacher"), column("peer"), column("mean", RATIO),
               *(column(d, RATIO) for d in domains)]  # fmt: skip
    peers = [v for v in variants if v["with_peer"] and v["mean"] is not None]
    solo = [v for v in variants if not v["with_peer"] and v["mean"] is not None]
    best_peer = max(peers, key=lambda v: v["mean"], default=None)
    best_solo = max(solo, key=lambda v: v["mean"], default=None)
    summary = [
        figure(f"best with a peer ({best_peer['name']})" if best_peer else "best with a peer",
               rnd(best_peer["mean"], RATIO) if best_peer else None, RATIO),
        figure(f"best without ({best_solo['name']})" if best_solo else "best without",
               rnd(best_solo["mean"], RATIO) if best_solo else None, RATIO),
        figure("difference (with - without)",
               rnd(best_peer["mean"] - best_solo["mean"], RATIO) if best_peer and best_solo else None, RATIO),
    ]  # fmt: skip
    notes = ["Every variant starts from the same fresh student, same data, same step budget; the peer "
             "teacher is the variant named in 'peer' (its logits are distilled after or instead of SFT)."]  # fmt: skip
    return panel("peer", title, source=source, summary=summary, notes=notes, charts=[chart],
                 tables=[{"id": "peer-table", "title": "Held-out exact match per variant",
                          "columns": columns, "rows": rows}])  # fmt: skip
