"""Training memory of the video transformers: estimated from shapes, measured on the CPU.

    python benchmarks/transformer_memory.py                    # TimeSformer-B, 8x224x224
    python benchmarks/transformer_memory.py --model=videomae_vit_b --batches=1,2

Does fine-tuning TimeSformer-B with batch 8 fit a 16 GB accelerator? Two answers:

1. **Estimate from the shapes.** Each block keeps the tensors its backward pass needs:
   counted below per kind of block, in units of one token map (tokens x width) plus the
   attention probabilities. Weights, gradients and optimizer slots add 16 bytes per
   parameter for AdamW (12 for SGD with momentum). With gradient checkpointing a block
   keeps only its input, and one block's activations are live at a time, recomputed.
2. **Measurement.** One training step (forward, backward, SGD update) in a fresh process
   per setting; the peak resident memory of the process (``ru_maxrss``) minus its
   resident memory after building the model and running one inference batch. Two batch
   sizes give the memory per clip (the slope) and the rest; the straight line is then
   read at batch 8. CPU memory is not an accelerator's, but both hold the same tensors;
   the measurement checks the estimate's per-clip figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

GIB = 1024**3

# Token maps (tokens x width, one clip) a block keeps for its backward pass, by what
# needs them: LayerNorm input and output, q, k, v, attention context, output projection,
# residual sums, MLP input, hidden (4x width) before and after GELU.
_KEPT_TOKEN_MAPS = {
    # temporal: norm in/out, q, k, v, context, projection, transposed copy, dense input;
    # spatial: concatenation, norm in/out, q, k, v, context, projection, sum;
    # MLP: norm in/out, 4 + 4 (fc1 output, GELU output), fc2 output, sum.
    "divided_space_time": 9 + 9 + 12,
    # attention: norm in/out, q, k, v, context, projection, sum; MLP as above.
    "joint_space_time": 8 + 12,
    "space_only": 8 + 12,
    "vit": 8 + 12,
}


def estimate(model: str, batch: int, optimizer: str = "adamw") -> dict[str, float]:
    """Training memory in GiB from the model's shapes (float32), without/with checkpointing."""
    from kvideo.models import get_model_spec

    spec = get_model_spec(model)
    config = spec.config
    frames, size = spec.num_frames, spec.crop_size
    width, depth, heads = config["hidden_dim"], config["num_layers"], config["num_heads"]
    patches = (size // config["patch_size"]) ** 2
    if spec.family == "timesformer":
        kind = config["attention_type"]
        tokens = 1 + frames * patches if kind != "space_only" else frames * (1 + patches)
        if kind == "divided_space_time":
            # scores and probabilities: over frames per patch, over patches per frame
            attention = 2 * heads * (patches * frames**2 + frames * (patches + 1) ** 2)
        elif kind == "joint_space_time":
            attention = 2 * heads * tokens**2
        else:
            attention = 2 * heads * frames * (patches + 1) ** 2
    else:
        kind = "vit"
        tokens = frames // config["tubelet_size"] * patches
        attention = 2 * heads * tokens**2
    token_map = tokens * width * 4  # bytes, one clip
    per_block = _KEPT_TOKEN_MAPS[kind] * token_map + attention * 4
    num_params = _count_params(model)
    states = num_params * (16 if optimizer == "adamw" else 12)
    plain = states + batch * depth * per_block
    # Checkpointing: every block's input, plus one block's activations being recomputed.
    checkpointed = states + batch * (depth * token_map + per_block)
    return {
        "parameters": num_params,
        "per_block_per_clip_gib": per_block / GIB,
        "weights_grads_optimizer_gib": states / GIB,
        "plain_gib": plain / GIB,
        "checkpointed_gib": checkpointed / GIB,
    }


def _count_params(model: str) -> int:
    from kvideo.models import build_video_classifier

    return build_video_classifier(model, 400).count_params()


_MEASURE = """
import json, resource, sys
import numpy as np, keras
from kvideo.models import build_video_classifier

name, batch, checkpointing = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
def rss_gib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1024**3
model = build_video_classifier(name, 400, gradient_checkpointing=checkpointing)
clip_shape = model.backbone.inputs[0].shape[1:]
clips = np.random.default_rng(0).integers(0, 256, (batch, *clip_shape)).astype(np.uint8)
labels = np.zeros(batch, np.int32)
model(clips[:1], training=False)
before = rss_gib()
model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
              keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.train_on_batch(clips, labels)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
print(json.dumps({"before_gib": before, "peak_gib": peak}))
"""


def measure(model: str, batch: int, checkpointing: bool) -> dict[str, float]:
    """Peak resident memory of one training step in a fresh process, in GiB."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": repo}
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, model, str(batch), "1" if checkpointing else "0"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="timesformer_b")
    parser.add_argument("--batches", default="1,2", help="Batch sizes measured.")
    parser.add_argument("--target_batch", type=int, default=8)
    parser.add_argument("--no_measure", action="store_true", help="Only the estimate.")
    args = parser.parse_args()

    for optimizer in ("adamw", "sgd"):
        e = estimate(args.model, args.target_batch, optimizer)
        print(
            f"estimate {args.model}, batch {args.target_batch}, {optimizer}: "
            f"{e['parameters']:,} parameters, weights+gradients+optimizer "
            f"{e['weights_grads_optimizer_gib']:.2f} GiB, activations per block per clip "
            f"{e['per_block_per_clip_gib'] * 1024:.0f} MiB; total {e['plain_gib']:.1f} GiB "
            f"plain, {e['checkpointed_gib']:.1f} GiB with gradient checkpointing"
        )
    if args.no_measure:
        return
    batches = [int(b) for b in args.batches.split(",")]
    for checkpointing in (False, True):
        peaks = {}
        for batch in batches:
            m = measure(args.model, batch, checkpointing)
            peaks[batch] = m["peak_gib"] - m["before_gib"]
            print(
                f"measured {args.model}, batch {batch}, checkpointing {checkpointing}: "
                f"step peak {m['peak_gib']:.2f} GiB, {peaks[batch]:.2f} GiB above inference"
            )
        if len(batches) >= 2:
            low, high = min(batches), max(batches)
            slope = (peaks[high] - peaks[low]) / (high - low)
            at_target = peaks[low] + slope * (args.target_batch - low)
            print(
                f"  per clip {slope:.2f} GiB; read at batch {args.target_batch}: "
                f"{at_target:.1f} GiB above the model and one inference batch"
            )


if __name__ == "__main__":
    main()
