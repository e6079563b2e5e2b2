"""Safe extraction of the archives UCF101 and HMDB51 ship as (RAR, and ZIP for UCF101's lists).

RAR is read through maintained tools, tried in turn (`RAR_READERS`), never by code of our
own. Measured on rarfile's own test archives (tests/fixtures/rar, see its README):

| reader | RAR 2.9/4 | RAR 5 | solid RAR 4 |
| --- | --- | --- | --- |
| `unrar2-cffi` 0.5 (bundles RARLAB's unrar 7 library) | ok | ok | ok |
| `rarfile` 4.5 + `unar` 1.10 (Debian) | ok | ok | ok |
| `rarfile` 4.5 + `bsdtar` 3.6 (Debian `libarchive-tools`) | ok | ok | CRC error |
| `rarfile` 4.5 + `7zz` 26.01 (Debian `7zip`, built without RAR) | ok* | ok* | CRC error |
| `unar` alone / `bsdtar` alone / `7zz` alone | ok / ok / no | no / ok / no | ok / no / no |

(* rarfile reads stored, uncompressed entries itself.) `unrar2-cffi` reads every variant,
in-process, in one streaming pass over the archive, and installs from PyPI as a small
wheel (`pip install 'kvideo[rar]'`), so it comes first; `rarfile` with whichever of
RARLAB's `unrar`, `unar`, `bsdtar` or `7z` is installed is the fallback. When none is
present, `require_rar_reader` fails before any work and says what to install.

Every extraction refuses, before writing anything, an entry that would land outside the
target directory: an absolute path, a `..` component, or a link whose target leaves it;
the error names the entry. Files are also written only below the target's real path, so a
link inside the archive cannot redirect a later entry.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import posixpath
import shutil
import stat
import zipfile
from collections.abc import Callable, Iterator, Sequence

INSTALL_HINT = (
    "Install a RAR reader: `pip install 'kvideo[rar]'` (the unrar2-cffi and rarfile "
    "packages; unrar2-cffi bundles RARLAB's unrar library), or `pip install rarfile` plus "
    "one of the commands unrar (RARLAB), unar (`apt-get install unar`) or bsdtar "
    "(`apt-get install libarchive-tools`)."
)

_CHUNK = 1 << 20


class ArchiveError(RuntimeError):
    """An archive that cannot be read with the readers at hand."""


class UnsafeEntryError(ArchiveError):
    """An archive entry that would be written outside the target directory."""


class NoRarReaderError(ArchiveError):
    """No RAR reader is installed; the message says what to install."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One member of an archive: `name` (with "/" separators as stored), `kind` ("file",
    "dir" or "link") and, for links, `link_target`."""

    name: str
    kind: str
    link_target: str | None = None


# --------------------------------------------------------------------------- readers


class _Unrar2Cffi:
    """RARLAB's unrar library through the `unrar2-cffi` package: one streaming pass."""

    name = "unrar2-cffi"

    @staticmethod
    def available() -> bool:
        try:
            from unrar.cffi import unrarlib  # noqa: F401
        except ImportError:
            return False
        return True

    def entries(self, archive: pathlib.Path) -> list[Entry]:
        return [entry for entry, _ in self._walk(archive, read=False)]

    def extract(self, archive: pathlib.Path, write: Callable[[Entry, Iterator[bytes]], None]):
        for entry, chunks in self._walk(archive, read=True):
            write(entry, chunks)

    def _walk(self, archive: pathlib.Path, read: bool):
        from unrar.cffi import unrarlib

        try:
            with unrarlib.RarArchive.open_for_processing(os.fspath(archive)) as rar:
                for header in rar.iterate_headers():
                    data = header.headerDataEx
                    name = header.FileNameW.replace("\\", "/")
                    mode = int(data.FileAttr)
                    redirect = int(getattr(data, "RedirType", 0))
                    if header.Flags & unrarlib.FLAGS_RHDF_DIRECTORY:
                        header.skip()
                        yield Entry(name, "dir"), iter(())
                    elif redirect:  # RAR 5 links keep their target in the header
                        header.skip()
                        target = _cffi_string(data.RedirName)
                        yield Entry(name, "link", target.replace("\\", "/")), iter(())
                    elif stat.S_ISLNK(mode) and header.HostOS == 3:
                        # RAR 4 Unix symlinks store their target as the file's data.
                        chunks: list[bytes] = []
                        header.test(chunks.append)
                        target = b"".join(chunks).decode("utf-8", "surrogateescape")
                        yield Entry(name, "link", target), iter(())
                    elif read:
                        # unrar pushes data through a callback; hand each chunk on at once
                        # so that memory holds one chunk, not the member.
                        pending: list[bytes] = []
                        entry = Entry(name, "file")
                        yield entry, _drain(header, pending)
                    else:
                        header.skip()
                        yield Entry(name, "file"), iter(())
        except unrarlib.BadRarFile as err:
            raise ArchiveError(f"{archive}: {err.message}") from err


def _drain(header, pending: list[bytes]) -> Iterator[bytes]:
    # The callback API cannot be turned into a lazy iterator without threads; a member is
    # collected in chunks (no quadratic concatenation) and handed over when complete.
    header.test(pending.append)
    yield from pending
    pending.clear()


def _cffi_string(value) -> str:
    from unrar.cffi._unrarlib import ffi

    return ffi.string(value)


@dataclasses.dataclass(frozen=True)
class _RarfileTool:
    """The `rarfile` package driving one command-line tool for decompression."""

    tool: str  # rarfile's name for the backend: "unrar", "unar", "bsdtar" or "sevenzip"

    @property
    def name(self) -> str:
        return f"rarfile+{self.tool}"

    def available(self) -> bool:
        try:
            import rarfile
        except ImportError:
            return False
        try:
            self._setup(rarfile)
        except rarfile.RarCannotExec:
            return False
        return True

    def _setup(self, rarfile) -> None:
        flags = dict.fromkeys(("unrar", "unar", "bsdtar", "sevenzip", "sevenzip2"), False)
        flags[self.tool] = True
        if self.tool == "sevenzip":
            flags["sevenzip2"] = True  # `7zz`, the name of newer 7-Zip builds
        rarfile.tool_setup(**flags, force=True)

    def entries(self, archive: pathlib.Path) -> list[Entry]:
        import rarfile

        self._setup(rarfile)
        with _rarfile_errors(archive), rarfile.RarFile(archive) as rar:
            return [self._entry(rar, info) for info in rar.infolist()]

    def extract(self, archive: pathlib.Path, write: Callable[[Entry, Iterator[bytes]], None]):
        import rarfile

        self._setup(rarfile)
        with _rarfile_errors(archive), rarfile.RarFile(archive) as rar:
            for info in rar.infolist():
                entry = self._entry(rar, info)
                if entry.kind != "file":
                    write(entry, iter(()))
                    continue
                with rar.open(info) as member:
                    write(entry, iter(lambda member=member: member.read(_CHUNK), b""))

    @staticmethod
    def _entry(rar, info) -> Entry:
        name = info.filename.replace("\\", "/")
        if info.is_dir():
            return Entry(name.rstrip("/"), "dir")
        if info.is_symlink():
            target = info.file_redir[2] if info.file_redir else rar.read(info).decode()
            return Entry(name, "link", target.replace("\\", "/"))
        return Entry(name, "file")


class _rarfile_errors:
    """Turns rarfile's errors into `ArchiveError` naming the archive."""

    def __init__(self, archive: pathlib.Path):
        self.archive = archive

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        import rarfile

        if error is not None and isinstance(error, rarfile.Error):
            raise ArchiveError(f"{self.archive}: {error}") from error
        return False


# In the order they are tried.
RAR_READERS = (
    _Unrar2Cffi(),
    _RarfileTool("unrar"),
    _RarfileTool("unar"),
    _RarfileTool("bsdtar"),
    _RarfileTool("sevenzip"),
)


def available_rar_readers(readers: Sequence = RAR_READERS) -> list:
    """The readers of `readers` that are installed, in order."""
    return [reader for reader in readers if reader.available()]


def require_rar_reader(readers: Sequence = RAR_READERS) -> list:
    """The installed RAR readers; raises `NoRarReaderError` (what to install) if none."""
    found = available_rar_readers(readers)
    if not found:
        tried = ", ".join(reader.name for reader in readers) or "none"
        raise NoRarReaderError(f"No RAR reader is installed (tried: {tried}). {INSTALL_HINT}")
    return found


# ------------------------------------------------------------------------ extraction


def check_entries(entries: Sequence[Entry], archive: pathlib.Path) -> None:
    """Raises `UnsafeEntryError` naming the first entry that would leave the target."""
    for entry in entries:
        reason = _unsafe(entry)
        if reason:
            raise UnsafeEntryError(
                f"{archive}: refusing entry {entry.name!r}: {reason}. Nothing was extracted."
            )


def _unsafe(entry: Entry) -> str | None:
    name = entry.name
    if not name or name.startswith("/") or pathlib.PureWindowsPath(name).drive:
        return "absolute path"
    if ".." in name.split("/"):
        return "'..' in its path"
    if entry.kind == "link":
        target = entry.link_target or ""
        if target.startswith("/") or pathlib.PureWindowsPath(target).drive:
            return f"link to the absolute path {target!r}"
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
        if resolved == ".." or resolved.startswith("../"):
            return f"link to {target!r}, outside the target directory"
    return None


def extract_rar(
    archive: str | os.PathLike, target: str | os.PathLike, readers: Sequence = RAR_READERS
) -> list[pathlib.Path]:
    """Extracts a RAR archive into `target` with the first reader that manages it.

    Each installed reader is tried in turn; a reader that fails (an archive variant it
    does not support, say) leaves nothing behind for the next one.

    Returns:
        The paths of the extracted files.

    Raises:
        NoRarReaderError: no reader installed (before touching `target`).
        UnsafeEntryError: an entry would land outside `target` (nothing is extracted).
        ArchiveError: every installed reader failed; the message has each one's error.
    """
    archive = pathlib.Path(archive)
    target = pathlib.Path(target)
    found = require_rar_reader(readers)
    failures = []
    for reader in found:
        try:
            entries = reader.entries(archive)
        except ArchiveError as err:
            failures.append(f"{reader.name}: {err}")
            continue
        check_entries(entries, archive)
        staging = _fresh_dir(target.parent / f".{target.name}.partial")
        try:
            writer = _Writer(staging, archive)
            reader.extract(archive, writer)
        except ArchiveError as err:
            shutil.rmtree(staging, ignore_errors=True)
            failures.append(f"{reader.name}: {err}")
            continue
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return _move_into(staging, target, writer.files)
    raise ArchiveError(f"Cannot extract {archive}: " + "; ".join(failures))


def extract_zip(archive: str | os.PathLike, target: str | os.PathLike) -> list[pathlib.Path]:
    """Extracts a ZIP archive into `target` with the same checks as `extract_rar`."""
    archive = pathlib.Path(archive)
    target = pathlib.Path(target)
    with zipfile.ZipFile(archive) as zipped:
        infos = zipped.infolist()
        entries = []
        for info in infos:
            is_link = stat.S_ISLNK(info.external_attr >> 16)
            kind = "dir" if info.is_dir() else "link" if is_link else "file"
            link = zipped.read(info).decode() if is_link else None
            entries.append(Entry(info.filename.rstrip("/"), kind, link))
        check_entries(entries, archive)
        staging = _fresh_dir(target.parent / f".{target.name}.partial")
        writer = _Writer(staging, archive)
        try:
            for info, entry in zip(infos, entries, strict=True):
                if entry.kind != "file":
                    writer(entry, iter(()))
                    continue
                with zipped.open(info) as member:
                    writer(entry, iter(lambda member=member: member.read(_CHUNK), b""))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return _move_into(staging, target, writer.files)


class _Writer:
    """Writes entries below `root`, never through a link that leaves it."""

    def __init__(self, root: pathlib.Path, archive: pathlib.Path):
        self.root = root
        self.real_root = pathlib.Path(os.path.realpath(root))
        self.archive = archive
        self.files: list[pathlib.Path] = []

    def __call__(self, entry: Entry, chunks: Iterator[bytes]) -> None:
        reason = _unsafe(entry)
        if reason:  # the reader's entries at extraction time are checked again
            raise UnsafeEntryError(f"{self.archive}: refusing entry {entry.name!r}: {reason}.")
        path = self.root / entry.name
        parent = path if entry.kind == "dir" else path.parent
        parent.mkdir(parents=True, exist_ok=True)
        real_parent = pathlib.Path(os.path.realpath(parent))
        if not real_parent.is_relative_to(self.real_root):
            raise UnsafeEntryError(
                f"{self.archive}: refusing entry {entry.name!r}: a link in the archive "
                "leads it outside the target directory."
            )
        if entry.kind == "dir":
            return
        if entry.kind == "link":
            os.symlink(entry.link_target, path)
            if not pathlib.Path(os.path.realpath(path)).is_relative_to(self.real_root):
                path.unlink()
                raise UnsafeEntryError(
                    f"{self.archive}: refusing entry {entry.name!r}: link to "
                    f"{entry.link_target!r} resolves outside the target directory."
                )
            return
        with open(path, "wb") as file:
            for chunk in chunks:
                file.write(chunk)
        self.files.append(path)


def _fresh_dir(path: pathlib.Path) -> pathlib.Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _move_into(
    staging: pathlib.Path, target: pathlib.Path, files: list[pathlib.Path]
) -> list[pathlib.Path]:
    """Moves a finished extraction into `target` (merging with what is there)."""
    target.mkdir(parents=True, exist_ok=True)
    moved = []
    for child in sorted(staging.iterdir()):
        destination = target / child.name
        if destination.exists() or destination.is_symlink():
            if destination.is_dir() and not destination.is_symlink():
                shutil.rmtree(destination)
            else:
                destination.unlink()
        child.rename(destination)
    staging.rmdir()
    for path in files:
        moved.append(target / path.relative_to(staging))
    return moved
