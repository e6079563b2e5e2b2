"""Writing files so that a crash never leaves half of one."""

from __future__ import annotations

import os


def write_atomic(path: str | os.PathLike, content: str | bytes) -> None:
    """Writes a file so that it is either absent, or whole: a temporary file, renamed.

    The data reaches the disk (fsync) before the rename, so a crash at any moment leaves
    the old file or the new one, never a part of one.
    """
    path = os.fspath(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
