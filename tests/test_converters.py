"""Converter parity: published checkpoint layouts -> kvideo models with the same logits.

For every architecture whose checkpoints kvideo imports (torchvision's ``r3d_18``,
``mc3_18``, ``r2plus1d_18``; IG65M R(2+1)D-34 as ig65m-pytorch's ``.pth`` and as VMZ's
Caffe2 ``.pkl``; the C3D Sports-1M port's ``c3d.pickle``), `tests.torch_reference`
writes a checkpoint with random weights *and random batch norm statistics* in the
published format, a uint8 clip and the reference's logits (in a process of its own:
torchvision cannot be imported after TensorFlow). Here the checkpoint is converted, loaded
into the registered kvideo model through ``build_video_classifier(..., weights=...)`` and
`load_head_weights`, and the model's logits on the same uint8 clip (its own
preprocessing included) must equal the reference's to 1e-4 of their largest magnitude.

Full-size networks on small clips (8x32x32, C3D 16x32x32): the mapping does not depend on
the clip size. The slow tier runs C3D exactly as ported, at 16x112x112 with fc6's 8192
inputs. CI installs the ``torch`` extra and sets ``KVIDEO_REQUIRE_TORCH=1``, so these
tests fail there rather than skip when PyTorch is missing.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from kvideo.models import build_video_classifier, weights
from kvideo.models.c3d import convert_c3d_pytorch
from kvideo.models.resnet3d import convert_torchvision, convert_vmz

REPO = pathlib.Path(__file__).resolve().parents[1]
RELATIVE_TOLERANCE = 1e-4

#: reference case -> (converter module, registered model, classes).
CASES = {
    "r3d_18": (convert_torchvision, "r3d_18", 400),
    "mc3_18": (convert_torchvision, "mc3_18", 400),
    "r2plus1d_18": (convert_torchvision, "r2plus1d_18_torchvision", 400),
    "r2plus1d_34_ig65m": (convert_vmz, "r2plus1d_34", 487),
    "r2plus1d_34_vmz": (convert_vmz, "r2plus1d_34", 359),
    "c3d": (convert_c3d_pytorch, "c3d", 487),
}
EXTENSIONS = {"r2plus1d_34_vmz": "pkl", "c3d": "pickle", "c3d_112": "pickle"}


def require_torch() -> None:
    """Skips without PyTorch, except where the torch tests must run (CI)."""
    if os.environ.get("KVIDEO_REQUIRE_TORCH") == "1":
        return
    for module in ("torch", "torchvision"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install 'kvideo[torch]')")


def write_references(out_dir: pathlib.Path, *cases: str) -> pathlib.Path:
    require_torch()
    result = subprocess.run(
        [sys.executable, "-m", "tests.torch_reference", str(out_dir), *cases],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out_dir


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> pathlib.Path:
    """Every default-tier reference case, written once by one PyTorch process."""
    return write_references(tmp_path_factory.mktemp("torch_reference"), *CASES)


def checkpoint(references: pathlib.Path, case: str) -> pathlib.Path:
    return references / f"{case}.{EXTENSIONS.get(case, 'pth')}"


def converted_logits(
    references: pathlib.Path, case: str, converter, model_name: str, classes: int, tmp_path
) -> tuple[np.ndarray, np.ndarray]:
    """(kvideo logits, reference logits) on the reference's clip."""
    clip = np.load(references / f"{case}.clip.npy")
    path = str(tmp_path / f"{case}.weights.h5")
    shape = clip.shape[1:]
    model = build_video_classifier(model_name, classes, input_shape=shape)
    # Convert into the backbone at this clip size (fc6 of C3D depends on it).
    converter.convert(checkpoint(references, case), path, model_name, backbone=model.backbone)
    model = build_video_classifier(model_name, classes, input_shape=shape, weights=path)
    weights.load_head_weights(model, weights.head_weights_path(path))
    got = keras.ops.convert_to_numpy(model(clip, training=False))
    return got, np.load(references / f"{case}.logits.npy")


def assert_parity(case: str, got: np.ndarray, expected: np.ndarray) -> None:
    scale = float(np.abs(expected).max())
    relative = float(np.abs(got - expected).max()) / scale
    print(f"\nparity {case}: max |kvideo - reference| / max |reference| = {relative:.2e}")
    assert got.shape == expected.shape
    assert scale > 1e-3  # logits that are all ~0 would prove nothing
    assert relative < RELATIVE_TOLERANCE, (case, relative)


@pytest.mark.parametrize("case", list(CASES))
def test_converted_logits_equal_the_reference(case, references, tmp_path):
    converter, model_name, classes = CASES[case]
    got, expected = converted_logits(references, case, converter, model_name, classes, tmp_path)
    assert_parity(case, got, expected)
    # Not vacuous: the reference's classes are told apart, and so are the two clips.
    assert np.std(expected) > 1e-2 and np.abs(expected[0] - expected[1]).max() > 1e-3


@pytest.mark.slow
def test_c3d_as_ported_at_16x112x112(tmp_path):
    """The port's network exactly: fc6 takes pool5's 512x1x4x4 = 8192 values."""
    references = write_references(tmp_path / "reference", "c3d_112")
    got, expected = converted_logits(
        references, "c3d_112", convert_c3d_pytorch, "c3d", 487, tmp_path
    )
    assert_parity("c3d_112", got, expected)


# --- Checkpoints that do not fit their architecture ----------------------------------


@pytest.mark.parametrize(
    "case, converter, model_name, message",
    [
        # MC3's 1x3x3 convs are not R3D's 3x3x3.
        (
            "mc3_18",
            convert_torchvision,
            "r3d_18",
            r"'layer2.0.conv1.0.weight' has shape \(128, 64, 1,",
        ),
        # torchvision shares one (2+1)D width per block; kvideo's r2plus1d_18 does not.
        ("r2plus1d_18", convert_torchvision, "r2plus1d_18", "'layer2.0.conv2.0.0.weight' has"),
        # IG65M's per-conv widths do not fit torchvision's layout, nor depth 18.
        ("r2plus1d_34_ig65m", convert_vmz, "r2plus1d_18_torchvision", "unexpected keys"),
        ("r2plus1d_34_vmz", convert_vmz, "r2plus1d_34_tiny_missing", "Unknown model"),
        ("r3d_18", convert_c3d_pytorch, "c3d", "missing key 'conv1.weight'"),
        ("c3d", convert_c3d_pytorch, "c3d", r"fc6\.weight.*\(4096, 2048\)"),  # 112 px fc6
        ("c3d", convert_torchvision, "c3d", "convert into ResNet-3D models"),
    ],
)
def test_a_checkpoint_of_another_architecture_is_refused(
    case, converter, model_name, message, references, tmp_path
):
    output = tmp_path / "out.weights.h5"
    with pytest.raises(ValueError, match=message):
        converter.convert(checkpoint(references, case), output, model_name)
    assert not output.exists()


def test_files_that_are_not_checkpoints_are_refused(tmp_path):
    require_torch()
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        convert_torchvision.convert(text, tmp_path / "x.weights.h5", "r3d_18")
    text = text.rename(tmp_path / "notes.pkl")
    with pytest.raises(ValueError, match="not a VMZ Caffe2 pickle"):
        convert_vmz.convert(text, tmp_path / "x.weights.h5", "r2plus1d_34")
    # A pickle that would run code is refused, not run.
    import pickle

    malicious = tmp_path / "evil.pkl"
    malicious.write_bytes(pickle.dumps({"blobs": {"x": os.system}}))
    with pytest.raises(ValueError, match="refusing to load"):
        convert_vmz.read_vmz_pickle(malicious)


def test_a_classifier_with_other_classes_is_refused(references, tmp_path):
    path = str(tmp_path / "mc3.weights.h5")
    convert_torchvision.convert(checkpoint(references, "mc3_18"), path, "mc3_18")
    head = weights.head_weights_path(path)
    assert head.endswith("mc3.head.npz") and os.path.exists(head)
    model = build_video_classifier("mc3_18", 101, input_shape=(8, 32, 32, 3), weights=path)
    with pytest.raises(ValueError, match="400 classes.*num_classes=400"):
        weights.load_head_weights(model, head)
    attention = build_video_classifier(
        "mc3_18", 400, head="transformer", input_shape=(8, 32, 32, 3), weights=path
    )
    with pytest.raises(ValueError, match="under the 'transformer' head"):
        weights.load_head_weights(attention, head)


# --- The registered download + convert path, offline ---------------------------------


def test_registered_weights_download_check_and_convert_once(references, tmp_path, monkeypatch):
    """A `WEIGHTS` entry like torchvision's (SHA-256 prefix in the file name), served
    from a file:// URL: fetched, checked, converted once, loaded with its classifier."""
    weights_fetch = weights.fetch
    source = checkpoint(references, "mc3_18")
    digest = weights.sha256(source)
    entry = weights.PretrainedWeights(
        name="kinetics400",
        description="test",
        source="test",
        origin=source.as_uri(),
        file_name=f"mc3_18-{digest[:8]}.pth",
        file_hash=digest[:8],
        convert=weights.converter("kvideo.models.resnet3d.convert_torchvision"),
    )
    cache = str(tmp_path / "cache")
    path = weights.fetch(entry, "mc3_18", cache_dir=cache)
    assert path.endswith("mc3_18_kinetics400.weights.h5")
    mtime = os.path.getmtime(path)
    assert weights.fetch(entry, "mc3_18", cache_dir=cache) == path
    assert os.path.getmtime(path) == mtime  # converted once
    # build_video_classifier fetches into Keras's cache; here, into the test's.
    monkeypatch.setitem(weights.WEIGHTS, "mc3_18", {"kinetics400": entry})
    monkeypatch.setattr(weights, "fetch", lambda e, m: weights_fetch(e, m, cache_dir=cache))
    model = build_video_classifier("mc3_18", 400, input_shape=(8, 32, 32, 3), weights="kinetics400")
    weights.load_pretrained_head(model, "mc3_18", "kinetics400")
    clip = np.load(references / "mc3_18.clip.npy")
    assert_parity(
        "mc3_18 (registered)",
        keras.ops.convert_to_numpy(model(clip, training=False)),
        np.load(references / "mc3_18.logits.npy"),
    )


def test_a_download_with_another_checksum_is_deleted(references, tmp_path):
    source = checkpoint(references, "mc3_18")
    entry = weights.PretrainedWeights(
        name="kinetics400",
        description="test",
        source="test",
        origin=source.as_uri(),
        file_name="mc3_18-00000000.pth",
        file_hash="00000000",
        convert=weights.converter("kvideo.models.resnet3d.convert_torchvision"),
    )
    with pytest.raises(ValueError, match="does not start with the published 00000000"):
        weights.fetch(entry, "mc3_18", cache_dir=str(tmp_path))
    assert not (tmp_path / "kvideo" / "mc3_18-00000000.pth").exists()


def test_every_registered_checkpoint_names_its_converter_and_source():
    from kvideo.models import registry

    pytorch = {  # the checkpoints this module's converters read
        model: entries
        for model, entries in weights.WEIGHTS.items()
        if any(
            entry.convert is not None and entry.file_name.endswith((".pth", ".pickle"))
            for entry in entries.values()
        )
    }
    assert set(pytorch) == {
        "r3d_18",
        "mc3_18",
        "r2plus1d_18_torchvision",
        "r2plus1d_34",
        "c3d",
    }
    for model, entries in pytorch.items():
        registry.get_model_spec(model)
        for name, entry in entries.items():
            assert entry.name == name and entry.convert is not None
            assert entry.origin.endswith(entry.file_name), entry
            if entry.file_hash is not None:  # torch.hub's name-<sha256 prefix>.pth
                assert entry.file_name.endswith(f"-{entry.file_hash}.pth")
    assert set(weights.WEIGHTS["r2plus1d_34"]) == {
        "ig65m_32",
        "ig65m_8",
        "ig65m_kinetics400_32",
        "ig65m_kinetics400_8",
    }


@pytest.mark.slow  # the conversion itself is tested above; this adds the command line
def test_converter_command_line(references, tmp_path, capsys):
    shutil.copy(checkpoint(references, "mc3_18"), tmp_path / "mc3_18.pth")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kvideo.models.resnet3d.convert_torchvision",
            f"--checkpoint={tmp_path / 'mc3_18.pth'}",
            f"--output={tmp_path / 'cli' / 'mc3_18.weights.h5'}",
            "--model=mc3_18",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "mc3_18.weights.h5" in result.stdout and "mc3_18.head.npz" in result.stdout
    # A checkpoint that does not fit: a message and exit status 1, not a traceback.
    argv = [f"--checkpoint={tmp_path / 'mc3_18.pth'}", f"--output={tmp_path / 'x.weights.h5'}"]
    with pytest.raises(SystemExit) as exit_info:
        convert_torchvision.main([*argv, "--model=r3d_18"])
    assert exit_info.value.code == 1
    assert "error: The checkpoint does not fit model 'r3d_18'" in capsys.readouterr().err


# --- The fine-tuning recipe ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name, dataset",
    [
        ("video_folder_r2plus1d_34_ig65m", "video_folder/jpeg"),
        ("ucf101_r2plus1d_34_ig65m", "ucf101_kvideo/split1_jpeg"),
        ("hmdb51_r2plus1d_34_ig65m", "hmdb51_kvideo/split1_jpeg"),
    ],
)
def test_ig65m_fine_tuning_recipes(name, dataset):
    from kvideo.training import get_experiment

    experiment = get_experiment(name)
    assert experiment.data.dataset == dataset
    model = experiment.model
    assert (model.preset, model.weights) == ("r2plus1d_34", "ig65m_32")
    assert weights.get_weights(model.preset, model.weights).file_name.startswith(
        "r2plus1d_34_clip32_ig65m"
    )
    assert experiment.data.clip_sampling.num_frames == 32  # the weights' clip length
    assert (experiment.optimizer.name, experiment.optimizer.learning_rate) == ("adam", 1e-4)
    assert (experiment.optimizer.schedule, experiment.batch_size, experiment.epochs) == (
        "constant",
        8,
        20,
    )


@pytest.mark.slow
def test_ig65m_recipe_fine_tunes_from_converted_weights(motion_demo_dir, tmp_path):
    """The recipe end to end on motion_demo, from an IG65M-layout checkpoint (random
    weights) converted here, at a CPU-sized clip."""
    from kvideo.training import get_experiment, replace_fields, train_and_evaluate

    references = write_references(tmp_path / "reference", "r2plus1d_34_ig65m")
    path = str(tmp_path / "ig65m.weights.h5")
    convert_vmz.convert(checkpoint(references, "r2plus1d_34_ig65m"), path, "r2plus1d_34")
    experiment = replace_fields(
        get_experiment("video_folder_r2plus1d_34_ig65m"),
        dataset="motion_demo/jpeg",
        data_dir=str(motion_demo_dir),
        weights=path,
        num_frames=8,
        frame_stride=2,
        num_clips=1,
        crop_size=32,
        epochs=1,
        export=False,
    )
    summary = train_and_evaluate(experiment, tmp_path / "run")
    assert summary["test_videos"] == 72 and 0 <= summary["test_top1"] <= 1
