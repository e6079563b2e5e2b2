"""The README's first command, end to end (slow: about 5 minutes on 2 cores).

Run with `python -m pytest -m slow`.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_default_train_main_learns_the_demo_and_exports(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    (tmp_path / "data").mkdir()  # train_main refuses a --data_dir that does not exist
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "train_main.py"),
            f"--output_dir={tmp_path / 'run'}",
            f"--data_dir={tmp_path / 'data'}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert any(line.startswith("Test top-1 accuracy") for line in lines)
    assert lines[-1].startswith("tflite_float16:")

    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["test_videos"] == 72
    assert summary["test_top1"] >= 0.9, summary
    for key in ("saved_model", "tflite_float32", "tflite_float16"):
        assert pathlib.Path(summary[key]).exists(), key
    assert (pathlib.Path(summary["saved_model"]) / "saved_model.pb").is_file()
