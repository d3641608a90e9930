"""The dashboard's panel functions on known data, its routes on an empty home (in process), and the
frames it reads from the store. Auth, the JSON API and the page in headless Chromium against a real
server on a seeded home: tests/e2e/test_dashboard.py."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from academy.dashboard import build_router, panels
from academy.dashboard.sources import BENCH_RESULTS, REPO_ROOT, load_frames, results_peer_panel
from academy.gateway.db import GatewayDB
from academy.gateway.service import Gateway
from academy.store import QueryRecord, TrafficStore
from tests.factories import make_config
from tests.factories.dashboard import TEACHER_PRICE, price


def test_open_while_no_key_exists(tmp_path) -> None:
    cfg = make_config(tmp_path)
    app = FastAPI()
    app.include_router(build_router())
    app.state.runtime = SimpleNamespace(config=cfg)
    app.state.gateway = Gateway(cfg, GatewayDB(tmp_path / "gateway.db"))
    with TestClient(app) as client:
        assert client.get("/dashboard").status_code == 200
        body = client.get("/dashboard/api/traffic").json()
        assert (body["state"], body["message"]) == ("empty", panels.NO_TRAFFIC)
        assert client.get("/dashboard/api/registry").json()["state"] == "unavailable"
        assert "no registry yet" in client.get("/dashboard/api/registry").json()["message"]
        assert "no gap report yet" in client.get("/dashboard/api/gaps").json()["message"]
        app.state.gateway.db.create_tenant("ops", "standard")
        app.state.gateway.db.create_key("ops", "first")
        assert client.get("/dashboard").status_code == 401
    app.state.gateway.close()


# ---- panel functions on known data ---------------------------------------------------------------


def frames(queries: list[dict], answers: list[dict], scores: list[dict] | None = None):
    q = pd.DataFrame(queries, columns=panels.QUERY_COLUMNS + ["text", "final_answer"])
    a = pd.DataFrame(answers, columns=panels.ANSWER_COLUMNS)
    s = pd.DataFrame(scores or [], columns=panels.SCORE_COLUMNS)
    for frame in (q, a, s):
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return q, a, s


def answer(qid, model, role, purpose, ts, cost=0.0, tin=10, tout=5, score=None, judge=None, jcost=0.0):
    return {"id": f"{qid}/{model}/{purpose}", "query_id": qid, "ts": ts, "model": model, "role": role,
            "purpose": purpose, "tokens_in": tin, "tokens_out": tout, "cost": cost, "judge_score": score,
            "judge_name": judge, "judge_cost": jcost, "error": None}  # fmt: skip


def query(qid, ts, route, model, total, domain="units", text=None, final=None):
    return {"id": qid, "ts": ts, "route": route, "final_model": model, "total_cost": total, "domain": domain,
            "text": text, "final_answer": final}  # fmt: skip


KNOWN = frames(
    [
        query("a", "2026-01-01 09:00", "novel", "teacher", 1.0),
        query("b", "2026-01-01 10:00", "familiar", "student-1", 0.5),
        query("c", "2026-01-02 09:30", "cache", "teacher", 0.0, text="x" * 40, final="y" * 8),
        query("e", "2026-01-02 11:00", "evaluation", "student-1", 0.0),
    ],
    [
        answer("a", "teacher", "teacher", "serve", "2026-01-01 09:00", cost=0.6, score=1.0, judge="sup", jcost=0.2),
        answer("a", "student-1", "student", "fanout", "2026-01-01 09:00", cost=0.0, score=0.0, judge="sup", jcost=0.2),
        answer("b", "student-1", "student", "serve", "2026-01-01 10:00", cost=0.3, tin=100, tout=20),
        answer("b", "student-2", "student", "shadow", "2026-01-01 10:00", cost=0.2, score=0.5, judge="ensemble"),
        answer("e", "student-1", "student", "evaluation", "2026-01-02 11:00", score=1.0, judge="exact"),
    ],
    [{"id": "b/student-1/serve", "query_id": "b", "ts": "2026-01-02 02:00", "model": "student-1",
      "judge_score": 1.0, "judge_name": "sup", "judge_cost": 0.2, "error": None}],
)  # fmt: skip


def test_traffic_panel_counts_routes_shadows_models_and_roles() -> None:
    q, a, _ = KNOWN
    data = panels.traffic_panel(q, a)
    charts = {c["id"]: {s["name"]: s["y"] for s in c["series"]} for c in data["charts"]}
    assert charts["traffic-route"] == {
        "novel": [1, 0],
        "familiar": [1, 0],
        "cache": [0, 1],
        "shadow answers": [1, 0],
    }
    assert charts["traffic-model"] == {"cache": [0, 1], "student-1": [1, 0], "teacher": [1, 0]}
    assert charts["traffic-role"] == {"teacher": [1, 0], "student": [1, 0], "cache": [0, 1]}
    assert data["tables"][0]["rows"][-1][:2] == ["total", 3]
    hourly = panels.traffic_panel(q, a, "hour")
    assert hourly["charts"][0]["series"][0]["x"][0] == "2026-01-01 09:00"
    assert panels.traffic_panel(q.iloc[:0], a.iloc[:0])["state"] == "empty"


def test_cost_panel_prices_the_always_teacher_counterfactual() -> None:
    q, a, s = KNOWN
    teacher = panels.teacher_counterfactual(q, a, "teacher", *TEACHER_PRICE)
    assert teacher["a"] == 0.6  # the teacher answered: its logged cost
    assert teacher["b"] == pytest.approx(price(100, 20, TEACHER_PRICE))  # teacher price x the served tokens
    assert teacher["c"] == pytest.approx(price(10, 2, TEACHER_PRICE))  # cache hit: the texts' tokens
    data = panels.cost_panel(q, a, s, "teacher", *TEACHER_PRICE)
    day1, day2, total = data["tables"][0]["rows"]
    assert day1[:4] == ["2026-01-01", 2, 1.7, panels.rnd(0.6 + price(100, 20, TEACHER_PRICE), panels.USD)]
    assert day2[2] == 0.0 and total[1] == 3  # the evaluation row is not traffic
    assert total[-1] == panels.rnd(teacher.drop("e").sum() - 1.7, panels.USD)
    assert data["summary"][1]["value"] == total[-1]


def test_supervisor_panel_splits_supervisor_and_delegated_calls_by_query_day() -> None:
    q, a, s = KNOWN
    data = panels.supervisor_panel(q, a, s, "sup")
    (day, *rest), total = data["tables"][0]["rows"]  # the nightly score counts on its query's day
    assert [day, *rest] == ["2026-01-01", 4, 3, 1, 3, 1, 0.75, 1.0, 0.6]
    series = {x["name"]: x["y"] for x in data["charts"][0]["series"]}
    assert series == {"sup (supervisor)": [3], "ensemble (delegated)": [1]}


def test_accuracy_panel_maps_domain_or_cluster_by_model() -> None:
    q, a, s = KNOWN
    q = q.copy()
    q.loc[q["id"] == "b", "domain"] = None
    data = panels.accuracy_panel(q, a, s)
    chart = data["charts"][0]
    assert (chart["x"], chart["y"]) == (["student-1", "student-2", "teacher"], ["units", "unknown"])
    assert chart["z"] == [[0.0, None, 1.0], [1.0, 0.5, None]]  # b's late score counts; evaluation does not
    by_cluster = panels.accuracy_panel(q, a, s, "cluster", pd.Series({"a": 3, "b": 12}))
    assert by_cluster["charts"][0]["y"] == ["cluster 3", "cluster 12"]


def test_registry_panel_never_breaks_the_page() -> None:
    class Broken:
        tracking_uri = "http://127.0.0.1:9/"

        def exists(self) -> bool:
            return True

        def status(self):
            raise RuntimeError("connection refused")

    data = panels.registry_panel(Broken())
    assert data["state"] == "unavailable" and "registry unreachable: connection refused" in data["message"]
    missing = SimpleNamespace(exists=lambda: False, tracking_uri="sqlite:///nowhere.db")
    assert "no registry yet" in panels.registry_panel(missing)["message"]


def test_peer_panel_from_the_committed_benchmark() -> None:
    data = results_peer_panel(REPO_ROOT / BENCH_RESULTS)
    results = json.loads((REPO_ROOT / BENCH_RESULTS).read_text())["variants"]
    rows = {r[0]: r for r in data["tables"][0]["rows"]}
    assert set(rows) == set(results)
    assert all((rows[n][1] == "yes") == ("peer" in v["aspects"]) for n, v in results.items())
    best_with = max(v["mean"] for v in results.values() if "peer" in v["aspects"])
    best_without = max(v["mean"] for v in results.values() if "peer" not in v["aspects"])
    assert [f["value"] for f in data["summary"]] == [
        best_with,
        best_without,
        round(best_with - best_without, 4),
    ]
    assert "committed benchmark" in data["source"]


def test_frames_read_only_the_needed_columns(tmp_path) -> None:
    store = TrafficStore(tmp_path / "lancedb")
    q = QueryRecord(id="c1", tenant="t", text="hello there", embedding=np.ones(384), route="cache",
                    final_model="teacher", final_answer="hi")  # fmt: skip
    store.log(q, [])
    f = load_frames(store, "t")
    assert list(f.queries.columns) == panels.QUERY_COLUMNS + ["text", "final_answer"]
    assert list(f.answers.columns) == panels.ANSWER_COLUMNS and "embedding" not in f.queries
    assert load_frames(store, "other").queries.empty
