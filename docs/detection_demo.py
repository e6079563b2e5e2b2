"""Makes the README's detection timeline, end to end, with the README's command.

    python docs/detection_demo.py       # ~2 min on 2 cores: docs/detection_timeline.png

1. trains a tiny detector on short clips (`tests/detection_fixtures.py`): classes
   background, moving_up and moving_down from motion_demo, 8 frames 4 apart at 32x32,
   and writes a run folder (`model.keras`, `clip_config.json`, `labels.txt`);
2. writes a 90 s video (64x64, 16 fps) with actions of both classes at known seconds,
   on still scenes with a cut half-way through each pause, and its ground truth in
   ActivityNet's format;
3. runs `export/detect_main.py` on it, as the README shows, and copies the timeline.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.detection_fixtures import train_detector, write_event_video  # noqa: E402

# (start_s, motion_demo class): moving_up (0) or moving_down (1).
EVENTS = [(6, 0), (17, 1), (30, 1), (41, 0), (55, 0), (63, 1), (78, 0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=str(REPO / "docs" / "detection_timeline.png"))
    parser.add_argument("--work_dir", default=None)
    args = parser.parse_args()
    work = pathlib.Path(args.work_dir or tempfile.mkdtemp(prefix="kvideo_detection_demo_"))
    accuracy = train_detector(work / "run", classes=(0, 1), separate=True, epochs=6)
    print(f"trained: accuracy {accuracy:.3f} on the training clips")
    (work / "videos").mkdir(parents=True, exist_ok=True)
    truth = write_event_video(work / "videos" / "demo.mp4", 90, EVENTS, seed=7)
    database = {
        "demo": {"annotations": [{"label": name, "segment": [s, e]} for s, e, name in truth]}
    }
    (work / "truth.json").write_text(json.dumps({"database": database}, indent=1))
    command = [
        sys.executable,
        str(REPO / "export" / "detect_main.py"),
        f"--model={work / 'run' / 'model.keras'}",
        f"--input={work / 'videos'}",
        f"--output_dir={work / 'detections'}",
        "--stride_frames=4",
        f"--ground_truth={work / 'truth.json'}",
    ]
    print(" ".join(command[1:]))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(command, check=True, env=env)
    print((work / "detections" / "detections.csv").read_text())
    shutil.copy(work / "detections" / "videos" / "demo.png", args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
