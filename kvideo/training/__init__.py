"""Training, evaluation and the named experiments.

from kvideo.training import get_experiment, train_and_evaluate
summary = train_and_evaluate(get_experiment("motion_demo"), "runs/demo")

The settings (`config.py`, `experiments.py`) import no TensorFlow; the rest loads on
first use.
"""

from typing import TYPE_CHECKING

from kvideo._lazy import lazy_exports
from kvideo.training.config import (
    DataConfig,
    Experiment,
    ModelConfig,
    OptimizerConfig,
    StreamConfig,
    replace_fields,
)
from kvideo.training.experiments import EXPERIMENTS, get_experiment

_EXPORTS = {
    "train_and_evaluate": "kvideo.training.trainer",
    "fuse_streams": "kvideo.training.fusion",
    "train_streams": "kvideo.training.fusion",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "EXPERIMENTS",
    "DataConfig",
    "Experiment",
    "ModelConfig",
    "OptimizerConfig",
    "StreamConfig",
    "fuse_streams",
    "get_experiment",
    "replace_fields",
    "train_and_evaluate",
    "train_streams",
]

if TYPE_CHECKING:
    from kvideo.training.fusion import fuse_streams, train_streams
    from kvideo.training.trainer import train_and_evaluate
