"""Session fixtures for the data tests: built datasets in temporary data dirs.

Each dataset is built once per session:

* `motion_demo_dir`: motion_demo in both storages (jpeg ~3 s, bytes ~7 s).
* `index_dataset_dir`: a video_folder dataset, both storages, built from square
  index-pattern videos (`tests.video_fixtures`) so that every decoded frame tells which
  frame of its video it is.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import sys

import pytest

from tests import video_fixtures as vf

# Both storages, as in `kvideo.data.storage.STORAGES` (not imported here, so that tests
# without TensorFlow, such as test_io.py, do not pay for importing it).
STORAGES = ("jpeg", "bytes")

# Square frames: a centre crop with crop_fraction=1.0 keeps the whole index pattern.
INDEX_VIDEO_SIZE = 48
# {class: [(file name, video_fixtures format, frame count)]}: XviD .avi and H.264 .mp4,
# lengths that are not multiples of the clip lengths used in the tests.
INDEX_VIDEOS = {
    "alpha": [("a_xvid.avi", "xvid_avi", 29), ("a_h264.mp4", "h264_mp4", 7)],
    "beta": [("b_h264.mp4", "h264_mp4", 40), ("b_xvid.avi", "xvid_avi", 17)],
}


def build_dataset(name: str, config: str, data_dir: str | pathlib.Path, manual_dir=None):
    """Builds (or reuses) `name/config` in `data_dir` and returns the builder."""
    import tensorflow_datasets as tfds

    # Importing the builder modules registers "motion_demo" and "video_folder".
    from tfds_builders.motion_demo import motion_demo_dataset_builder  # noqa: F401
    from tfds_builders.video_folder import video_folder_dataset_builder  # noqa: F401

    builder = tfds.builder(f"{name}/{config}", data_dir=str(data_dir))
    download_config = tfds.download.DownloadConfig(
        manual_dir=None if manual_dir is None else str(manual_dir)
    )
    builder.download_and_prepare(download_config=download_config)
    return builder


def tfds_command() -> str:
    """The `tfds` command line of this Python environment."""
    command = pathlib.Path(sys.executable).parent / "tfds"
    found = str(command) if command.exists() else shutil.which("tfds")
    if found is None:
        pytest.fail("the `tfds` command is not installed")
    return found


def checkout_env() -> dict[str, str]:
    """The environment for a subprocess that must import this checkout's packages.

    A console script such as `tfds` puts its own folder first on `sys.path`, not the
    working directory, so without this it imports whichever copy of kvideo is installed.
    """
    root = str(pathlib.Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


def write_index_folder(root: pathlib.Path) -> pathlib.Path:
    """Writes `INDEX_VIDEOS` as class folders under `root`."""
    for class_name, videos in INDEX_VIDEOS.items():
        (root / class_name).mkdir(parents=True)
        for file_name, fmt, num_frames in videos:
            vf.write_format(
                root / class_name / file_name, fmt, num_frames, INDEX_VIDEO_SIZE, INDEX_VIDEO_SIZE
            )
    return root


@pytest.fixture(scope="session")
def motion_demo_dir(tmp_path_factory) -> pathlib.Path:
    data_dir = tmp_path_factory.mktemp("motion_demo_data")
    for config in STORAGES:
        build_dataset("motion_demo", config, data_dir)
    return data_dir


@pytest.fixture(scope="session")
def index_videos_root(tmp_path_factory) -> pathlib.Path:
    return write_index_folder(tmp_path_factory.mktemp("index_videos"))


@pytest.fixture(scope="session")
def index_dataset_dir(tmp_path_factory, index_videos_root) -> pathlib.Path:
    data_dir = tmp_path_factory.mktemp("index_data")
    for config in STORAGES:
        build_dataset("video_folder", config, data_dir, manual_dir=index_videos_root)
    return data_dir


@pytest.fixture(params=STORAGES)
def storage_kind(request) -> str:
    """Runs a test once per storage ("jpeg", "bytes")."""
    return request.param
