"""TFDS dataset builders of kvideo, one folder each in the `tfds new` layout.

Importing this package registers every builder with TFDS, so that
`tfds.builder("motion_demo")`, `tfds.builder("video_folder")`,
`tfds.builder("ucf101_kvideo/split1_jpeg")` and `tfds.builder("hmdb51_kvideo/split1_jpeg")`
find them. Code they share lives in `tfds_builders.common`. The command
line finds a builder by its folder instead: `tfds build tfds_builders/motion_demo`.
"""

from tfds_builders.hmdb51_kvideo import hmdb51_kvideo_dataset_builder
from tfds_builders.motion_demo import motion_demo_dataset_builder
from tfds_builders.ucf101_kvideo import ucf101_kvideo_dataset_builder
from tfds_builders.video_folder import video_folder_dataset_builder

__all__ = [
    "hmdb51_kvideo_dataset_builder",
    "motion_demo_dataset_builder",
    "ucf101_kvideo_dataset_builder",
    "video_folder_dataset_builder",
]
