"""scripts/setup_env.sh gives clear errors for a bad environment and rebuilds a broken venv."""

import os
import subprocess
from pathlib import Path

SETUP = Path(__file__).resolve().parents[1] / "scripts" / "setup_env.sh"


def _run(env_overrides, timeout=240):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    env.update(env_overrides)
    return subprocess.run(["bash", str(SETUP)], env=env, capture_output=True, text=True, timeout=timeout)


def test_missing_python_312_is_named_with_install_hint(tmp_path):
    result = _run({"TATBOT_PYTHON": "/usr/bin/false", "TATBOT_VENV": str(tmp_path / "venv")})
    assert result.returncode != 0
    assert "Python 3.12" in result.stderr
    assert "apt-get install python3.12" in result.stderr
    assert "TATBOT_PYTHON=/usr/bin/false" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_broken_venv_is_rebuilt_and_unreachable_index_is_named(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("#!/bin/sh\nexit 1\n")
    (venv / "bin" / "python").chmod(0o755)
    (venv / "junk").write_text("half-built")
    result = _run(
        {
            "TATBOT_VENV": str(venv),
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
            "PIP_NO_CACHE_DIR": "1",
            "PIP_RETRIES": "0",
            "PIP_TIMEOUT": "3",
        }
    )
    assert "broken, half-built" in result.stdout
    assert not (venv / "junk").exists(), "the broken venv was not rebuilt"
    assert (venv / "bin" / "python").is_file()
    assert result.returncode != 0
    assert "cannot reach the Python package index" in result.stderr
    # the half-installed venv carries no 'deps done' stamp, so the next run installs again
    assert not (venv / ".tatbot" / "deps").exists()


def test_an_unknown_ros_wheel_set_is_named_before_anything_is_built(tmp_path):
    result = _run({"TATBOT_ROS": "humble", "TATBOT_VENV": str(tmp_path / "venv")})
    assert result.returncode == 2
    assert "TATBOT_ROS=humble: choose kilted (the default) or jazzy" in result.stderr
    tatbot = subprocess.run(
        [str(SETUP.parents[1] / "tatbot"), "list"], env={**os.environ, "TATBOT_ROS": "humble"}, capture_output=True
    )
    assert tatbot.returncode == 2 and b"TATBOT_ROS=humble" in tatbot.stderr
    assert not (tmp_path / "venv").exists()
