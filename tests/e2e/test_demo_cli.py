"""The installed `academy` entry point runs as a subprocess and lists its commands. The commands in
process: tests/unit/test_demo_cli.py."""

import subprocess
import sys
from pathlib import Path


def test_installed_entry_point_runs():
    academy = Path(sys.executable).parent / "academy"
    out = subprocess.run([str(academy), "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("serve", "ask", "demo", "student", "school", "bench", "sim-api"):
        assert command in out
