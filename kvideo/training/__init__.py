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
    replace_fields,
)
from kvideo.training.experiments import EXPERIMENTS, get_experiment

_EXPORTS = {"train_and_evaluate": "kvideo.training.trainer"}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "EXPERIMENTS",
    "DataConfig",
    "Experiment",
    "ModelConfig",
    "OptimizerConfig",
    "get_experiment",
    "replace_fields",
    "train_and_evaluate",
]

if TYPE_CHECKING:
    from kvideo.training.trainer import train_and_evaluate
