"""`academy config show` as a subprocess prints the effective values of each profile and refuses an
unknown one without a traceback. The profiles themselves: tests/unit/test_profiles.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.factories import REPO
from tests.factories.profiles import CLUSTER


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "academy.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_config_show_prints_the_effective_values(tmp_path):
    path = tmp_path / "academy.yaml"
    path.write_text(yaml.safe_dump({"paths": {"home": str(tmp_path)}, "cluster": CLUSTER}))
    embedded = cli("config", "show", "--config", str(path), "--json", cwd=REPO)
    assert embedded.returncode == 0, embedded.stderr
    assert json.loads(embedded.stdout)["lancedb uri"] == str(tmp_path / "lancedb")
    shown = cli("config", "show", "--config", str(path), "--profile", "cluster", cwd=REPO)
    assert shown.returncode == 0, shown.stderr
    assert "http://mlflow.internal:5000" in shown.stdout and "s3://academy-traffic/prod" in shown.stdout
    bad = cli("config", "show", "--config", str(path), "--profile", "prod", cwd=REPO)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "'embedded' or 'cluster'" in bad.stderr
