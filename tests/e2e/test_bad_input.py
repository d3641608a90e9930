"""Bad input against a real uvicorn server: every mistake is a 4xx OpenAI-style error saying what is
wrong (``gateway.limits`` and OpenAI's own field ranges), never a 500 or a traceback."""

import asyncio
import json

import httpx
import pytest

from academy.config import LimitsConfig
from academy.inprocess import BackgroundServer
from academy.runtime import Runtime
from academy.server import create_app
from tests.factories import make_config

LIMITS = {"max_body_bytes": 16384, "max_messages": 4, "max_query_chars": 200, "max_tokens": 64}


@pytest.fixture(scope="module")
def url(tmp_path_factory, embedder):
    cfg = make_config(tmp_path_factory.mktemp("home"))
    cfg.gateway.limits = LimitsConfig(**LIMITS)
    runtime = Runtime.build(cfg, embedder=embedder)
    with BackgroundServer(create_app(cfg, runtime)) as srv:
        yield f"{srv.url}/chat/completions"
    asyncio.run(runtime.aclose(close_embedder=False))


def user(text: str = "What is 2 plus 3?") -> dict:
    return {"role": "user", "content": text}


def post(url: str, content: bytes | object, **headers: str) -> httpx.Response:
    return httpx.post(url, content=content, headers={"content-type": "application/json", **headers})


def assert_error(response: httpx.Response, status: int, needle: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert needle in error["message"], error
    assert error["type"] == "invalid_request_error" and "Traceback" not in response.text


def test_declared_body_over_the_limit_is_a_413_before_reading(url):
    body = json.dumps({"messages": [user("x" * 20000)]}).encode()
    assert_error(post(url, body), 413, "larger than 16384 bytes")


def test_streamed_body_without_length_is_cut_off_at_the_limit(url):
    def chunks():  # no Content-Length: httpx sends it chunked
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(100):
            yield b"y" * 1000

    assert_error(post(url, chunks()), 413, "larger than 16384 bytes")


def test_too_many_messages_is_a_400(url):
    body = {"messages": [user()] * 5}
    assert_error(httpx.post(url, json=body), 400, "at most 4 messages")


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": -5}, "max_tokens"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"max_tokens": "10"}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"max_tokens": 65}, "max_tokens must be at most 64"),
        ({"max_tokens": 10**100}, "max_tokens must be at most 64"),
        ({"max_completion_tokens": 1000}, "max_completion_tokens must be at most 64"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": 10**100}, "temperature"),
        ({"top_p": 1.01}, "top_p"),
        ({"n": 2}, "n: Input should be less than or equal to 1"),
        ({"n": 0}, "n:"),
        ({"presence_penalty": 2.5}, "presence_penalty"),
        ({"frequency_penalty": -3}, "frequency_penalty"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
        ({"messages": [user("   ")]}, "empty"),
        ({"messages": [user("z" * 201)]}, "longer than 200 characters"),
        ({"messages": "hello"}, "messages"),
        ({"stream": "sometimes"}, "stream"),
    ],
)
def test_out_of_range_or_mistyped_fields_are_400s(url, fields, needle):
    assert_error(httpx.post(url, json={"messages": [user()], **fields}), 400, needle)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b'{"messages": [{"role": "user", "content": "caf\xe9"}]}', "not valid UTF-8"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b'{"messages": [', "invalid request"),
        (b'{"messages": [{"role": "user", "content": "hi"}], "temperature": 1e400}', "finite number"),
        (b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e400}', "max_tokens"),
        (b'{"messages": [{"role": "user", "content": "hi"}], "top_p": NaN}', "finite number"),
        (
            b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1' + b"0" * 3000 + b"}",
            "at most",
        ),
        (b'{"messages": [], "max_tokens": 1' + b"0" * 4400 + b"}", "too many digits"),
        (b"[" * 3000 + b"]" * 3000, "nested too deeply"),
        (b'{"messages": [{"role": "user", "content": "\\ud800 hi"}]}', "not valid Unicode"),
    ],
)
def test_unreadable_bodies_and_huge_numbers_are_400s(url, raw, needle):
    assert_error(post(url, raw), 400, needle)


def test_unknown_model_is_a_404(url):
    assert_error(httpx.post(url, json={"model": "gpt-9", "messages": [user()]}), 404, "model")


def test_valid_openai_fields_are_accepted(url):
    fields = {"max_tokens": 64, "max_completion_tokens": 1, "temperature": 0, "top_p": 1, "n": 1}
    fields |= {"presence_penalty": -2, "frequency_penalty": 2.0, "user": "someone", "seed": 3}
    response = httpx.post(url, json={"model": "auto", "messages": [user()] * 4, **fields})
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "5"
