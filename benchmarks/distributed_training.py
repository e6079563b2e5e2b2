"""Training clips/s of the custom loop with 1 worker, 2 local workers, and 2 logical CPU
devices under `mirrored`, in one run, on the motion_demo data.

    python benchmarks/distributed_training.py
    python benchmarks/distributed_training.py --model=r2plus1d_tiny --num_frames=8 \
        --crop_size=56 --batch_size=16 --epochs=2

Each setting is a fresh `train_main.py` run (its own processes) with the same global
batch and seed: "1 worker" (one process, one device), "mirrored x2" (one process, the
CPU split into 2 logical devices, `--strategy=mirrored`), "2 workers" (two processes
on 127.0.0.1, `--strategy=multi_worker_mirrored`, TF_CONFIG). Clips/s is counted from
the chief's `steps.csv` (wall clock at the end of every global step), over the steps
after `--warmup`, so tracing and the first graph optimisation are left out; the
validation pass at an epoch's end is inside the window when it falls there.

On one machine the workers share its cores: this measures what the distribution
costs (all-reduce over gRPC, one input pipeline per worker), not a speed-up; on
several machines each worker brings its own cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", default=None, help="TFDS dir (motion_demo built if absent)")
    parser.add_argument("--model", default="r3d_tiny")
    parser.add_argument("--num_frames", type=int, default=8)
    parser.add_argument("--crop_size", type=int, default=32)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=3, help="steps left out of the timing")
    return parser.parse_args()


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run(flags: list[str], workers: int = 1) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, str(REPO / "train_main.py"), *flags]
    if workers == 1:
        subprocess.run(command, env=env, check=True, capture_output=True, cwd=REPO)
        return
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(workers)]}
    processes = []
    for index in range(workers):
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        processes.append(
            subprocess.Popen(
                command,
                env={**env, "TF_CONFIG": json.dumps(tf_config)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd=REPO,
            )
        )
    for process in processes:
        _, err = process.communicate()
        if process.returncode:
            raise RuntimeError(err.decode()[-3000:])


def clips_per_second(output_dir: pathlib.Path, batch_size: int, warmup: int) -> float:
    with open(output_dir / "steps.csv", newline="") as f:
        times = [float(row["time"]) for row in csv.DictReader(f)]
    window = times[warmup:]
    return (len(window) - 1) * batch_size / (window[-1] - window[0])


def main() -> None:
    args = parse_args()
    root = pathlib.Path(tempfile.mkdtemp(prefix="kvideo-distributed-bench-"))
    data_dir = args.data_dir or str(root / "data")
    os.makedirs(data_dir, exist_ok=True)
    common = [
        f"--data_dir={data_dir}",
        f"--model={args.model}",
        f"--num_frames={args.num_frames}",
        "--frame_stride=2",
        f"--crop_size={args.crop_size}",
        f"--batch_size={args.batch_size}",
        f"--epochs={args.epochs}",
        "--validation_fraction=0",
        "--noexport",
        "--loop=custom",
    ]
    settings = {
        "1 worker": ([], 1),
        "mirrored x2": (["--strategy=mirrored", "--cpu_devices=2"], 1),
        "2 workers": (["--strategy=multi_worker_mirrored"], 2),
    }
    print(
        f"{args.model}, {args.num_frames}x{args.crop_size}x{args.crop_size} clips, global "
        f"batch {args.batch_size}, {os.cpu_count()} CPU cores"
    )
    results = {}
    for name, (flags, workers) in settings.items():
        output_dir = root / name.replace(" ", "_")
        started = time.time()
        run([*common, *flags, f"--output_dir={output_dir}"], workers)
        results[name] = clips_per_second(output_dir, args.batch_size, args.warmup)
        ratio = results[name] / results["1 worker"]
        print(
            f"{name:12s} {results[name]:7.1f} clips/s  x{ratio:.2f} of 1 worker  "
            f"(run {time.time() - started:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
