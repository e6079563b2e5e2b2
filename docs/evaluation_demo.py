"""Makes the README's evaluation pictures, end to end, with the README's commands.

    python docs/evaluation_demo.py     # ~3 min on 2 cores: docs/evaluation_*.png

1. `train_main.py` trains a tiny R3D on the built-in motion_demo set (8 frames 4 apart,
   32x32 crops, 6 epochs) and evaluates it on the test split: the confusion matrix and
   the per-class precision-recall curves are copied to
   ``docs/evaluation_confusion.png`` and ``docs/evaluation_precision_recall.png``;
2. a new motion_demo video of each class in `--explain_classes` is written (the
   builder's own renderer, a seed the dataset never used) and
   `export/explain_main.py` explains the trained model on it at ``stage2_block1_out``
   (a 4x8x8 map; the last stage's is 1x2x2): the contact sheet of the first becomes
   ``docs/evaluation_gradcam.png`` (128 colours).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kvideo.io.encode import write_video  # noqa: E402
from tfds_builders.motion_demo import motion_demo_dataset_builder as demo  # noqa: E402

TRAIN_FLAGS = [
    "--experiment=motion_demo",
    "--model=r3d_tiny",
    "--num_frames=8",
    "--frame_stride=4",
    "--crop_size=32",
    "--epochs=6",
    "--learning_rate=0.05",
    "--warmup_epochs=0.5",
    "--noexport",
]


def run(*command: str) -> None:
    print("$ " + " ".join(pathlib.Path(c).name if c == sys.executable else c for c in command))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(command, check=True, env=env, cwd=REPO)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs_dir", default=str(REPO / "docs"))
    parser.add_argument("--work_dir", default=None)
    parser.add_argument("--explain_classes", default="moving_up,growing")
    args = parser.parse_args()
    work = pathlib.Path(args.work_dir or tempfile.mkdtemp(prefix="kvideo_evaluation_demo_"))
    docs = pathlib.Path(args.docs_dir)
    run_dir = work / "run"
    (work / "tfds").mkdir(parents=True, exist_ok=True)
    run(
        sys.executable,
        "train_main.py",
        *TRAIN_FLAGS,
        f"--data_dir={work / 'tfds'}",
        f"--output_dir={run_dir}",
    )
    shutil.copy(run_dir / "test_confusion.png", docs / "evaluation_confusion.png")
    shutil.copy(run_dir / "test_precision_recall.png", docs / "evaluation_precision_recall.png")

    rng = np.random.default_rng(7)
    sheets = []
    for name in args.explain_classes.split(","):
        video = work / "videos" / f"{name}.mp4"
        video.parent.mkdir(parents=True, exist_ok=True)
        frames = demo.render_clip(demo.CLASSES.index(name), rng)
        write_video(video, frames, fps=demo.FPS, codec="libx264", options={"crf": "10"})
        run(
            sys.executable,
            "export/explain_main.py",
            f"--model={run_dir / 'model.keras'}",
            f"--video={video}",
            f"--output_dir={work / 'explained'}",
            f"--target={name}",
            "--layer=stage2_block1_out",  # (4, 8, 8) of 8x32x32 clips; stage4's is (1, 2, 2)
        )
        sheets.append(work / "explained" / f"{name}_explained.png")
    # 128 colours keep the committed picture small (the textured frames do not compress).
    with Image.open(sheets[0]) as sheet:
        sheet.quantize(128).save(docs / "evaluation_gradcam.png", optimize=True)
    print(f"written: {docs}/evaluation_{{confusion,precision_recall,gradcam}}.png")
    print(f"work files (GIFs, reports): {work}")


if __name__ == "__main__":
    main()
