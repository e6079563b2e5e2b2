"""Keras on the JAX backend (issue 16, item 6): the models, and data parallelism.

kvideo's pipeline is `tf.data` and its trainer TensorFlow's; the models are Keras 3 and
must also run on JAX. The check runs in a fresh process (the backend is chosen at import)
with two CPU devices: `tests/jax_backend_run.py`. Needs the `jax` extra
(`pip install '.[jax]'`); in the slow tier (`python -m pytest -m slow`), about 4 minutes.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("jax")

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow  # ~4 min: every tiny model compiled by XLA on JAX
def test_models_train_and_save_and_data_parallel_training_matches_one_device(
    motion_demo_dir, tmp_path
):
    out = tmp_path / "jax.json"
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "PYTHONPATH": str(REPO),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "tests" / "jax_backend_run.py"),
            str(motion_demo_dir),
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert (report["backend"], report["devices"]) == ("jax", 2)
    failed = {name: why for name, why in report["models"].items() if why != "ok"}
    assert not failed, failed
    assert len(report["models"]) >= 14  # every tiny model of every family
    # Batch norm sees the whole batch in both (one SPMD program), so the losses agree.
    one, parallel = np.array(report["one_device"]), np.array(report["data_parallel"])
    assert one.shape == (3,) and np.all(np.isfinite(one))
    np.testing.assert_allclose(parallel, one, rtol=1e-4)
    assert not np.allclose(one[0], one[-1])  # it trained
