"""The HTTP API with the official openai client against a real uvicorn server on 127.0.0.1."""

import asyncio
import json

import httpx
import openai
import pytest

from academy.inprocess import BackgroundServer
from academy.runtime import Runtime
from academy.server import create_app
from tests.factories import make_config


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder, tiny_student_dir):
    cfg = make_config(tmp_path_factory.mktemp("home"), tiny_student_dir)
    runtime = Runtime.build(cfg, embedder=embedder)
    with BackgroundServer(create_app(cfg, runtime)) as srv:
        srv.runtime = runtime
        yield srv
    asyncio.run(runtime.aclose(close_embedder=False))


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)


def ask(client, text, **headers):
    return client.chat.completions.create(
        model="academy", messages=[{"role": "user", "content": text}], extra_headers=headers
    )


def test_official_client_gets_routed_answers(client):
    response = ask(client, "What is 47 plus 35?", **{"X-Academy-Tenant": "acme"})
    info = response.model_extra["academy"]
    assert response.choices[0].message.content == "82"
    assert info["route"] == "novel" and info["model"] == "teacher"
    # A fan-out judges the cheaper answers; the teacher's, the default, is served unjudged.
    assert info["score"] is None and info["score_source"] == "none"
    assert info["cost_usd"] > 0 and info["decision_ms"] > 0
    assert response.usage.completion_tokens > 0


def test_second_similar_query_is_familiar_and_logged(client, server):
    for text in [
        "Convert 3 km to m.",
        "Convert 7 km to m.",
        "Convert 12 km to m.",
    ]:
        ask(client, text, **{"X-Academy-Tenant": "familiar-test"})
        server.runtime.router.wait_idle()  # logging is asynchronous: let each answer land first
    response = ask(client, "Convert 9 km to m.", **{"X-Academy-Tenant": "familiar-test"})
    info = response.model_extra["academy"]
    assert info["max_similarity"] >= server.runtime.config.router.novel_similarity
    assert info["route"] == "familiar"
    assert set(info["estimates"]) >= {"teacher"}  # the neighbourhood's judged scores were used
    server.runtime.router.wait_idle()
    assert server.runtime.store.count(tenant="familiar-test") == 4


def test_models_and_health(client, server):
    ids = [m.id for m in client.models.list().data]
    assert ids == ["academy", "teacher", "student-1"]
    assert httpx.get(server.url.replace("/v1", "/health")).json()["status"] == "ok"


def test_request_id_makes_retries_idempotent(client, server):
    first = ask(client, "Reverse the word planet.", **{"X-Request-ID": "req-42", "X-Academy-Tenant": "idem"})
    again = ask(client, "Reverse the word planet.", **{"X-Request-ID": "req-42", "X-Academy-Tenant": "idem"})
    assert again.choices[0].message.content == first.choices[0].message.content
    assert (
        again.model_extra["academy"]["replayed"] is True and again.model_extra["academy"]["cost_usd"] == 0.0
    )
    server.runtime.router.wait_idle()
    assert server.runtime.store.count(tenant="idem") == 1
    with pytest.raises(openai.ConflictError):
        ask(client, "Reverse the word planet.", **{"X-Request-ID": "req-42", "X-Academy-Tenant": "other"})


def test_streaming_returns_the_answer_as_chunks(client):
    stream = client.chat.completions.create(
        model="academy", messages=[{"role": "user", "content": "Convert 3 km to m."}], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "3000"


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"{not json", 400, "invalid request"),
        (json.dumps({"model": "academy"}).encode(), 400, "messages"),
        (json.dumps({"model": "academy", "messages": []}).encode(), 400, "messages"),
        (
            json.dumps({"model": "academy", "messages": [{"role": "user", "content": "  "}]}).encode(),
            400,
            "empty",
        ),
        (
            json.dumps({"model": "academy", "messages": [{"role": "system", "content": "x"}]}).encode(),
            400,
            "user message",
        ),
        (
            json.dumps({"model": "academy", "messages": [{"role": "wizard", "content": "x"}]}).encode(),
            400,
            "role",
        ),
        (
            json.dumps({"model": "academy", "messages": [{"role": "user", "content": "x" * 9000}]}).encode(),
            400,
            "longer",
        ),
        (
            json.dumps({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]}).encode(),
            404,
            "model",
        ),
        (json.dumps([1, 2]).encode(), 400, "invalid request"),
    ],
)
def test_malformed_requests_get_openai_style_4xx(server, body, status, needle):
    response = httpx.post(
        f"{server.url}/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert needle in error["message"] and error["type"] == "invalid_request_error"
    assert "Traceback" not in response.text


def test_unknown_paths_and_methods_are_json_errors(server):
    missing = httpx.get(f"{server.url}/nope")
    wrong_method = httpx.get(f"{server.url}/chat/completions")
    assert missing.status_code == 404 and "error" in missing.json()
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()


def test_bad_tenant_header_is_a_400(server):
    body = {"model": "academy", "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(
        f"{server.url}/chat/completions", json=body, headers={"X-Academy-Tenant": "t" * 200}
    )
    assert response.status_code == 400 and "tenant" in response.json()["error"]["message"]


def test_official_client_sees_bad_requests_as_typed_errors(client):
    with pytest.raises(openai.BadRequestError, match="empty"):
        ask(client, "   ")


def test_academy_ask_prints_the_routed_answer(server):
    from typer.testing import CliRunner

    from academy.cli import app

    result = CliRunner().invoke(app, ["ask", "What is 12 plus 30?", "--url", server.url, "--tenant", "cli"])
    assert result.exit_code == 0, result.output
    assert "42" in result.output and "route=" in result.output
