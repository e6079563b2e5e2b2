"""Every model kvideo can build, by name: one explicit dict assembled from the families.

A family is a folder under ``kvideo/models`` (backbone, its blocks, ``presets.py``);
its ``presets.py`` lists the family's models as `ModelSpec` entries in a dict named
``MODELS``. Adding a family is adding its folder and one line below. This module and the
families' ``presets.py`` import no TensorFlow, so `list_presets()` and
``train_main.py --help`` answer at once.
"""

from __future__ import annotations

from kvideo.models.c3d.presets import MODELS as _C3D
from kvideo.models.inflated.presets import MODELS as _INFLATED
from kvideo.models.per_frame.presets import MODELS as _PER_FRAME
from kvideo.models.resnet3d.presets import MODELS as _RESNET3D
from kvideo.models.spec import ModelSpec
from kvideo.models.timesformer.presets import MODELS as _TIMESFORMER
from kvideo.models.videomae.presets import MODELS as _VIDEOMAE


def _merge(*families: dict[str, ModelSpec]) -> dict[str, ModelSpec]:
    merged: dict[str, ModelSpec] = {}
    for family in families:
        for name, spec in family.items():
            if name in merged:
                raise ValueError(
                    f"Model name {name!r} is registered by both the {merged[name].family!r} "
                    f"and the {spec.family!r} families."
                )
            merged[name] = spec
    return merged


#: Every registered model, by name.
MODELS: dict[str, ModelSpec] = _merge(
    _RESNET3D, _PER_FRAME, _INFLATED, _C3D, _TIMESFORMER, _VIDEOMAE
)


def list_presets(family: str | None = None) -> dict[str, ModelSpec]:
    """Every registered model, ``{name: ModelSpec}``, optionally of one `family`.

    Iterating gives the names (``list(list_presets())``); each `ModelSpec` tells its
    family, its expected input (``spec.input_description``) and its default head, and
    ``spec.summary()`` puts all of it on one line.
    """
    if family is None:
        return dict(MODELS)
    families = sorted({spec.family for spec in MODELS.values()})
    if family not in families:
        raise ValueError(f"Unknown family. Choose from {families}. Received: family={family!r}")
    return {name: spec for name, spec in MODELS.items() if spec.family == family}


def get_model_spec(name: str) -> ModelSpec:
    """The registered model `name`; a ValueError listing every valid name otherwise."""
    if name not in MODELS:
        raise ValueError(f"Unknown model. Choose from {sorted(MODELS)}. Received: name={name!r}")
    return MODELS[name]


def get_preset(name: str) -> dict:
    """A copy of the backbone keyword arguments of registered model `name`."""
    return dict(get_model_spec(name).config)
