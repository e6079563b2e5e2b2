"""Run by tests/test_jax_backend.py in a fresh process: Keras on the JAX backend.

    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2 \
        python tests/jax_backend_run.py MOTION_DEMO_DATA_DIR OUT.json

1. Every tiny registered model builds, trains a step on uint8 clips and saves and reloads
   as `.keras` under JAX.
2. Data-parallel training with `keras.distribution.DataParallel` over the two CPU devices,
   fed by kvideo's `tf.data` pipeline on motion_demo, against the same model, weights and
   batches on one device.
"""

from __future__ import annotations

import json
import os
import sys

import jax
import keras
import numpy as np

from kvideo.data import Augmentation, ClipSampling, load_examples, make_clip_dataset
from kvideo.models import build_video_classifier, list_presets

SIZE = 32


def registry_models(tmp_dir: str) -> dict[str, str]:
    results = {}
    for name, spec in list_presets().items():
        if not name.endswith("_tiny"):
            continue
        try:
            shape = (spec.num_frames, SIZE, SIZE, spec.channels)
            model = build_video_classifier(name, 3, input_shape=shape)
            clips = np.random.default_rng(0).integers(0, 256, (2, *shape)).astype("uint8")
            model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            model.fit({spec.input_name: clips}, np.array([0, 1]), epochs=1, verbose=0)
            path = os.path.join(tmp_dir, f"{name}.keras")
            model.save(path)
            restored = keras.models.load_model(path)
            np.testing.assert_allclose(
                keras.ops.convert_to_numpy(restored.predict({spec.input_name: clips}, verbose=0)),
                keras.ops.convert_to_numpy(model.predict({spec.input_name: clips}, verbose=0)),
                rtol=1e-5,
                atol=1e-5,
            )
            results[name] = "ok"
        except Exception as error:  # reported by name, the test lists them
            results[name] = f"{type(error).__name__}: {error}"[:500]
    return results


def losses(data_dir: str, devices: list) -> list[float]:
    """Training losses of three steps of r3d_tiny on motion_demo batches of 4 clips."""
    if len(devices) > 1:
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    keras.utils.set_random_seed(0)
    examples, storage, _ = load_examples("motion_demo/jpeg", "train", data_dir=data_dir)
    batches = make_clip_dataset(
        examples,
        storage_kind=storage,
        training=True,
        batch_size=4,
        clip_sampling=ClipSampling(method="dense", num_frames=4, frame_stride=8),
        augmentation=Augmentation(crop_size=SIZE, resize_in_pipeline=True),
        seed=0,
    ).take(3)
    model = build_video_classifier("r3d_tiny", 6, input_shape=(4, SIZE, SIZE, 3))
    model.compile(
        keras.optimizers.SGD(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = [float(model.train_on_batch(x, y)) for x, y in batches.as_numpy_iterator()]
    keras.distribution.set_distribution(None)
    return history


def main(data_dir: str, out: str) -> None:
    cpus = jax.devices("cpu")
    result = {
        "backend": keras.backend.backend(),
        "devices": len(cpus),
        "models": registry_models(os.path.dirname(out)),
        "one_device": losses(data_dir, cpus[:1]),
        "data_parallel": losses(data_dir, cpus),
    }
    with open(out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
