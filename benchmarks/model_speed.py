"""Training clips/s and inference ms/clip of a video model on this machine.

    python benchmarks/model_speed.py                       # R(2+1)D-18, 16x112x112
    python benchmarks/model_speed.py --model=r3d_18 --batch_size=8 --jit_compile
    python benchmarks/model_speed.py --model=timesformer_b  # its standard input, 8x224x224

Clips are the model's registered length and crop size unless --frames/--size say
otherwise (TimeSformer-B: 8x224x224, VideoMAE ViT-B: 16x224x224).

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
    parser.add_argument("--model", default="r2plus1d_18")
    parser.add_argument("--num_classes", type=int, default=400)
    parser.add_argument("--frames", type=int, help="Clip length (default: the model's).")
    parser.add_argument("--size", type=int, help="Crop size (default: the model's).")
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


def main() -> None:
    args = parse_args()
    spec = get_model_spec(args.model)
    frames, size = args.frames or spec.num_frames, args.size or spec.crop_size
    shape = (frames, size, size, spec.channels)
    model = build_video_classifier(args.model, args.num_classes, input_shape=shape)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=args.jit_compile,
    )
    rng = np.random.default_rng(0)
    # uint8 clips at the crop size, as the input pipeline hands them to the model.
    clips = rng.integers(0, 256, (args.batch_size, *shape)).astype(np.uint8)
    labels = rng.integers(0, args.num_classes, args.batch_size)

    train_rate = train_clips_per_second(model, clips, labels, args)
    single = inference_ms_per_clip(model, clips[:1], args)
    batched = inference_ms_per_clip(model, clips, args)

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"TF {tf.__version__}, Keras {keras.__version__}, XLA {'on' if args.jit_compile else 'off'}"
    )
    print(f"model: {args.model}, {model.count_params():,} parameters, input {shape}")
    print(f"training:  {train_rate:8.2f} clips/s  (batch {args.batch_size}, SGD momentum)")
    print(f"inference: {single:8.1f} ms/clip at batch 1")
    print(f"inference: {batched:8.1f} ms/clip at batch {args.batch_size}")


if __name__ == "__main__":
    main()
