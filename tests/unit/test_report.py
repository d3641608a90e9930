"""The simulated-week report: HTML, summary.json and the PNG plots, including ragged and empty inputs."""

from __future__ import annotations

import ast
import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from academy.simulation import report
from academy.simulation.report import PLOTS, domain_matrix, write_report

POLICIES = ["academy", "always_teacher", "static", "best_single_student", "oracle"]


def _policy(
    cost: float, quality: float | None, teacher_cost: float, teacher_quality: float
) -> dict[str, Any]:
    """One policy-day with its ratios against always-teacher, as the simulation reports it."""
    return {
        "cost": cost,
        "quality": quality,
        "cost_ratio": cost / teacher_cost,
        "quality_ratio": None if quality is None else quality / teacher_quality,
    }


def _day(day: int, academy_cost: float, academy_quality: float, domains: dict[str, float]) -> dict[str, Any]:
    """A realistic day: Academy gets cheaper over the week while the baselines stay put."""
    teacher_cost, teacher_quality = 0.30, 0.95
    student_share = {1: 0.2, 2: 0.6, 3: 0.8}[day]
    served_students = int(300 * student_share)
    return {
        "day": day,
        "queries": 300,
        "events": ["capitals appears"] if day == 3 else [],
        "domains": {name: 300 // len(domains) for name in domains},
        "policies": {
            "academy": _policy(academy_cost, academy_quality, teacher_cost, teacher_quality),
            "always_teacher": _policy(teacher_cost, teacher_quality, teacher_cost, teacher_quality),
            "static": _policy(0.12, 0.81, teacher_cost, teacher_quality),
            "best_single_student": _policy(0.01, 0.62, teacher_cost, teacher_quality),
            "oracle": _policy(0.05, 0.97, teacher_cost, teacher_quality),
        },
        "academy": {
            "routes": {"novel": 300 - served_students, "familiar": served_students},
            "served_by_model": {
                "teacher": 300 - served_students,
                "student-1": served_students - 10,
                "student-2": 10,
            },
            "served_by_role": {"teacher": 300 - served_students, "student": served_students},
            "domain_quality": domains,
            "judge_calls": {"online": 400 - 100 * day, "nightly": 30 + 5 * day},
            "cost": {
                "answers": academy_cost * 0.6,
                "judge": academy_cost * 0.35,
                "training": academy_cost * 0.05,
            },
            "training_seconds": 60.0 + day,
            "some_future_key": {"ignored": True},
        },
        "night": {
            "seconds": 70.1 + day,
            "students": [{"student": "student-1", "version": day + 1, "stage": "production", "gaps": [3, 5]}],
            "role_changes": {"student-1": {"role": "ta", "reason": "beats the teacher on units"}}
            if day == 2
            else {},
        }
        if day < 3
        else None,
    }


def make_result() -> dict[str, Any]:
    """A three-day result following the simulation's contract; 'capitals' only appears on day 3."""
    per_day = [
        _day(1, 0.57, 0.93, {"units": 0.97, "reverse": 0.40}),
        _day(2, 0.15, 0.94, {"units": 0.98, "reverse": 0.85}),
        _day(3, 0.0851, 0.935, {"units": 0.99, "reverse": 0.91, "capitals": 0.55}),
    ]
    return {
        "title": "Academy: a simulated week of self-evolution",
        "days": 3,
        "wall_seconds": 812.3,
        "settings": {"seed": 0, "queries_per_day": 300, "teacher": "gpt-4o <mini>", "fast": True},
        "targets": {"cost_ratio": 0.30, "quality_ratio": 0.97},
        "policies": list(POLICIES),
        "summary": {
            "cost_ratio": {"last_day": 0.0851 / 0.30, "overall": 0.805 / 0.90},
            "quality_ratio": {"last_day": 0.935 / 0.95, "overall": 0.98},
        },
        "overall": {
            name: {"cost": 0.5, "quality": 0.9, "cost_ratio": 0.5, "quality_ratio": 0.95} for name in POLICIES
        },
        "per_day": per_day,
        "timeline": [
            {"day": 1, "model": "student-1", "version": 2, "event": "production"},
            {"day": 2, "model": "student-1", "version": 3, "event": "production"},
            {"day": 2, "model": "student-1", "version": 3, "event": "role:ta"},
            {"day": 2, "model": "student-2", "version": 1, "event": "rejected"},
            {"day": 2, "model": "student-2", "version": 1, "event": "something_new"},
        ],
        "unknown_top_level_key": [1, 2, 3],
    }


def _assert_pngs(out_dir: Path) -> dict[str, int]:
    """Every plot exists, is a PNG and is big enough to hold a real figure; returns the sizes."""
    sizes = {}
    for name in PLOTS:
        data = (out_dir / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), name
        assert len(data) > 8_000, (name, len(data))
        sizes[name] = len(data)
    return sizes


def test_write_report_writes_plots_html_and_summary(tmp_path: Path) -> None:
    result = make_result()
    path = write_report(result, tmp_path / "out")

    assert path == tmp_path / "out" / "report.html"
    assert set(PLOTS) == {
        "cost_quality.png",
        "traffic_share.png",
        "domain_accuracy.png",
        "timeline.png",
        "supervisor_calls.png",
    }
    _assert_pngs(tmp_path / "out")
    page = path.read_text(encoding="utf-8")
    for name in PLOTS:
        assert f'src="{name}"' in page
    for policy in POLICIES:
        assert f">{policy}<" in page
    # Academy's last-day cost ratio: 0.0851 / 0.30 = 28.37 %, a pass against <= 30 %; the overall cost
    # ratio 89.4 % misses; last-day quality 0.935 / 0.95 = 98.4 % and overall 98.0 % pass.
    headline = page.split("<h2>Headline</h2>")[1].split("<h2>")[0]
    assert "28.4%" in headline and "89.4%" in headline and "98.4%" in headline
    assert headline.count("✓ pass") == 3 and headline.count("✗ miss") == 1
    assert "28.4%" in page.split("<h2>Policies</h2>")[1].split("<h2>")[0]
    # Text is escaped, settings are shown, nothing is fetched from outside.
    assert "gpt-4o &lt;mini&gt;" in page and "<mini>" not in page
    assert "queries_per_day" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    # Per-day and nights tables: events, dollars, student versions.
    assert "capitals appears" in page
    assert "$0.0851" in page
    assert "student-1 → v3 (production)" in page
    assert "beats the teacher on units" in page


def test_summary_json_round_trips(tmp_path: Path) -> None:
    result = make_result()
    write_report(result, tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text(encoding="utf-8")) == result


def test_headline_marks_missed_targets(tmp_path: Path) -> None:
    result = make_result()
    result["summary"] = {
        "cost_ratio": {"last_day": 0.45, "overall": 0.6},
        "quality_ratio": {"last_day": 0.9, "overall": 0.9},
    }
    page = report.render_html(result)
    headline = page.split("<h2>Headline</h2>")[1].split("<h2>")[0]
    assert "45.0%" in headline
    assert headline.count("✗ miss") == 4 and "✓ pass" not in headline


def test_ragged_result_without_timeline_still_renders(tmp_path: Path) -> None:
    result = make_result()
    result["timeline"] = []
    last = result["per_day"][-1]
    last["policies"]["oracle"]["quality"] = None
    last["policies"]["oracle"]["quality_ratio"] = None
    del last["policies"]["static"]  # a policy that missed a day altogether
    result["per_day"][0]["academy"]["judge_calls"] = None
    result["per_day"][1]["events"] = ["<b>spike</b>"]

    page = write_report(result, tmp_path).read_text(encoding="utf-8")

    sizes = _assert_pngs(tmp_path)
    assert "&lt;b&gt;spike&lt;/b&gt;" in page and "<b>spike" not in page
    rows = {row.split("</td>")[0].rsplit(">", 1)[-1]: row for row in page.split("<tr")[1:]}
    oracle_cells = rows["oracle"].split("<td")
    # Columns: policy, overall cost, overall quality, last-day cost, last-day quality ...
    assert "–" in oracle_cells[5]
    static_cells = rows["static"].split("<td")
    assert "–" in static_cells[4] and "–" in static_cells[5]

    # The empty timeline is a different (placeholder) picture from a populated one.
    full = tmp_path / "full"
    write_report(make_result(), full)
    assert (full / "timeline.png").read_bytes() != (tmp_path / "timeline.png").read_bytes()
    assert sizes["timeline.png"] > 8_000


def test_domain_that_appears_later_gets_blank_early_cells(tmp_path: Path) -> None:
    result = make_result()
    domains, days, matrix = domain_matrix(result)

    assert domains == ["capitals", "reverse", "units"]
    assert days == [1, 2, 3]
    capitals = matrix[domains.index("capitals")]
    assert math.isnan(capitals[0]) and math.isnan(capitals[1])
    assert capitals[2] == pytest.approx(0.55)
    assert matrix[domains.index("units")] == pytest.approx([0.97, 0.98, 0.99])

    report.plot_domain_accuracy(result, tmp_path / "heat.png")
    assert (tmp_path / "heat.png").read_bytes().startswith(b"\x89PNG")


def test_days_are_sorted_and_unknown_shapes_ignored(tmp_path: Path) -> None:
    result = make_result()
    result["per_day"] = list(reversed(result["per_day"])) + ["not a day"]
    result["policies"] = ["always_teacher", "academy"]
    result["overall"] = None
    _, days, _ = domain_matrix(result)
    assert days == [1, 2, 3]

    page = write_report(copy.deepcopy(result), tmp_path).read_text(encoding="utf-8")
    policies = page.split("<h2>Policies</h2>")[1].split("<h2>")[0]
    assert policies.index(">academy<") < policies.index(">always_teacher<")  # Academy is listed first
    assert ">oracle<" not in policies
    _assert_pngs(tmp_path)


def test_empty_result_renders_placeholders(tmp_path: Path) -> None:
    page = write_report({}, tmp_path).read_text(encoding="utf-8")
    assert "no days" in page and "no nights" in page
    for name in PLOTS:
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")


def test_report_never_uses_pyplot() -> None:
    """pyplot keeps global figure state and picks a GUI backend; the report must stay on the object API."""
    tree = ast.parse(Path(report.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
            imported.add(str(node.module))
    assert not any("pyplot" in name for name in imported)
