"""The gateway over real HTTP: keys, tenants, isolation, rate limits, quotas, usage, caches, audit.
The token bucket and the cache alone: tests/unit/test_gateway.py."""

from __future__ import annotations

import asyncio
import csv
import io
import sqlite3

import httpx
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from academy.cli import app as cli
from academy.config import AcademyConfig
from academy.gateway.db import GatewayDB
from academy.gateway.service import Gateway
from academy.inprocess import BackgroundServer
from academy.runtime import Runtime
from academy.server import create_app
from tests.factories import make_config

TIERS = {
    "standard": {"cache_exact": False, "cache_semantic": False},
    "cached": {"cache_exact": True, "cache_semantic": True},
    "limited": {"requests_per_minute": 6, "burst": 2, "cache_exact": False, "cache_semantic": False},
    "tokens": {"tokens_per_day": 20, "cache_exact": False, "cache_semantic": False},
    "budget": {"monthly_budget_usd": 1e-9, "cache_exact": False, "cache_semantic": False},
    "students": {"models": ["student-1"], "cache_exact": False, "cache_semantic": False},
}


def gateway_config(home, student_dir) -> AcademyConfig:
    data = make_config(home, student_dir).model_dump(mode="json")
    data["gateway"] = {"auth": "auto", "default_tier": "standard", "tiers": TIERS}
    return AcademyConfig.model_validate(data)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory, embedder, tiny_student_dir):
    cfg = gateway_config(tmp_path_factory.mktemp("home"), tiny_student_dir)
    rt = Runtime.build(cfg, embedder=embedder)
    yield rt
    asyncio.run(rt.aclose(close_embedder=False))


@pytest.fixture(scope="module")
def gateway(runtime):
    gw = Gateway.from_config(runtime.config)
    yield gw
    gw.close()


@pytest.fixture(scope="module")
def server(runtime, gateway):
    with BackgroundServer(create_app(runtime.config, runtime, gateway)) as srv:
        srv.base = srv.url.removesuffix("/v1")
        yield srv


@pytest.fixture(scope="module")
def keys(gateway) -> dict[str, str]:
    """One key per tenant (tenant name == tier name) plus an admin key; from here on auth is on."""
    made = {}
    for tier in TIERS:
        gateway.db.create_tenant(tier, tier)
        made[tier], _ = gateway.db.create_key(tier, f"{tier}-service")
    gateway.db.create_tenant("other", "standard")
    made["other"], _ = gateway.db.create_key("other", "other-service")
    gateway.db.create_tenant("ops", "standard")
    made["admin"], _ = gateway.db.create_key("ops", "ops-admin", admin=True)
    return made


def chat(server, text: str, key: str | None = None, **headers: str) -> httpx.Response:
    if key:
        headers["Authorization"] = f"Bearer {key}"
    body = {"model": "academy", "messages": [{"role": "user", "content": text}]}
    return httpx.post(f"{server.base}/v1/chat/completions", json=body, headers=headers, timeout=60)


def admin(server, method: str, path: str, key: str | None, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.request(method, f"{server.base}{path}", headers=headers, timeout=60, **kwargs)


def stored_tenants(runtime, request_id: str) -> str:
    runtime.router.wait_idle()
    return runtime.store.get_query(request_id)["tenant"]


def test_open_until_the_first_key_then_every_request_needs_one(tmp_path, runtime) -> None:
    gw = Gateway(runtime.config, GatewayDB(tmp_path / "gateway.db"))
    with BackgroundServer(create_app(runtime.config, runtime, gw)) as srv:
        srv.base = srv.url.removesuffix("/v1")
        opened = chat(srv, "What is 2 + 3?", **{"X-Academy-Tenant": "walk-in"})
        assert opened.status_code == 200
        assert stored_tenants(runtime, opened.json()["academy"]["request_id"]) == "walk-in"

        gw.db.create_tenant("acme", "standard")
        secret, key = gw.db.create_key("acme", "billing")
        missing = chat(srv, "What is 2 + 3?")
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
        assert chat(srv, "What is 2 + 3?", "ak-not-a-key").status_code == 401
        answered = chat(srv, "What is 2 + 3?", secret)
        assert answered.status_code == 200  # attributed to the key's tenant, whatever the header says
        assert stored_tenants(runtime, answered.json()["academy"]["request_id"]) == "acme"
        spoofed = chat(srv, "What is 2 + 3?", secret, **{"X-Academy-Tenant": "walk-in"})
        assert spoofed.status_code == 403

        gw.db.revoke_key(key.id)
        revoked = chat(srv, "What is 2 + 3?", secret)
        assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]
    # only the key's hash is stored: the secret appears nowhere in the database file
    assert secret.encode() not in (tmp_path / "gateway.db").read_bytes()
    gw.close()


def test_admin_endpoints_need_an_admin_key_and_are_audited(server, keys) -> None:
    assert admin(server, "GET", "/admin/keys", None).status_code == 401
    assert admin(server, "GET", "/admin/keys", keys["standard"]).status_code == 403

    made = admin(server, "POST", "/admin/tenants", keys["admin"], json={"name": "globex", "tier": "cached"})
    assert made.status_code == 201 and made.json()["tier"] == "cached"
    assert admin(server, "POST", "/admin/tenants", keys["admin"], json={"name": "globex"}).status_code == 409
    bad_tier = admin(server, "POST", "/admin/tenants", keys["admin"], json={"name": "x", "tier": "gold"})
    assert bad_tier.status_code == 400 and "unknown tier" in bad_tier.json()["error"]["message"]

    created = admin(server, "POST", "/admin/keys", keys["admin"], json={"tenant": "globex", "name": "web"})
    assert created.status_code == 201
    secret, key_id = created.json()["key"], created.json()["id"]
    assert chat(server, "How many cm are in 2 m?", secret).status_code == 200
    listed = admin(server, "GET", "/admin/keys", keys["admin"], params={"tenant": "globex"}).json()["data"]
    assert [k["id"] for k in listed] == [key_id] and "key" not in listed[0] and "hash" not in listed[0]

    assert admin(server, "DELETE", f"/admin/keys/{key_id}", keys["admin"]).status_code == 200
    assert chat(server, "How many cm are in 2 m?", secret).status_code == 401
    assert admin(server, "DELETE", "/admin/keys/nope", keys["admin"]).status_code == 404

    audit = admin(server, "GET", "/admin/audit", keys["admin"]).json()["data"]
    actions = [(e["action"], e["target"]) for e in audit[:3]]
    assert actions == [("key.revoke", key_id), ("key.create", key_id), ("tenant.create", "globex")]
    assert all(e["actor"].startswith("key:") and e["ts"] for e in audit[:3])


def test_two_tenants_never_see_each_others_traffic_neighbours_cache_or_usage(server, runtime, keys) -> None:
    question = "What is the capital of Peru?"
    first = chat(server, question, keys["standard"]).json()["academy"]
    runtime.router.wait_idle()  # stored, so it is a neighbour now
    near = chat(server, "What is the capital city of Peru?", keys["standard"]).json()["academy"]
    again = chat(server, question, keys["standard"]).json()["academy"]
    other = chat(server, question, keys["other"]).json()["academy"]
    # neighbours: the tenant's own past query makes a close one familiar and its exact repeat
    # recalled (academy/routing/recall.py); the other tenant's makes neither
    assert first["route"] == "novel" and near["route"] == "familiar" and again["route"] == "recall"
    assert other["route"] == "novel"
    assert stored_tenants(runtime, first["request_id"]) == "standard"
    assert stored_tenants(runtime, other["request_id"]) == "other"
    # traffic: each tenant's rows are its own
    rows = runtime.store.queries_frame("other")
    assert first["request_id"] not in set(rows["id"]) and other["request_id"] in set(rows["id"])

    # cache: a cached answer is only ever served to the tenant it was answered for
    cached_q = "Reverse the word 'planet'."
    assert chat(server, cached_q, keys["cached"]).json()["academy"]["route"] != "cache"
    hit = chat(server, cached_q, keys["cached"]).json()["academy"]
    assert hit["route"] == "cache" and hit["cost_usd"] == 0.0
    assert chat(server, cached_q, keys["standard"]).json()["academy"]["route"] != "cache"

    # usage and exports: a tenant's key reads its own usage only, and cannot name another tenant
    own = admin(server, "GET", "/v1/usage", keys["other"]).json()
    assert own["tenant"] == "other" and {r["tenant"] for r in own["rows"]} == {"other"}
    assert other["request_id"] in {r["request_id"] for r in own["rows"]}
    assert first["request_id"] not in {r["request_id"] for r in own["rows"]}
    spoof = httpx.get(f"{server.base}/v1/usage", headers={"Authorization": f"Bearer {keys['other']}",
                                                          "X-Academy-Tenant": "standard"})  # fmt: skip
    assert spoof.status_code == 403
    assert admin(server, "GET", "/admin/usage", keys["other"]).status_code == 403
    everyone = admin(server, "GET", "/admin/usage", keys["admin"]).json()
    assert {"standard", "other", "cached"} <= {r["tenant"] for r in everyone["rows"]}

    # a request id is a tenant's own: another tenant reusing it gets a 409, not the answer
    rid = {"X-Request-Id": "shared-id-1"}
    assert chat(server, question, keys["standard"], **rid).status_code == 200
    assert chat(server, question, keys["other"], **rid).status_code == 409


def test_rate_limit_gives_429_with_retry_after_before_any_model_is_called(server, runtime, keys) -> None:
    runtime.router.wait_idle()
    before = runtime.store.count("queries")
    codes = [chat(server, f"What is {i} + 1?", keys["limited"]) for i in range(4)]
    assert [r.status_code for r in codes[:2]] == [200, 200]  # the burst
    refused = codes[2]
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert refused.json()["error"]["type"] == "rate_limit_error"
    runtime.router.wait_idle()
    assert runtime.store.count("queries") == before + 2  # the refused requests reached no model


def test_token_quota_and_monthly_budget_refuse_before_any_model_is_called(server, runtime, keys) -> None:
    first = chat(server, "What is 12 + 30?", keys["tokens"])
    assert first.status_code == 200  # 20 tokens a day: the first request fits
    used = first.json()["usage"]["total_tokens"]
    assert used > 0
    runtime.router.wait_idle()
    before = runtime.store.count("queries")
    over = chat(server, "What is 12 + 31? " * 5, keys["tokens"])  # ~22 tokens: over the day's 20
    assert over.status_code == 429 and over.json()["error"]["code"] == "insufficient_quota"
    assert "daily token quota" in over.json()["error"]["message"] and "Retry-After" in over.headers

    assert chat(server, "What is 5 + 5?", keys["budget"]).status_code == 200  # nothing spent yet
    broke = chat(server, "What is 6 + 6?", keys["budget"])
    assert broke.status_code == 429 and "monthly budget" in broke.json()["error"]["message"]
    runtime.router.wait_idle()
    assert runtime.store.count("queries") == before + 1


def test_a_tier_limited_to_students_never_reaches_the_teacher(server, runtime, keys) -> None:
    answered = [chat(server, q, keys["students"]) for q in ("What is 40 + 2?", "Reverse the word 'stone'.")]
    assert [r.status_code for r in answered] == [200, 200]
    runtime.router.wait_idle()
    for response in answered:
        rows = runtime.store.answers_for(response.json()["academy"]["request_id"])
        assert rows and {r["model"] for r in rows} == {"student-1"}  # not even in the fan-out


def test_usage_by_model_and_route_exports_as_json_csv_and_parquet(server, keys) -> None:
    answers = [chat(server, q, keys["standard"]).json() for q in ("Sort 3, 1, 2.", "Sort 3, 1, 2.")]
    usage = admin(server, "GET", "/admin/usage", keys["admin"], params={"tenant": "standard"}).json()
    ids = {r["request_id"] for r in usage["rows"]}
    assert {a["academy"]["request_id"] for a in answers} <= ids
    total = usage["total"]
    assert total["requests"] == len(usage["rows"]) == sum(v["requests"] for v in usage["by_model"].values())
    assert set(usage["by_route"]) <= {"novel", "familiar", "recall", "cache"}
    assert "recall" in usage["by_route"]  # the second "Sort 3, 1, 2." was served the first's answer
    assert total["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in usage["rows"]))
    served = {a["academy"]["request_id"]: a for a in answers}
    for row in usage["rows"]:
        if row["request_id"] in served:  # billed what the response said, by the model that served
            assert row["cost_usd"] == pytest.approx(served[row["request_id"]]["academy"]["cost_usd"])
            assert row["model"] == served[row["request_id"]]["academy"]["model"]

    params = {"tenant": "standard", "format": "csv"}
    text = admin(server, "GET", "/admin/usage", keys["admin"], params=params).text
    assert {r["request_id"] for r in csv.DictReader(io.StringIO(text))} == ids
    params["format"] = "parquet"
    blob = admin(server, "GET", "/admin/usage", keys["admin"], params=params).content
    table = pq.read_table(io.BytesIO(blob))
    assert set(table.column("request_id").to_pylist()) == ids and table.column("tokens_in").type == "int64"
    past = {"tenant": "standard", "start": "2020-01-01", "end": "2020-01-31"}
    assert admin(server, "GET", "/admin/usage", keys["admin"], params=past).json()["rows"] == []
    backwards = {"start": "2026-02-01", "end": "2026-01-01"}
    assert admin(server, "GET", "/admin/usage", keys["admin"], params=backwards).status_code == 400
    assert admin(server, "GET", "/admin/usage", keys["admin"], params={"start": "soon"}).status_code == 400


def test_cli_creates_keys_shown_once_and_exports_usage(runtime, tmp_path) -> None:
    runner, home = CliRunner(), ["--home", str(tmp_path)]
    assert runner.invoke(cli, ["gateway", "tenant", "create", "acme", *home]).exit_code == 0
    made = runner.invoke(cli, ["gateway", "key", "create", "--tenant", "acme", "--admin", *home])
    assert made.exit_code == 0 and made.stdout.strip().startswith("ak-")
    listed = runner.invoke(cli, ["gateway", "key", "list", "--json", *home])
    assert made.stdout.strip() not in listed.stdout and '"admin": true' in listed.stdout
    bad = runner.invoke(cli, ["gateway", "key", "create", "--tenant", "nobody", *home])
    assert bad.exit_code == 2 and "no tenant 'nobody'" in bad.output
    assert runner.invoke(cli, ["gateway", "tenant", "create", "bad name!", *home]).exit_code == 2
    assert runner.invoke(cli, ["gateway", "usage", "--format", "xml", *home]).exit_code == 2
    audit = runner.invoke(cli, ["gateway", "audit", "--json", *home])
    assert '"key.create"' in audit.stdout and '"actor": "cli:user:' in audit.stdout
    db = sqlite3.connect(tmp_path / "gateway.db")
    assert db.execute("SELECT COUNT(*) FROM keys").fetchone() == (1,)
