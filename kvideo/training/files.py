"""The run's files through `tf.io.gfile`, so an output directory may be `gs://...`,
`ram://...` or any other file system TensorFlow has, as well as a local path.

Paths are strings joined with "/" (`pathlib` would fold the "//" of a URL).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import tensorflow as tf


def join(*parts: str | os.PathLike) -> str:
    return os.path.join(*[os.fspath(p) for p in parts])


def is_remote(path: str | os.PathLike) -> bool:
    """Whether `path` names a file system other than the local disk (``scheme://``)."""
    return "://" in os.fspath(path)


def exists(path: str) -> bool:
    return tf.io.gfile.exists(path)


def makedirs(path: str) -> None:
    tf.io.gfile.makedirs(path)


def read_text(path: str) -> str:
    with tf.io.gfile.GFile(path, "r") as f:
        return f.read()


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to a temporary name and renames it over `path`: a reader never
    sees half a file, and file systems whose "w" mode appends to an existing file
    (TensorFlow's ``ram://``) are overwritten all the same."""
    temporary = f"{path}.tmp-{os.getpid()}"
    with tf.io.gfile.GFile(temporary, "wb") as f:
        f.write(data)
    tf.io.gfile.rename(temporary, path, overwrite=True)


def save_model(model, path: str) -> None:
    """`model.save(path)` for a ``.keras`` file on any file system (`write_bytes`)."""
    if not is_remote(path):
        model.save(path)
        return
    with tempfile.TemporaryDirectory(prefix="kvideo-model-") as folder:
        local = os.path.join(folder, os.path.basename(path))
        model.save(local)
        with open(local, "rb") as f:
            write_bytes(path, f.read())


def rmtree(path: str) -> None:
    if tf.io.gfile.exists(path):
        tf.io.gfile.rmtree(path)


def copy_tree(source: str, destination: str) -> None:
    """Copies the folder `source` into `destination` (created), file by file."""
    for folder, _, names in tf.io.gfile.walk(source):
        relative = os.path.relpath(folder, source)
        target = destination if relative == "." else join(destination, relative)
        tf.io.gfile.makedirs(target)
        for name in names:
            tf.io.gfile.copy(join(folder, name), join(target, name), overwrite=True)


class LocalStage:
    """A local folder for writers that need the local disk (TFLite, SavedModel assets),
    copied to `destination` on exit when that is remote; `destination` itself otherwise.

        with LocalStage(remote_dir) as local_dir:
            write_files(local_dir)
    """

    def __init__(self, destination: str):
        self.destination = os.fspath(destination)
        self._temp = None

    def __enter__(self) -> str:
        if not is_remote(self.destination):
            return self.destination
        self._temp = tempfile.mkdtemp(prefix="kvideo-stage-")
        return self._temp

    def __exit__(self, exc_type, exc, tb):
        if self._temp is None:
            return
        try:
            if exc_type is None:
                copy_tree(self._temp, self.destination)
        finally:
            shutil.rmtree(self._temp, ignore_errors=True)
