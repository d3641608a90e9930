"""The live dashboard: auth, the JSON API and the page in a real headless Chromium against the real
server on a seeded home (traffic over several days, registry history with a rollback, a gap report).
The browser test saves a screenshot in its temporary directory; with
``ACADEMY_DASHBOARD_SCREENSHOT=docs/dashboard.png`` it refreshes the docs' screenshot (so `make test` leaves
the checkout clean). The panel functions on known data: tests/unit/test_dashboard.py."""

from __future__ import annotations

import asyncio
import math
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pandas as pd
import pytest

from academy.backends.base import approx_tokens
from academy.dashboard.http import PANEL_NAMES
from academy.dashboard.sources import BENCH_RESULTS, Sources
from academy.gateway.service import Gateway
from academy.store import AnswerRecord, QueryRecord, ScoreRecord, TrafficStore
from tests.factories import TINY_STUDENT, make_config
from tests.factories.dashboard import STUDENT_PRICE, TEACHER_PRICE, price

SCREENSHOT_ENV = os.environ.get("ACADEMY_DASHBOARD_SCREENSHOT")
SUPERVISOR, DELEGATE, JUDGE_COST = "reference", "ensemble", 0.0002
DAYS = 5
DOMAINS = ("arithmetic", "units", "capitals")


# ---- seeding: realistic traffic, late scores, registry history, a gap report ---------------------


def seed_traffic(store: TrafficStore, start: datetime) -> dict:
    """Five days of school traffic as the router logs it: novel queries fan out to the teacher and a
    student, both judged by the supervisor; familiar queries are served unjudged (a student takes
    over from day 3) with shadow answers judged by the supervisor, then by a delegated cheap judge;
    cache hits have no answers. The nightly scorer judges half the familiar answers later. Plus one
    evaluation row, which is not traffic. Returns what a correct dashboard must count."""
    rng = np.random.default_rng(0)
    expect = {"routes": {}, "supervisor": {}, "delegated": {}, "counterfactual": 0.0, "academy": 0.0}
    items, scores = [], []
    for day in range(DAYS):
        novel, cache = [9, 6, 4, 3, 2][day], [0, 1, 2, 3, 3][day]
        familiar = 14 - novel - cache
        routes = ["novel"] * novel + ["familiar"] * familiar + ["cache"] * cache
        label = (start + timedelta(days=day)).strftime("%Y-%m-%d")
        expect["routes"][label] = {r: routes.count(r) for r in ("novel", "familiar", "cache")}
        sup = dele = 0
        for i, route in enumerate(routes):
            ts = start + timedelta(days=day, hours=8 + i // 2, minutes=7 * i)
            qid = f"q{day}-{i}"
            domain = DOMAINS[i % len(DOMAINS)]
            text = f"What is {10 + i} plus {day + 3}? ({domain})"
            answer = str(13 + i + day)
            tin, tout = approx_tokens(text), approx_tokens(answer) + 6
            teacher_cost = price(tin, tout, TEACHER_PRICE)
            student_cost = price(tin, tout, STUDENT_PRICE)
            answers: list[AnswerRecord] = []
            if route == "novel":
                right = day >= 2 and domain != "capitals"
                served = "student-1" if right else "teacher"
                for model, role, cost, score in (
                    ("teacher", "teacher", teacher_cost, 1.0),
                    ("student-1", "student", student_cost, 1.0 if right else 0.25),
                ):
                    answers.append(AnswerRecord(
                        model, role, "serve" if model == served else "fanout", answer, ts=ts,
                        tokens_in=tin, tokens_out=tout, cost=cost, judge_score=score,
                        judge_name=SUPERVISOR, judge_cost=JUDGE_COST,
                    ))  # fmt: skip
                sup += 2
                expect["counterfactual"] += teacher_cost
            elif route == "familiar":
                served = "student-1" if day >= 2 and domain != "capitals" else "teacher"
                role, cost = ("student", student_cost) if served == "student-1" else ("teacher", teacher_cost)
                answers.append(AnswerRecord(served, role, "serve", answer, ts=ts, tokens_in=tin,
                                            tokens_out=tout, cost=cost))  # fmt: skip
                if i % 3 == 0:  # shadowed by the second student
                    judge = SUPERVISOR if day < 2 else DELEGATE
                    answers.append(AnswerRecord(
                        "student-2", "student", "shadow", answer, ts=ts + timedelta(seconds=2),
                        tokens_in=tin, tokens_out=tout, cost=student_cost, judge_score=0.5 + 0.1 * day,
                        judge_name=judge, judge_cost=JUDGE_COST if judge == SUPERVISOR else 0.0,
                    ))  # fmt: skip
                    sup, dele = sup + (judge == SUPERVISOR), dele + (judge == DELEGATE)
                if i % 2 == 0:  # nightly monitoring, at 02:00 the next night
                    judge = SUPERVISOR if day < 3 else DELEGATE
                    scores.append(ScoreRecord(
                        f"{qid}/{served}/serve", qid, "default", served, 0.9 if served == "teacher" else 0.8,
                        judge, JUDGE_COST if judge == SUPERVISOR else 0.0,
                        ts=start + timedelta(days=day + 1, hours=2),
                    ))  # fmt: skip
                    sup, dele = sup + (judge == SUPERVISOR), dele + (judge == DELEGATE)
                expect["counterfactual"] += teacher_cost
            else:
                served = "teacher"
                expect["counterfactual"] += price(approx_tokens(text), approx_tokens(answer), TEACHER_PRICE)
            total = sum(a.cost + a.judge_cost for a in answers)
            expect["academy"] += total
            query = QueryRecord(
                id=qid, tenant="default", text=text, embedding=rng.normal(size=384).astype(np.float32),
                route=route, final_model=served, final_answer=answer, total_cost=total, domain=domain, ts=ts,
            )  # fmt: skip
            items.append((query, answers))
        expect["supervisor"][label], expect["delegated"][label] = sup, dele
    evaluation = QueryRecord(
        id="evaluation:student-1:2:q0-0", tenant="default", text="What is 10 plus 3?",
        embedding=rng.normal(size=384), route="evaluation", final_model="student-1", final_answer="13",
        ts=start + timedelta(days=1, hours=3),
    )  # fmt: skip
    items.append((evaluation, [AnswerRecord("student-1", "student", "evaluation", "13", judge_score=1.0,
                                            judge_name="exact_match", ts=evaluation.ts)]))  # fmt: skip
    assert store.log_many(items) == len(items)
    store.log_scores(scores)
    expect["academy"] += sum(s.judge_cost for s in scores)
    return expect


def seed_registry(cfg, student_dir: Path) -> None:
    """Real versions on the home's SQLite MLflow: two promotions, a rejection, a rollback, a role
    change, and a second student in production."""
    from registry.model_registry import ModelRegistry

    registry = ModelRegistry.from_config(cfg)
    for name, count in (("student-1", 3), ("student-2", 1)):
        for i in range(1, count + 1):
            registry.register_student(name, student_dir, params={"steps": 10 * i},
                                      metrics={"gap_score": 0.5 + i / 10}, run_name=f"{name}-v{i}")  # fmt: skip
    registry.transition("student-1", 1, "staging", "bootstrap")
    registry.transition("student-1", 1, "production", "bootstrap")
    registry.transition("student-1", 2, "staging", "gate passed: gap 0.70 vs 0.60")
    registry.transition("student-1", 2, "production", "beats v1 by 0.10")
    registry.transition("student-1", 3, "staging", "gate passed: gap 0.80 vs 0.70")
    registry.transition("student-1", 3, "rejected", "regressed units by 0.12")
    registry.rollback("student-1", "bad answers on units")
    registry.set_role("student-1", "ta", "win rate 0.82 for 3 nights")
    registry.transition("student-2", 1, "staging", "spawned for uncovered capitals")
    registry.transition("student-2", 1, "production", "reached min_spawn_score")


def seed_gaps(cfg) -> None:
    from academy.evolution.gaps import ClusterStats, GapReport, write_gaps
    from academy.evolution.layout import NightLayout

    clusters = [
        ClusterStats(0, 24, "capitals", {"capitals": 24}, 0.9, 0.0008, 0.0173, None, None, "uncovered",
                     ["What is the capital of Peru?"]),
        ClusterStats(1, 30, "units", {"units": 30}, 0.4, 0.0007, 0.0084, "student-1", 0.62,
                     "underperforming", ["Convert 3 km to m."]),
        ClusterStats(2, 16, "arithmetic", {"arithmetic": 16}, 0.1, 0.0006, 0.0010, "student-1", 0.97, None,
                     ["What is 12 plus 5?"]),
    ]  # fmt: skip
    report = GapReport(clusters, clusters[:2], 0.9)
    ids = pd.Series([0, 1, 2], index=["q0-0", "q0-1", "q0-2"], name="cluster")
    write_gaps(NightLayout.of(cfg).gaps, ids, pd.DataFrame({"cluster": [0, 1, 2]}), report)


# ---- the seeded site -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cheap_student(tmp_path_factory) -> Path:
    """An untrained tiny student: registering real versions needs one, serving does not."""
    from academy.school import School
    from models.student import create_student

    examples = School(seed=1).generate(60)
    path = tmp_path_factory.mktemp("dash-students") / "student"
    return create_student(path, TINY_STUDENT, [t for e in examples for t in (e.query, e.reference)])


@pytest.fixture(scope="module")
def site(tmp_path_factory, embedder, cheap_student):
    from academy.inprocess import BackgroundServer
    from academy.runtime import Runtime
    from academy.server import create_app

    home = tmp_path_factory.mktemp("dash-home")
    cfg = make_config(home)
    cfg.paths.data = home / "datasets"
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS - 1)
    expect = seed_traffic(TrafficStore(cfg.paths.store, cfg.store), start)
    seed_registry(cfg, cheap_student)
    seed_gaps(cfg)
    gateway = Gateway.from_config(cfg)
    gateway.db.create_tenant("ops", "standard")
    admin, _ = gateway.db.create_key("ops", "dashboard", admin=True)
    user, _ = gateway.db.create_key("ops", "service")
    runtime = Runtime.build(cfg, embedder=embedder)
    with BackgroundServer(create_app(cfg, runtime, gateway)) as srv:
        yield SimpleNamespace(
            base=srv.url.removesuffix("/v1"), admin=admin, user=user, expect=expect, cfg=cfg
        )
    asyncio.run(runtime.aclose(close_embedder=False))
    gateway.close()


def api(site, panel: str, key: str | None = "admin", **params) -> httpx.Response:
    headers = {"Authorization": f"Bearer {getattr(site, key)}"} if key else {}
    return httpx.get(f"{site.base}/dashboard/api/{panel}", headers=headers, params=params, timeout=60)


# ---- auth ----------------------------------------------------------------------------------------


def test_admin_key_needed_once_keys_exist(site) -> None:
    page = httpx.get(f"{site.base}/dashboard", timeout=30)
    assert page.status_code == 401 and "admin" in page.text and "?key=" in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert httpx.get(f"{site.base}/dashboard", params={"key": site.user}, timeout=30).status_code == 403
    assert httpx.get(f"{site.base}/dashboard", params={"key": "nope"}, timeout=30).status_code == 401
    ok = httpx.get(f"{site.base}/dashboard", params={"key": site.admin}, timeout=30)
    assert ok.status_code == 200 and 'id="panel-traffic"' in ok.text
    assert ok.headers["referrer-policy"] == "no-referrer" and ok.headers["cache-control"] == "no-store"
    header = httpx.get(f"{site.base}/dashboard", headers={"Authorization": f"Bearer {site.admin}"})
    assert header.status_code == 200

    refused = api(site, "traffic", key=None)
    assert refused.status_code == 401 and "admin key" in refused.json()["error"]["message"]
    assert api(site, "traffic", key="user").status_code == 403
    assert httpx.get(f"{site.base}/dashboard/api/traffic", params={"key": site.admin}).status_code == 401
    assert api(site, "nothing").status_code == 404
    assert api(site, "traffic", bucket="week").status_code == 400
    assert (
        httpx.get(f"{site.base}/dashboard/static/plotly.min.js", timeout=30).status_code == 200
    )  # no secret


# ---- the JSON API on the seeded home -------------------------------------------------------------


def test_api_counts_what_was_seeded(site) -> None:
    expect = site.expect
    traffic = api(site, "traffic").json()
    table = traffic["tables"][0]
    names = [c["name"] for c in table["columns"]]
    for row in table["rows"][:-1]:
        day = expect["routes"][row[0]]
        assert {r: row[names.index(r)] for r in day} == day
        assert row[names.index("queries")] == sum(day.values())  # the evaluation row is not traffic
    assert traffic["tables"][0]["rows"][-1][1] == DAYS * 14

    cost = api(site, "cost").json()
    total = cost["tables"][0]["rows"][-1]
    assert total[2] == pytest.approx(expect["academy"], abs=1e-8)
    assert total[3] == pytest.approx(expect["counterfactual"], abs=1e-8)
    assert total[8] == pytest.approx(expect["counterfactual"] - expect["academy"], abs=1e-7)

    sup = api(site, "supervisor").json()
    rows = {r[0]: r for r in sup["tables"][0]["rows"][:-1]}
    assert {d: r[4] for d, r in rows.items()} == expect["supervisor"]
    assert {d: r[5] for d, r in rows.items()} == expect["delegated"]

    registry = api(site, "registry").json()
    assert registry["state"] == "ok"
    serving = {r[0]: r for r in registry["tables"][0]["rows"]}
    assert serving["student-1"][2:5] == ["ta", 1, None] and serving["student-2"][3] == 1
    events = [(r[1], r[2], r[3]) for r in registry["tables"][1]["rows"]]
    assert ("student-1", 1, "rollback") in events and ("student-1", 2, "rolled back") in events
    assert ("student-1", 3, "rejected") in events and ("student-1", None, "role:ta") in events

    gaps = api(site, "gaps").json()
    assert gaps["state"] == "ok" and [r[9] for r in gaps["tables"][0]["rows"]] == [True, True, False]
    peer = api(site, "peer").json()
    assert peer["state"] == "ok" and str(BENCH_RESULTS) in peer["source"]
    assert api(site, "accuracy", by="cluster").json()["charts"][0]["y"] == [
        "cluster 0",
        "cluster 1",
        "cluster 2",
    ]


# ---- the page in headless Chromium ---------------------------------------------------------------

READ_PAGE = """
return Array.from(document.querySelectorAll('section.panel')).map(s => ({
  panel: s.dataset.panel, state: s.dataset.state, status: s.querySelector('.status').textContent,
  source: s.querySelector('.source').textContent,
  summary: Array.from(s.querySelectorAll('.summary .figure')).map(f => ({
    label: f.dataset.label, value: JSON.parse(f.dataset.value), text: f.querySelector('dd').textContent})),
  charts: Array.from(s.querySelectorAll('.chart')).map(c => ({
    id: c.dataset.chart, drawn: c.querySelectorAll('svg.main-svg').length > 0,
    traces: (c.data || []).map(t => ({type: t.type, name: t.name === undefined ? null : t.name,
      x: t.x, y: t.y, z: t.z === undefined ? null : t.z}))})),
  tables: Array.from(s.querySelectorAll('table.figures')).map(t => ({
    id: t.dataset.table, head: Array.from(t.querySelectorAll('th')).map(h => h.textContent),
    rows: Array.from(t.querySelectorAll('tbody tr')).map(r => Array.from(r.querySelectorAll('td')).map(
      td => ({value: JSON.parse(td.dataset.value), text: td.textContent})))}))
}));
"""


def chromium_paths() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def shown_as(text: str, value, digits: int | None) -> bool:
    """Does the page's text show ``value`` (to ``digits`` decimals, as the page formats it)?"""
    if value is None:
        return text == "–"
    if isinstance(value, bool):
        return text == ("yes" if value else "no")
    if isinstance(value, int | float) and digits is not None:
        return math.isclose(float(text), value, abs_tol=0.5 * 10**-digits + 1e-12)
    if isinstance(value, float) and value == int(value):
        return text == str(int(value))  # JavaScript prints 2.0 as "2"
    return text == str(value)


def assert_drawn_as_returned(shown: dict, data: dict) -> None:
    name = data["panel"]
    assert shown["state"] == "ready", (name, shown["status"])
    assert shown["source"] == (f"Source: {data['source']}" if data["source"] else "")
    assert [(f["label"], f["value"]) for f in shown["summary"]] == [
        (f["label"], f["value"]) for f in data["summary"]
    ]
    for figure, spec in zip(shown["summary"], data["summary"]):
        assert shown_as(figure["text"], spec["value"], spec["digits"]), (name, figure, spec)
    assert [c["id"] for c in shown["charts"]] == [c["id"] for c in data["charts"]]
    for chart, spec in zip(shown["charts"], data["charts"]):
        assert chart["drawn"], (name, chart["id"])
        if spec["kind"] == "heatmap":
            (trace,) = chart["traces"]
            assert (trace["x"], trace["y"], trace["z"]) == (spec["x"], spec["y"], spec["z"])
            continue
        drawn = [(t["name"], t["x"], t["y"]) for t in chart["traces"]]
        assert drawn == [(s["name"], s["x"], s["y"]) for s in spec["series"]], (name, chart["id"])
    assert [t["id"] for t in shown["tables"]] == [t["id"] for t in data["tables"]]
    for table, spec in zip(shown["tables"], data["tables"]):
        assert table["head"] == [c["name"] for c in spec["columns"]]
        assert [[c["value"] for c in row] for row in table["rows"]] == spec["rows"], (name, table["id"])
        for row, values in zip(table["rows"], spec["rows"]):
            for cell, value, col in zip(row, values, spec["columns"]):
                assert shown_as(cell["text"], value, col["digits"]), (name, table["id"], cell, value)


def test_every_panel_renders_the_api_figures_in_chromium(site, tmp_path) -> None:
    paths = chromium_paths()
    if paths is None:
        pytest.skip(
            "headless Chromium is not installed (apt-get install chromium chromium-driver; `make browser`)"
        )
    pytest.importorskip("selenium", reason="selenium is in the dev extras: pip install -e '.[dev]'")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = Options()
    options.binary_location = paths[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1500,1000", "--hide-scrollbars", "--force-device-scale-factor=1"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(paths[1]), options=options)
    try:
        driver.get(f"{site.base}/dashboard?key={site.admin}&refresh=0")
        WebDriverWait(driver, 45).until(
            lambda d: d.execute_script("return document.body.dataset.rendered") == "1"
        )
        page = {p["panel"]: p for p in driver.execute_script(READ_PAGE)}
        assert list(page) == list(PANEL_NAMES)
        for name in PANEL_NAMES:
            assert_drawn_as_returned(page[name], api(site, name).json())
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1500, height + 20)
        shot = Path(SCREENSHOT_ENV) if SCREENSHOT_ENV else tmp_path / "dashboard.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    assert shot.stat().st_size > 20_000


def test_peer_panel_prefers_mlflow_distill_bench_runs(site) -> None:
    from registry.model_registry import ModelRegistry

    registry = ModelRegistry.from_config(site.cfg)
    parent = registry.log_run("distill-bench", {}, {}, tags={"academy.kind": "distill-bench"})
    for name, aspects, peer, mean in (
        ("solo", ["reasoning"], None, 0.5),
        ("with-peer", ["reasoning", "peer"], "solo", 0.6),
    ):
        registry.log_run(name, {"aspects": aspects, "peer": peer, "steps": 10, "peer_steps": 5},
                         {"mean_exact_match": mean, "exact_match.units": mean},
                         tags={"mlflow.parentRunId": parent, "academy.kind": "distill-bench"})  # fmt: skip
    data = Sources(site.cfg).peer_panel()
    assert parent in data["source"] and data["tables"][0]["rows"] == [
        ["solo", "no", None, 0.5, 0.5], ["with-peer", "yes", "solo", 0.6, 0.6],
    ]  # fmt: skip
