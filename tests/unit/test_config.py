from pathlib import Path

import pytest

from academy.config import AcademyConfig, ConfigError, load_config
from tests.factories import REPO


def test_repo_config_loads_with_a_teacher_and_a_student():
    cfg = load_config(REPO / "academy.yaml")
    assert cfg.teacher.name == "teacher"
    assert {m.role for m in cfg.models} == {"teacher", "student"}
    assert cfg.router.novel_similarity == pytest.approx(0.7)


def test_dotted_overrides_win_over_the_file():
    cfg = load_config(REPO / "academy.yaml", {"router.price_weight": 0.9, "paths.home": "/tmp/x"})
    assert cfg.router.price_weight == 0.9
    assert cfg.paths.home == Path("/tmp/x")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("router: [unclosed", "not valid YAML"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("router:\n  novel_similarity: 3\n", "novel_similarity"),
        ("router:\n  typo_key: 1\n", "typo_key"),
        ("models:\n  - {name: s, backend: hf, role: student, price_in: 0, price_out: 0}\n", "teacher"),
    ],
)
def test_bad_config_files_give_clear_errors(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_duplicate_model_names_rejected():
    model = {"name": "t", "backend": "reference", "role": "teacher", "price_in": 1, "price_out": 1}
    with pytest.raises(ValueError, match="unique"):
        AcademyConfig.model_validate({"models": [model, model]})


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "evolution:\n  router_model: {enabled: true}\n",
            "evolution.router_model is now evolution.learned_router",
        ),
        (
            "evolution:\n  dataset: {replay_fraction: 0.3}\n",
            "evolution.dataset.replay_fraction is now evolution.dataset.retention_fraction",
        ),
    ],
)
def test_a_renamed_key_names_its_new_name(tmp_path, text, message):
    path = tmp_path / "academy.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)
    path.write_text(
        text.replace("router_model", "learned_router").replace("replay_fraction", "retention_fraction")
    )
    assert isinstance(load_config(path), AcademyConfig)
