"""TFDS dataset builders of kvideo, one folder each in the `tfds new` layout.

Importing this package registers every builder with TFDS, so that
`tfds.builder("motion_demo")` and `tfds.builder("video_folder")` find them. The command
line finds a builder by its folder instead: `tfds build tfds_builders/motion_demo`.
"""

from tfds_builders.motion_demo import motion_demo_dataset_builder
from tfds_builders.video_folder import video_folder_dataset_builder

__all__ = ["motion_demo_dataset_builder", "video_folder_dataset_builder"]
