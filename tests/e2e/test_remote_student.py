"""A registered student served remotely: `academy serve-student` (a real subprocess on a free port)
serves the registry's @production version over OpenAI's API; once `academy registry serve-at`
tags that version, the router calls it through the `openai` backend instead of loading weights."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from academy.backends.hf import HFBackend
from academy.backends.openai_compat import OpenAIBackend
from academy.cli import app
from academy.config import AcademyConfig
from academy.inprocess import free_port
from academy.routing.base import RouteRequest
from academy.runtime import Runtime
from registry.model_registry import ModelRegistry
from tests.factories import REPO as ROOT
from tests.factories import make_config

QUERY = "What is the capital of France?"


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_student_dir: Path) -> tuple[AcademyConfig, Path]:
    """student-1 v1 registered and in production; the config also written to a YAML file."""
    home = tmp_path_factory.mktemp("remote-home")
    cfg = make_config(home, tiny_student_dir)
    registry = ModelRegistry.from_config(cfg)
    registry.register_student("student-1", tiny_student_dir, params={"steps": 1}, metrics={"gap_score": 0.5})
    registry.transition("student-1", 1, "staging", "gate passed")
    registry.transition("student-1", 1, "production", "gate passed")
    config_file = home / "academy.yaml"
    config_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    return cfg, config_file


@pytest.fixture(scope="module")
def student_server(setup) -> Iterator[str]:
    """`academy serve-student --model models:/student-1@production` in a subprocess; yields its /v1 URL."""
    _, config_file = setup
    port = free_port()
    command = [sys.executable, "-m", "academy.cli", "serve-student", "--config", str(config_file)]
    command += ["--model", "models:/student-1@production", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"serve-student exited {process.returncode}: {process.stdout.read()}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve-student did not start in 120 s"
            time.sleep(0.2)
        yield f"{url}/v1"
    finally:
        process.terminate()
        process.wait(timeout=30)


def health(url: str) -> dict:
    return httpx.get(url.removesuffix("/v1") + "/health").json()


def test_router_calls_the_served_student_and_logs_its_version(
    setup, student_server, embedder, tiny_student_dir
):
    cfg, config_file = setup
    assert health(student_server) == {"status": "ok", "model": "student-1", "version": 1, "requests": 0}
    models = httpx.get(f"{student_server}/models").json()["data"]
    assert [m["id"] for m in models] == ["student-1"]
    [local] = HFBackend(cfg.model("student-1"), home=cfg.paths.home).generate([QUERY])

    runner, where = CliRunner(), ["--config", str(config_file)]
    tagged = runner.invoke(app, ["registry", "serve-at", "student-1", student_server, *where])
    assert tagged.exit_code == 0, tagged.output
    status = json.loads(runner.invoke(app, ["registry", "status", "--json", *where]).output)
    assert status[0]["served_at"] == student_server

    async def story() -> None:
        runtime = Runtime.build(cfg, embedder=embedder)
        try:
            await runtime.start_watcher()
            backend = runtime.backends["student-1"]
            assert isinstance(backend, OpenAIBackend) and backend.version == "1"
            result = await runtime.router.route(RouteRequest(QUERY, tenant="t"))  # novel: all answer
            [answer] = [a for a in result.answers if a.model == "student-1"]
            assert answer.completion.error is None and answer.version == "1"
            assert answer.completion.text == local.text  # what the weights answer locally
            assert health(student_server)["requests"] == 1  # and it came over HTTP
            await runtime.router.drain()
            logged = runtime.store.answers_for(result.request_id)
            assert {(a["model"], a["version"]) for a in logged} >= {("student-1", "1")}

            # clearing the tag is picked up like a new version: the weights load here again
            cleared = runner.invoke(app, ["registry", "serve-at", "student-1", "--clear", *where])
            assert cleared.exit_code == 0, cleared.output
            await runtime.watcher.sync_once()
            backend = runtime.backends["student-1"]
            assert isinstance(backend, HFBackend) and backend.version == "1"
            [again] = await backend.agenerate([QUERY])
            assert again.text == local.text and health(student_server)["requests"] == 1
        finally:
            await runtime.aclose(close_embedder=False)

    asyncio.run(story())


def test_bad_input_is_a_clear_error(setup, student_server) -> None:
    _, config_file = setup
    runner, where = CliRunner(), ["--config", str(config_file)]
    unknown = runner.invoke(app, ["registry", "serve-at", "student-9", "http://x:1/v1", *where])
    assert unknown.exit_code == 2 and "student-9" in unknown.output
    both = runner.invoke(app, ["registry", "serve-at", "student-1", "http://x:1/v1", "--clear", *where])
    assert both.exit_code == 2 and "either" in both.output
    scheme = runner.invoke(app, ["registry", "serve-at", "student-1", "ftp://x", *where])
    assert scheme.exit_code == 2 and "http://" in scheme.output
    bad_uri = runner.invoke(app, ["serve-student", "--model", "student-1", *where])
    assert bad_uri.exit_code == 2 and "models:/" in bad_uri.output
    no_alias = runner.invoke(app, ["serve-student", "--model", "models:/student-1@staging", *where])
    assert no_alias.exit_code == 2 and "@staging" in no_alias.output
    wrong = httpx.post(
        f"{student_server}/chat/completions",
        json={"model": "teacher", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert wrong.status_code == 404 and "student-1" in wrong.json()["error"]["message"]
    assert httpx.post(f"{student_server}/chat/completions", json={"model": "student-1"}).status_code == 400
