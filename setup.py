"""kvideo: video action recognition with Keras 3 and TensorFlow."""

import pathlib

import setuptools

_HERE = pathlib.Path(__file__).parent
_VERSION = "0.1.0"

setuptools.setup(
    name="kvideo",
    version=_VERSION,
    description="Video action recognition with Keras 3 and TensorFlow: "
    "exact decoding, TFDS builders, tf.data sampling, 3D CNNs, export.",
    long_description=(_HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10,<3.14",
    packages=setuptools.find_packages(
        include=["kvideo", "kvideo.*", "tfds_builders", "tfds_builders.*"]
    ),
    package_data={
        "tfds_builders": ["*/checksums.tsv", "*/README.md", "*/CITATIONS.bib", "*/dummy_data/**/*"]
    },
    include_package_data=True,
    install_requires=[
        "tensorflow>=2.16",  # first release whose tf.keras is Keras 3
        "keras>=3.3",
        "tensorflow-datasets>=4.9.4",
        # TFDS imports these while building a dataset but does not declare them.
        "importlib_resources>=5.0",
        "av>=12.0",  # PyAV: exact sequential decoding (see shared STACK notes in docs/)
        # The contrib build is a superset of opencv-python-headless; never install both.
        "opencv-contrib-python-headless>=4.8",
        "numpy>=1.24",
        "absl-py>=1.0",
        "matplotlib>=3.7",
        "tensorboard>=2.16",  # TF 2.21 no longer installs it; the TensorBoard callback needs it
    ],
    extras_require={
        "litert": ["ai-edge-litert>=1.0"],
        # UCF101 and HMDB51 ship as RAR: unrar2-cffi bundles RARLAB's unrar library (reads
        # every RAR variant); rarfile drives an installed unrar/unar/bsdtar/7z instead.
        "rar": ["unrar2-cffi>=0.5", "rarfile>=4.2"],
        # The checkpoint converters read PyTorch files (kvideo/models/*/convert_*.py);
        # torchvision builds the reference networks their parity tests compare with.
        "torch": ["torch>=2.9", "torchvision>=0.24"],
        # Keras on the JAX backend (tests/test_jax_backend.py, slow tier): the models only.
        "jax": ["jax[cpu]>=0.4.30"],
        # Hugging Face checkpoints of the video transformers: the converters read
        # .safetensors with `safetensors`, PyTorch .bin files with `torch`; the parity
        # tests build the reference models with `transformers`.
        "transformers": ["safetensors>=0.4", "torch>=2.1", "transformers>=4.40"],
        # The `tfds` command line imports these at start-up (TFDS does not declare them).
        "cli": ["apache-beam>=2.60", "mlcroissant>=1.0"],
        "test": [
            "apache-beam>=2.60",
            "mlcroissant>=1.0",
            "pytest>=7.0",
            "dill>=0.3",  # tfds.testing needs it and does not declare it
            "ai-edge-litert>=1.0",
            "ruff>=0.5",
            "unrar2-cffi>=0.5",
            "rarfile>=4.2",
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "License :: OSI Approved :: Apache Software License",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
