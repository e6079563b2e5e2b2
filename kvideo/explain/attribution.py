"""Where a video model looks: Grad-CAM over space and time, guided backpropagation, guided
Grad-CAM, and the raw activation maps of a chosen layer.

Each method returns an `Explanation` whose ``maps`` are ``(frames, height, width)`` in
[0, 1] on the clip's own frames, normalised by the maximum over the *whole clip* (not per
frame), so a frame that matters little stays dark and the maps show *when* as well as
*where*.

How the layer's activations are reached. A `VideoClassifier` is a Keras functional model
whose backbone is a nested functional model (``preprocessing -> backbone -> head``). A
sub-model of the backbone returns the chosen inner layer's activations beside the
backbone's features, and a second sub-model, cut from the classifier's own graph at the
backbone's output, is the head; running ``preprocessing -> backbone tap -> head`` under a
`tf.GradientTape` gives the class score and its gradient at the layer with the
classifier's own layers and weights (`tapped_model`; the test checks the scores equal the
classifier's). A 2D backbone run on every frame is tapped the same way on the frames
folded into the batch, and its maps unfolded to ``(batch, frames, h, w, features)``.
Any other functional model is tapped at one of its own layers.

* **Grad-CAM** (Selvaraju et al. 2017), on a feature map ``A`` of ``(T', H', W', F)``:
  ``w_f = mean over (t, y, x) of d score / d A[t, y, x, f]`` and
  ``cam = ReLU(sum_f w_f A[..., f])``, upsampled (linearly, in time and space) to the
  clip. One weight per channel for the whole clip, so the map also ranks frames. For a
  per-frame 2D backbone ``T' = T`` and the maps are the 2D network's, frame by frame.
  The score is the class's logit (pre-softmax), as in the paper.
* **Guided backpropagation** (Springenberg et al. 2015): the gradient of the score with
  respect to the model's (preprocessed) input, where every ReLU passes back only positive
  gradients at positive inputs. Shown as the largest absolute gradient over channels.
* **Guided Grad-CAM**: guided backpropagation times the Grad-CAM map.
* **Activations**: the chosen layer's output averaged over channels (or one channel),
  rescaled to [0, 1] over the clip (minimum to maximum).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from kvideo.models import spec as model_spec
from kvideo.models.outputs import outputs_logits

METHODS = ("gradcam", "guided_backprop", "guided_gradcam", "activations")


@dataclasses.dataclass
class Explanation:
    """What one method says about one clip and one class.

    Attributes:
        maps: float32 `(frames, height, width)` in [0, 1], on the clip's frames.
        raw: the maps before upsampling and rescaling: `(T', H', W')` at the layer for
            Grad-CAM and activations, `(frames, crop, crop)` for the guided methods.
        method: one of `METHODS`.
        layer: the layer explained (None for guided backpropagation).
        class_index: the class explained.
        probabilities: float32 `(classes,)`, the model's class probabilities for the clip.
    """

    maps: np.ndarray
    raw: np.ndarray
    method: str
    layer: str | None
    class_index: int
    probabilities: np.ndarray

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probabilities))


class TappedModel:
    """A classifier run so that one layer's activations come out beside its class scores.

    Call it on clips `(batch, frames, h, w, channels)` (as the classifier takes them) for
    `(activations, scores, inputs)`: the layer's output with frames as their own axis,
    `(batch, T', H', W', F)`; the classifier's pre-softmax scores `(batch, classes)`;
    and the float input after the model's preprocessing (what the guided gradients are
    taken with respect to).
    """

    def __init__(self, model: keras.Model, layer: str | None = None):
        self.model = model
        backbone = getattr(model, "backbone", None)
        if isinstance(backbone, keras.Model) and (layer is None or _has_layer(backbone, layer)):
            self._init_nested(model, backbone, layer)
        elif layer is not None and _has_layer(model, layer):
            self._init_flat(model, layer)
        else:
            names = [lay.name for lay in (backbone or model).layers]
            raise ValueError(
                f"No layer {layer!r} to explain in {model.name!r}. Its "
                f"{'backbone' if backbone is not None else 'model'}'s layers: {names}"
            )

    def _init_nested(self, model: keras.Model, backbone: keras.Model, layer: str | None) -> None:
        from kvideo.models.video_classifier import backbone_input_kind

        self.per_frame = backbone_input_kind(backbone) == model_spec.FRAME
        layer = layer or _last_spatial_layer(backbone, rank=4 if self.per_frame else 5)
        self.layer = layer
        target = backbone.get_layer(layer).output
        self._tap = keras.Model(backbone.inputs, [target, backbone.outputs[0]])
        if self.per_frame:
            features = model.get_layer("batch_to_frames").output
        else:
            # The backbone's output in the classifier's graph (not in its own).
            features = backbone._inbound_nodes[0].output_tensors[0]
        self._head = keras.Model(features, _score_tensor(model))
        self._preprocessing = getattr(model, "preprocessing", None)
        self._flat = None

    def _init_flat(self, model: keras.Model, layer: str) -> None:
        self.per_frame = False
        self.layer = layer
        target = model.get_layer(layer).output
        self._flat = keras.Model(model.inputs, [target, _score_tensor(model)])

    def preprocess(self, clips: Any) -> tf.Tensor:
        """The float input the backbone sees (the model's preprocessing, if any)."""
        if self._flat is None and self._preprocessing is not None:
            return self._preprocessing(clips)
        return tf.cast(clips, tf.float32)

    def from_inputs(self, inputs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """`(activations, scores)` from preprocessed inputs (see `preprocess`).

        The activations are the layer's own tensor (for a per-frame backbone, frames
        still folded into the batch: `(batch * frames, H', W', F)`), so that gradients can
        be taken with respect to them; `unfold` gives them their frame axis.
        """
        if self._flat is not None:
            return self._flat(inputs, training=False)
        if not self.per_frame:
            activations, features = self._tap(inputs, training=False)
            return activations, self._head(features, training=False)
        frames = tf.reshape(inputs, tf.concat([[-1], tf.shape(inputs)[2:]], axis=0))
        activations, features = self._tap(frames, training=False)
        return activations, self._head(self.unfold(features, inputs), training=False)

    def unfold(self, x: tf.Tensor, inputs: tf.Tensor) -> tf.Tensor:
        """`(batch, T', ...)`: per-frame tensors `(batch * frames, ...)` unfolded along
        the frames of `inputs`; other tensors unchanged."""
        if not self.per_frame:
            return x
        return tf.reshape(x, tf.concat([tf.shape(inputs)[:2], tf.shape(x)[1:]], axis=0))

    def __call__(self, clips: Any) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        inputs = self.preprocess(clips)
        activations, scores = self.from_inputs(inputs)
        return self.unfold(activations, inputs), scores, inputs


def _has_layer(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def _last_spatial_layer(backbone: keras.Model, rank: int) -> str:
    """The last layer whose output is a feature map (rank 5 for clips, 4 for frames)."""
    for layer in reversed(backbone.layers):
        if len(layer.output.shape) == rank:
            return layer.name
    raise ValueError(
        f"The backbone {backbone.name!r} has no layer with a feature map of rank {rank} to "
        "explain; name one with `layer=`."
    )


def _score_tensor(model: keras.Model) -> Any:
    """The classifier's pre-softmax class scores in its graph."""
    if outputs_logits(model):
        return model.outputs[0]
    last = model.layers[-1]
    if isinstance(last, (keras.layers.Activation, keras.layers.Softmax)):
        return last.input  # the logits that the softmax layer squashes
    raise ValueError(
        "Grad-CAM needs the class scores before the softmax; the model's last layer "
        f"{last.name!r} is not a softmax layer to cut off."
    )


def _clip_batch(clip: np.ndarray) -> np.ndarray:
    clip = np.asarray(clip)
    if clip.ndim != 4:
        raise ValueError(
            "`clip` must be one clip (frames, height, width, channels), as a view of the "
            f"evaluation pipeline. Received: shape={clip.shape}"
        )
    return clip[None]


def _upsample(maps: np.ndarray, size: tuple[int, int, int]) -> np.ndarray:
    """`(T', H', W')` -> `(T, H, W)`, linear in time and space (half-pixel centres: cell i
    of a strided map covers input positions [i * s, (i + 1) * s))."""
    frames, height, width = size
    x = tf.image.resize(tf.convert_to_tensor(maps, tf.float32)[..., None], (height, width))
    t_in = x.shape[0]
    x = tf.reshape(x, (t_in, height * width, 1))
    x = tf.image.resize(x, (frames, height * width))
    return tf.reshape(x, (frames, height, width)).numpy()


def _scale(maps: np.ndarray) -> np.ndarray:
    """Divides by the clip's maximum (maps are non-negative); all-zero stays zero."""
    top = float(maps.max(initial=0.0))
    return (maps / top if top > 0 else np.zeros_like(maps)).astype(np.float32)


def _target(
    tapped: TappedModel, clip: np.ndarray, class_index: int | None, guided: bool = False
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, int, np.ndarray]:
    """Runs the tapped model under a tape: activations, their gradient, the input and its
    gradient, the class, the probabilities."""
    clips = _clip_batch(clip)
    inputs = tf.convert_to_tensor(tapped.preprocess(clips))
    context = guided_relus(tapped.model) if guided else contextlib.nullcontext()
    with context, tf.GradientTape(persistent=True) as tape:
        tape.watch(inputs)
        activations, scores = tapped.from_inputs(inputs)
        probabilities = keras.ops.convert_to_numpy(tf.nn.softmax(scores[0]))
        index = int(np.argmax(probabilities)) if class_index is None else int(class_index)
        if not 0 <= index < scores.shape[-1]:
            raise ValueError(
                f"`class_index` must be in [0, {scores.shape[-1]}). Received: {class_index}"
            )
        score = scores[0, index]
    activation_grads, input_grads = tape.gradient(score, [activations, inputs])
    del tape
    activations = tapped.unfold(activations, inputs)[0]
    activation_grads = tapped.unfold(activation_grads, inputs)[0]
    return activations, activation_grads, inputs[0], input_grads[0], index, probabilities


def grad_cam(
    model: keras.Model, clip: np.ndarray, class_index: int | None = None, layer: str | None = None
) -> Explanation:
    """Grad-CAM of `class_index` (default: the predicted class) at `layer`.

    Args:
        model: a `VideoClassifier` (3D or per-frame 2D backbone; `layer` is then a layer of
            the backbone, default its last feature map) or a functional model with a
            layer named `layer`.
        clip: one clip `(frames, height, width, channels)` as the model takes it (uint8
            for a classifier with preprocessing).
        class_index: the class to explain.
        layer: the layer whose activations are weighted.
    """
    tapped = TappedModel(model, layer)
    activations, grads, _, _, index, probabilities = _target(tapped, clip, class_index)
    weights = tf.reduce_mean(grads, axis=tuple(range(len(grads.shape) - 1)))  # (F,)
    cam = tf.nn.relu(tf.reduce_sum(activations * weights, axis=-1)).numpy()
    cam = _as_clip_maps(cam, tapped)
    return Explanation(
        maps=_scale(_upsample(cam, np.shape(clip)[:3])),
        raw=cam,
        method="gradcam",
        layer=tapped.layer,
        class_index=index,
        probabilities=probabilities,
    )


def _as_clip_maps(maps: np.ndarray, tapped: TappedModel) -> np.ndarray:
    """`(T', H', W')`: a layer of a flat model may lack the time axis; give it one."""
    if maps.ndim == 2:
        return maps[None]
    if maps.ndim != 3:
        raise ValueError(
            f"Layer {tapped.layer!r} gives no spatial map to explain (its activations per "
            f"clip have shape {maps.shape}); choose a convolutional layer."
        )
    return maps


def guided_backprop(
    model: keras.Model, clip: np.ndarray, class_index: int | None = None
) -> Explanation:
    """Guided backpropagation of `class_index` (default: the predicted class) to the input.

    ``raw`` is the largest absolute guided gradient over channels on the preprocessed
    clip, `(frames, crop, crop)`; ``maps`` the same on the clip's frames.
    """
    tapped = TappedModel(model, None if _nested(model) else _first_layer(model))
    _, _, _, input_grads, index, probabilities = _target(tapped, clip, class_index, guided=True)
    saliency = tf.reduce_max(tf.abs(input_grads), axis=-1).numpy()
    return Explanation(
        maps=_scale(_upsample(saliency, np.shape(clip)[:3])),
        raw=saliency,
        method="guided_backprop",
        layer=None,
        class_index=index,
        probabilities=probabilities,
    )


def guided_grad_cam(
    model: keras.Model, clip: np.ndarray, class_index: int | None = None, layer: str | None = None
) -> Explanation:
    """Guided backpropagation times Grad-CAM: fine detail, only where the class is."""
    cam = grad_cam(model, clip, class_index, layer)
    guided = guided_backprop(model, clip, cam.class_index)
    product = guided.maps * cam.maps
    return Explanation(
        maps=_scale(product),
        raw=product,
        method="guided_gradcam",
        layer=cam.layer,
        class_index=cam.class_index,
        probabilities=cam.probabilities,
    )


def activation_maps(
    model: keras.Model,
    clip: np.ndarray,
    layer: str | None = None,
    channel: int | None = None,
    class_index: int | None = None,
) -> Explanation:
    """The raw activations of `layer`: the mean over channels, or channel `channel`.

    ``raw`` is `(T', H', W')` as the layer computes it; ``maps`` is rescaled from its
    minimum to its maximum over the clip. `class_index` is only recorded.
    """
    tapped = TappedModel(model, layer)
    activations, scores, _ = tapped(_clip_batch(clip))
    activations = activations[0]
    maps = tf.reduce_mean(activations, axis=-1) if channel is None else activations[..., channel]
    raw = _as_clip_maps(maps.numpy(), tapped)
    probabilities = keras.ops.convert_to_numpy(tf.nn.softmax(scores[0]))
    index = int(np.argmax(probabilities)) if class_index is None else int(class_index)
    return Explanation(
        maps=_scale(_upsample(raw - raw.min(), np.shape(clip)[:3])),
        raw=raw,
        method="activations",
        layer=tapped.layer,
        class_index=index,
        probabilities=probabilities,
    )


def _nested(model: keras.Model) -> bool:
    return isinstance(getattr(model, "backbone", None), keras.Model)


def _first_layer(model: keras.Model) -> str:
    """A layer of a flat model to tap for the guided methods (any will do: only the
    gradient with respect to the input is used)."""
    return model.layers[-1].name


def explain(
    model: keras.Model,
    clip: np.ndarray,
    method: str = "gradcam",
    class_index: int | None = None,
    layer: str | None = None,
    channel: int | None = None,
) -> Explanation:
    """One of `METHODS` by name (see each function)."""
    if method == "gradcam":
        return grad_cam(model, clip, class_index, layer)
    if method == "guided_backprop":
        return guided_backprop(model, clip, class_index)
    if method == "guided_gradcam":
        return guided_grad_cam(model, clip, class_index, layer)
    if method == "activations":
        return activation_maps(model, clip, layer, channel, class_index)
    raise ValueError(f"Unknown method. Choose from {METHODS}. Received: method={method!r}")


@tf.custom_gradient
def _guided_relu(x):
    def grad(upstream):
        return upstream * tf.cast(upstream > 0, upstream.dtype) * tf.cast(x > 0, upstream.dtype)

    return tf.nn.relu(x), grad


def _is_relu(fn: Callable | None) -> bool:
    return fn is keras.activations.relu or getattr(fn, "__name__", None) == "relu"


@contextlib.contextmanager
def guided_relus(model: keras.Model) -> Iterator[int]:
    """Within the block, every plain ReLU of `model` (nested models included) passes back
    only positive gradients at positive inputs; yields how many were replaced.

    Patches the layer *instances* (a `ReLU` layer's ``call``, a layer's ``activation``)
    and restores them on exit: run nothing else on the model meanwhile.
    """
    patched: list[tuple[Any, str, Any]] = []
    try:
        for layer in model._flatten_layers(include_self=False, recursive=True):
            if isinstance(layer, keras.layers.ReLU):
                plain = (
                    layer.max_value is None
                    and float(layer.negative_slope) == 0
                    and float(layer.threshold) == 0
                )
                if plain:
                    patched.append((layer, "call", layer.__dict__.get("call")))
                    object.__setattr__(layer, "call", lambda x, *a, **k: _guided_relu(x))
            elif _is_relu(getattr(layer, "activation", None)):
                patched.append((layer, "activation", layer.activation))
                object.__setattr__(layer, "activation", _guided_relu)
        yield len(patched)
    finally:
        for layer, name, original in reversed(patched):
            if original is None and name == "call":
                object.__delattr__(layer, "call")
            else:
                object.__setattr__(layer, name, original)
