"""Multi-aspect distillation settings: each aspect's training rows, the settings refused, and the
benchmark's held-out split (academy/evolution/dataset.py ``training_examples``, bench/distill.py).
The tiny training runs of each aspect: tests/integration/test_aspects.py."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from academy.cli import app
from academy.config import DistillConfig
from academy.evolution.dataset import training_examples
from academy.school import School
from bench.distill import operand_key, split_by_operands
from tests.factories.distill import frozen_rows

ROWS = frozen_rows(
    [
        ("What is 12 plus 30?", "42", "ones: 2 + 0 = 2, write 2; tens: 1 + 3 = 4, write 4; answer 42", 1.0, "arithmetic"),
        ("What is 15 plus 15?", "31", "ones: 5 + 5 = 10, write 0 carry 1; tens: 1 + 1 + 1 = 3, write 3; answer 31", 0.2, "arithmetic"),
        ("Capital of Peru?", "Lima", None, 0.9, "capitals"),
    ]
)  # fmt: skip


def test_each_aspect_formats_its_rows():
    response = training_examples(ROWS, DistillConfig(aspects=["response"]), threshold=0.8)
    assert response.sft["completion"] == [" 42", " 31", " Lima"] and response.sft["weight"] == [1.0] * 3
    assert len(response.peer) == 0
    reasoning = training_examples(ROWS, DistillConfig(aspects=["reasoning"]), threshold=0.8)
    assert reasoning.sft["completion"][0] == (
        " ones: 2 + 0 = 2, write 2; tens: 1 + 3 = 4, write 4; answer 42 => 42"
    )
    assert reasoning.sft["completion"][2] == " Lima"  # no reasoning known: the answer alone
    both = training_examples(ROWS, DistillConfig(aspects=["response", "reasoning"]), threshold=0.8)
    assert len(both.sft) == 5  # two targets per arithmetic query, one for the capital
    metrics = training_examples(ROWS, DistillConfig(aspects=["response", "metrics"]), threshold=0.8)
    assert metrics.sft["completion"] == [" 42", " Lima"] and metrics.sft["weight"] == [1.0, 0.9]
    peer = training_examples(ROWS, DistillConfig(aspects=["reasoning", "metrics", "peer"]), threshold=0.8)
    assert peer.peer["completion"] == peer.sft["completion"] and len(peer.peer) == 2


def test_domain_aspects_override_the_default():
    config = DistillConfig(
        aspects=["response"], domain_aspects={"arithmetic": ["reasoning", "metrics", "peer"]}
    )
    examples = training_examples(ROWS, config, threshold=0.8)
    assert [c.endswith("=> 42") for c in examples.sft["completion"]] == [True, False]
    assert examples.sft["completion"][1] == " Lima" and len(examples.peer) == 1
    assert config.aspects_for("arithmetic") == ["reasoning", "metrics", "peer"]
    assert config.aspects_for("units") == ["response"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"aspects": ["metrics"]}, "needs 'response' and/or 'reasoning'"),
        ({"domain_aspects": {"sorting": ["peer"]}}, "domain_aspects.sorting"),
        ({"steps": 0, "peer_steps": 0}, "cannot both be 0"),
        ({"aspects": ["answers"]}, "literal_error"),
    ],
)
def test_bad_aspect_settings_are_refused(settings, message):
    with pytest.raises(ValidationError, match=message):
        DistillConfig(**settings)


# ---- the benchmark -------------------------------------------------------------------------------


def test_held_out_queries_have_new_operands():
    school = School(seed=0)
    split = split_by_operands(school, ["arithmetic", "sorting", "reverse", "capitals"], 300, 40, 0.2, seed=0)
    for domain, held_out in split.test.items():
        taught = {operand_key(e) for e in split.train if e.domain == domain}
        assert held_out and not {operand_key(e) for e in held_out} & taught, domain
    assert operand_key(school.lookup("What is 47 plus 35?")) == operand_key(school.lookup("Add 47 and 35."))
    assert operand_key(school.lookup("What is 47 plus 35?")) != operand_key(
        school.lookup("What is 47 minus 35?")
    )


def test_bench_distill_refuses_an_unknown_variant():
    result = CliRunner().invoke(app, ["bench", "distill", "--variant", "telepathy"])
    assert result.exit_code == 2 and "unknown variant" in result.output and "Traceback" not in result.output
