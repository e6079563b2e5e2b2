"""Training, evaluation and the named experiments.

from kvideo.training import get_experiment, train_and_evaluate
summary = train_and_evaluate(get_experiment("motion_demo"), "runs/demo")
"""

from kvideo.training.config import (
    DataConfig,
    Experiment,
    ModelConfig,
    OptimizerConfig,
    replace_fields,
)
from kvideo.training.experiments import EXPERIMENTS, get_experiment
from kvideo.training.trainer import train_and_evaluate

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
