"""Training progress with a measured estimate of the time left (models/progress.py)."""

from types import SimpleNamespace

import pytest

from models.progress import TrainingProgress, eta_seconds, milestones, progress_line


def test_eta_is_the_mean_step_time_so_far_times_the_steps_left():
    assert eta_seconds(0, 600, 0.0) is None  # nothing measured yet
    assert eta_seconds(60, 600, 30.0) == pytest.approx(270.0)  # 0.5 s a step, 540 steps left
    assert eta_seconds(600, 600, 300.0) == 0.0
    assert eta_seconds(700, 600, 300.0) == 0.0  # never negative


def test_milestones_are_every_tenth_and_the_last_step():
    assert milestones(600) == [60, 120, 180, 240, 300, 360, 420, 480, 540, 600]
    assert milestones(15) == [2, 3, 5, 6, 8, 9, 11, 12, 14, 15]
    assert milestones(3) == [1, 2, 3]
    assert milestones(0) == []


def test_progress_lines():
    assert progress_line("warm start", 60, 600, 30.0) == "warm start: step 60/600, 30 s so far, ~270 s left"
    assert progress_line("warm start", 600, 600, 300.0) == "warm start: step 600/600, 300 s so far, done"


def test_callback_reports_about_every_tenth_with_the_estimate():
    now = [100.0]
    lines: list[str] = []
    progress = TrainingProgress("warm start", report=lines.append, clock=lambda: now[0])
    state = SimpleNamespace(max_steps=20, global_step=0)
    progress.on_train_begin(None, state, None)
    for step in range(1, 21):
        now[0] += 2.0  # 2 s a step
        state.global_step = step
        progress.on_step_end(None, state, None)
    assert len(lines) == 10
    assert lines[0] == "warm start: step 2/20, 4 s so far, ~36 s left"
    assert lines[-1] == "warm start: step 20/20, 40 s so far, done"
