"""Training clips/s and inference ms/clip of a video model on this machine.

    python benchmarks/model_speed.py                       # R(2+1)D-18, 16x112x112
    python benchmarks/model_speed.py --model=r3d_18 --batch_size=8 --jit_compile
    python benchmarks/model_speed.py --models=tsn_resnet50,i3d --batch_size=2  # a table
    python benchmarks/model_speed.py --model=r2plus1d_18,r2plus1d_34,c3d  # lines each
    python benchmarks/model_speed.py --model=timesformer_b  # its standard input, 8x224x224

Each model runs at its standard input (its registered clip length, crop size and
channels) unless --frames/--size say otherwise.

Measures the model alone on clips already in memory (the input pipeline has its own
benchmark, `input_pipeline.py`), after warm-up steps that absorb tracing and graph
optimisation. Training is `model.fit` steps of SGD with momentum (forward, backward and
update); inference is a compiled forward pass at batch 1 and at `--batch_size`.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import keras
import numpy as np
import tensorflow as tf

from kvideo.models import build_video_classifier, get_model_spec


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="r2plus1d_18", help="Several, comma-separated.")
    parser.add_argument("--models", default="", help="Comma-separated: one table row each.")
    parser.add_argument("--num_classes", type=int, default=400)
    parser.add_argument("--frames", type=int, default=None, help="Default: the model's.")
    parser.add_argument("--size", type=int, default=None, help="Default: the model's.")
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--train_steps", type=int, default=6)
    parser.add_argument("--inference_repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--jit_compile", action="store_true")
    return parser.parse_args()


def train_clips_per_second(
    model: keras.Model, clips: np.ndarray, labels: np.ndarray, args
) -> float:
    dataset = tf.data.Dataset.from_tensors((clips, labels)).repeat()
    model.fit(dataset, steps_per_epoch=args.warmup, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(dataset, steps_per_epoch=args.train_steps, epochs=1, verbose=0)
    return args.train_steps * len(clips) / (time.perf_counter() - started)


def inference_ms_per_clip(model: keras.Model, clips: np.ndarray, args) -> float:
    forward = tf.function(
        lambda x: model(x, training=False), jit_compile=args.jit_compile, reduce_retracing=True
    )
    clips = tf.constant(clips)
    for _ in range(args.warmup):
        forward(clips).numpy()
    started = time.perf_counter()
    for _ in range(args.inference_repeats):
        forward(clips).numpy()
    return 1000 * (time.perf_counter() - started) / (args.inference_repeats * len(clips))


def measure(name: str, args) -> dict:
    """Training clips/s and inference ms/clip of registered model `name`."""
    spec = get_model_spec(name)
    size = args.size or spec.crop_size
    shape = (args.frames or spec.num_frames, size, size, spec.channels)
    model = build_video_classifier(name, args.num_classes, input_shape=shape)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=args.jit_compile,
    )
    rng = np.random.default_rng(0)
    # uint8 clips at the crop size, as the input pipeline hands them to the model.
    clips = rng.integers(0, 256, (args.batch_size, *shape)).astype(np.uint8)
    labels = rng.integers(0, args.num_classes, args.batch_size)
    result = {
        "model": name,
        "params": model.count_params(),
        "shape": shape,
        "train": train_clips_per_second(model, clips, labels, args),
        "single": inference_ms_per_clip(model, clips[:1], args),
        "batched": inference_ms_per_clip(model, clips, args),
    }
    keras.backend.clear_session()
    return result


def main() -> None:
    args = parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"TF {tf.__version__}, Keras {keras.__version__}, XLA {'on' if args.jit_compile else 'off'}"
    )
    if "," in args.model:  # one line each
        for name in args.model.split(","):
            print(_lines(name, measure(name, args), args.batch_size), flush=True)
        return
    if args.models:
        print(
            f"| model | input | params (with BN stats) | training clips/s (batch "
            f"{args.batch_size}) | inference ms/clip, batch 1 | inference ms/clip, batch "
            f"{args.batch_size} |"
        )
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        for name in args.models.split(","):
            r = measure(name, args)
            print(
                f"| `{name}` | {'x'.join(map(str, r['shape']))} | {r['params']:,} | "
                f"{r['train']:.2f} | {r['single']:.0f} | {r['batched']:.0f} |",
                flush=True,
            )
        return
    print(_lines(args.model, measure(args.model, args), args.batch_size))


def _lines(name: str, r: dict, batch_size: int) -> str:
    return (
        f"model: {name}, {r['params']:,} parameters, input {r['shape']}\n"
        f"training:  {r['train']:8.2f} clips/s  (batch {batch_size}, SGD momentum)\n"
        f"inference: {r['single']:8.1f} ms/clip at batch 1\n"
        f"inference: {r['batched']:8.1f} ms/clip at batch {batch_size}"
    )


if __name__ == "__main__":
    main()
