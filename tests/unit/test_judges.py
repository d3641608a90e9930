"""Judges through the one interface; the llm judge over real HTTP, including malformed replies."""

import asyncio
import json

import pytest

from academy.backends import build_backend
from academy.config import JudgeConfig, ModelConfig
from academy.inprocess import BackgroundServer
from academy.judges import JUDGE_CLS, JudgeRequest, build_judge
from academy.judges.llm import MalformedJudgeOutput, combine, parse_rubric
from academy.judges.reference import load_metric
from academy.sim_api import create_sim_app


def judge(name="reference", **options):
    return build_judge(JudgeConfig(name=name, cost_per_call=0.001, options=options))


def test_registry_knows_every_judge():
    assert {"reference", "llm", "recorded"} <= set(JUDGE_CLS.names())


def test_local_evaluate_metrics_load_by_path_offline():
    em = load_metric("normalized_exact_match").compute(
        predictions=["Paris.", "Rome"], references=["paris", "Oslo"]
    )
    f1 = load_metric("token_f1").compute(predictions=["7, 42, 19"], references=["7, 19, 42"])
    assert em["scores"] == [1.0, 0.0]
    assert f1["f1"] == pytest.approx(1.0)


def test_reference_judge_scores_right_wrong_and_partial_answers():
    requests = [
        JudgeRequest("What is 47 plus 35?", "82"),
        JudgeRequest("What is 47 plus 35?", "83"),
        JudgeRequest("Sort 42, 7, 19 in ascending order.", "7, 42, 19"),
        JudgeRequest("What is the meaning of life?", "42"),
    ]
    right, wrong, partial, unknown = asyncio.run(judge(exact_match_weight=0.7).ajudge(requests))
    assert right.score == 1.0 and right.cost == 0.001
    assert wrong.score == 0.0
    assert partial.score == pytest.approx(0.3)  # exact match 0, token F1 1.0
    assert unknown.score is None and unknown.cost == 0.0 and "no reference" in unknown.error


def test_reference_judge_prefers_an_explicit_reference():
    [judged] = asyncio.run(judge().ajudge([JudgeRequest("anything at all", "blue", reference="Blue.")]))
    assert judged.score == 1.0


def test_recorded_judge_reveals_recorded_scores(tmp_path):
    path = tmp_path / "o.jsonl"
    path.write_text(
        json.dumps(
            {
                "query": "q",
                "outcomes": {"a": {"answer": "x", "score": 0.0}, "b": {"answer": "y", "score": 1.0}},
            }
        )
    )
    a, b, c = asyncio.run(
        judge("recorded", path=str(path)).ajudge(
            [JudgeRequest("q", "x", "a"), JudgeRequest("q", "y", "b"), JudgeRequest("q", "z", "c")]
        )
    )
    assert (a.score, b.score, c.score) == (0.0, 1.0, None)


def test_parse_rubric_accepts_wrapped_json_and_rejects_bad_values():
    text = 'Sure!\n```json\n{"relevance": 10, "correctness": 5, "completeness": 6, "clarity": 8}\n```'
    scores = parse_rubric(text)
    assert scores["correctness"] == 5
    assert combine(
        scores, {"relevance": 1, "correctness": 1, "completeness": 1, "clarity": 1}
    ) == pytest.approx(0.725)
    for bad in [
        "no json here",
        '{"relevance": 11, "correctness": 1, "completeness": 1, "clarity": 1}',
        '{"relevance": "high", "correctness": 1, "completeness": 1, "clarity": 1}',
        '{"relevance": 1}',
    ]:
        with pytest.raises(MalformedJudgeOutput):
            parse_rubric(bad)


def sim_judge_server(malformed_rate: float):
    supervisor = build_judge(JudgeConfig(name="reference", cost_per_call=0.0))
    teacher = build_backend(
        ModelConfig(name="t", backend="reference", role="teacher", price_in=1, price_out=1)
    )
    return BackgroundServer(create_sim_app({"t": teacher}, {"gpt-judge": supervisor}, malformed_rate))


def test_llm_judge_over_http_scores_right_above_wrong():
    with sim_judge_server(0.0) as server:
        llm = judge("llm", base_url=server.url, model="gpt-judge", max_retries=0)
        right, wrong = asyncio.run(
            llm.ajudge([JudgeRequest("What is 47 plus 35?", "82"), JudgeRequest("What is 47 plus 35?", "12")])
        )
    assert right.error is None and right.score > 0.9
    assert wrong.score < 0.5
    assert right.detail["correctness"] == 10 and right.cost == pytest.approx(0.001)


def test_llm_judge_handles_malformed_output_and_bills_each_attempt():
    with sim_judge_server(1.0) as server:
        llm = judge("llm", base_url=server.url, model="gpt-judge", max_retries=0, parse_retries=1)
        [judged] = asyncio.run(llm.ajudge([JudgeRequest("What is 47 plus 35?", "82")]))
    assert judged.score is None
    assert "malformed judge output" in judged.error
    assert judged.cost == pytest.approx(0.002)


def test_llm_judge_unreachable_endpoint_is_an_error_not_an_exception():
    llm = judge("llm", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout_s=2)
    [judged] = asyncio.run(llm.ajudge([JudgeRequest("q", "a")]))
    assert judged.score is None and "judge call failed" in judged.error
