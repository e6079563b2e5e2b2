"""One backbone, one head per dataset: a classifier trained on several datasets at once.

`MultiHeadClassifier` runs the clips through one preprocessing layer and one backbone
*once*, then through one head per dataset, each a small functional model of its own
(``<dataset>_head``, so that every head's layers keep the names `kvideo.models.heads`
gives them). Its output is a dict ``{dataset: scores}``. Training feeds it batches of one
dataset at a time and weights the other heads' losses by zero
(`kvideo.training.multi_dataset`).

`head_classifier(name)` gives a plain `VideoClassifier` for one dataset: the same
backbone object (its weights are the trained ones, shared), and a new head of the same
kind with that head's trained weights copied in. It is what `kvideo.export`, evaluation,
detection and explanations take.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from kvideo import inputs as named_inputs
from kvideo.models import heads
from kvideo.models.video_classifier import (
    VideoClassifier,
    classifier_config,
    classifier_trunk,
    deserialize_classifier_parts,
)


@keras.saving.register_keras_serializable(package="kvideo")
class MultiHeadClassifier(keras.Model):
    """``[preprocessing ->] backbone -> {dataset: head(features)}``.

    Args:
        backbone: as for `VideoClassifier` (clips or per-frame 2D network).
        num_classes: ``{dataset name: number of classes}``, one head each, in order.
        head, head_args, dropout, activation, preprocessing, input_name, num_frames: as
            for `VideoClassifier`; every head is of the same kind.
        **kwargs: ``name``/``trainable`` for ``keras.Model``.
    """

    def __init__(
        self,
        backbone: keras.Model,
        num_classes: Mapping[str, int],
        head: str = "pool",
        head_args: Mapping[str, Any] | None = None,
        dropout: float = 0.5,
        activation: str | None = None,
        preprocessing: keras.layers.Layer | None = None,
        input_name: str = named_inputs.VIDEO,
        num_frames: int | None = None,
        **kwargs: Any,
    ) -> None:
        num_classes = dict(num_classes)
        if len(num_classes) < 2:
            raise ValueError(
                f"A multi-head classifier needs two datasets or more. Received: {num_classes}"
            )
        for name, count in num_classes.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"Dataset names must be identifiers. Received: {name!r}")
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError(
                    f"`num_classes[{name!r}]` must be a positive int. Received: {count}"
                )
        head_args = dict(head_args or {})

        # === Functional model ===
        clips, features = classifier_trunk(backbone, preprocessing, input_name, num_frames)
        scores = {}
        for name, count in num_classes.items():
            head_input = keras.Input(features.shape[1:], name=f"{name}_features")
            head_output = heads.apply_head(
                head, head_input, count, dropout=dropout, activation=activation, head_args=head_args
            )
            scores[name] = keras.Model(head_input, head_output, name=f"{name}_head")(features)
        super().__init__(inputs={input_name: clips}, outputs=scores, **kwargs)

        # === Config ===
        self.backbone = backbone
        self.num_classes = num_classes
        self.head = head
        self.head_args = head_args
        self.dropout = float(dropout)
        self.activation = activation
        self.preprocessing = preprocessing
        self.input_name = input_name
        self.num_frames = num_frames

    @property
    def dataset_names(self) -> list[str]:
        return list(self.num_classes)

    def head_model(self, name: str) -> keras.Model:
        """The head of dataset `name`, a model from the backbone's features to scores."""
        if name not in self.num_classes:
            raise ValueError(f"No head {name!r}. The heads: {self.dataset_names}")
        return self.get_layer(f"{name}_head")

    def head_classifier(self, name: str) -> VideoClassifier:
        """A `VideoClassifier` for dataset `name`: the shared backbone and preprocessing,
        and a head with the trained head's weights (see the module)."""
        trained = self.head_model(name)
        classifier = VideoClassifier(
            self.backbone,
            self.num_classes[name],
            head=self.head,
            head_args=self.head_args,
            dropout=self.dropout,
            activation=self.activation,
            preprocessing=self.preprocessing,
            input_name=self.input_name,
            num_frames=self.num_frames,
            name=name,
        )
        trunk = {id(self.backbone), id(self.preprocessing)}
        trunk_names = {"frames_to_batch", "batch_to_frames"}
        new_layers = [
            layer
            for layer in classifier.layers
            if id(layer) not in trunk
            and layer.name not in trunk_names
            and not isinstance(layer, keras.layers.InputLayer)
        ]
        old_layers = [
            layer for layer in trained.layers if not isinstance(layer, keras.layers.InputLayer)
        ]
        if [type(lay) for lay in new_layers] != [type(lay) for lay in old_layers]:
            raise ValueError(
                f"The head of {name!r} does not match a freshly built one: "
                f"{[lay.name for lay in old_layers]} vs {[lay.name for lay in new_layers]}"
            )
        for new, old in zip(new_layers, old_layers, strict=True):
            new.set_weights(old.get_weights())
        return classifier

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({**classifier_config(self), "num_classes": dict(self.num_classes)})
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MultiHeadClassifier:
        return cls(**deserialize_classifier_parts(config))
