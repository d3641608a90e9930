"""The fan-out benchmark's config: extra students beside a real tiny one, and the outcomes it compares
(no timings). The overhead benchmark: tests/e2e/test_bench.py."""

from tests.factories import make_config


def test_fanout_bench_adds_students_and_compares_outcomes_without_timings(tmp_path, tiny_student_dir):
    from bench.fanout import same_outcome, with_students

    cfg = with_students(make_config(tmp_path, student_dir=tiny_student_dir), 3)
    students = [m for m in cfg.models if m.backend == "hf"]
    assert [m.name for m in students] == ["student-1", "student-2", "student-3"]
    assert [m.options["path"] for m in students[1:]] == ["students/student-2", "students/student-3"]
    night = {
        "students": [{"student": "student-1", "version": 2, "stage": "production", "train_seconds": 5.0}],
        "lineage": {"distill/train.parquet": "abc"},
        "registry": [["student-1", 2, "production"]],
    }
    slower = night | {"students": [night["students"][0] | {"train_seconds": 9.0}]}
    assert same_outcome(night, slower) == {"registry": True, "datasets": True, "students": True}
    rejected = night | {"students": [night["students"][0] | {"stage": "rejected"}]}
    assert same_outcome(night, rejected)["students"] is False
