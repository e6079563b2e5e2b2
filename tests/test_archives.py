"""Tests for tfds_builders.common.archives: real RAR archives, and hostile ones refused."""

from __future__ import annotations

import os
import pathlib
import stat
import zipfile

import pytest

from tfds_builders.common import archives

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "rar"
SUBDIRS = {
    "sub/dir1/file1.txt": b"file1\n",
    "sub/dir2/file2.txt": b"file2\n",
    "sub/with space/long fn.txt": b"long fn\n",
    "sub/üȵĩöḋè/file.txt": b"file\n",
}


def tree(root: pathlib.Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def readers_available() -> dict[str, object]:
    return {reader.name: reader for reader in archives.available_rar_readers()}


@pytest.mark.parametrize("name", ["rar3-subdirs.rar", "rar5-subdirs.rar"])
def test_extracts_nested_folders_with_spaces_and_accents(tmp_path, name):
    files = archives.extract_rar(FIXTURES / name, tmp_path / "out")
    assert tree(tmp_path / "out") == SUBDIRS
    assert (tmp_path / "out" / "sub" / "empty").is_dir()  # directory entries too
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in files) == sorted(SUBDIRS)
    assert not list(tmp_path.glob(".*partial"))  # the staging folder is gone


def test_extracts_a_solid_archive(tmp_path):
    archives.extract_rar(FIXTURES / "unicode.rar", tmp_path / "out")
    contents = tree(tmp_path / "out")
    assert sorted(contents) == ["уииоотивл.txt", "𝐀𝐁𝐁𝐂.txt"]
    assert all(len(data) == 2 for data in contents.values())


def test_the_bundled_unrar_library_reads_every_fixture(tmp_path):
    # unrar2-cffi is the reader kvideo[rar] installs (and the test extra); it must read
    # every RAR variant, the solid one included.
    reader = readers_available().get("unrar2-cffi")
    assert reader is not None, "unrar2-cffi is not installed (pip install 'kvideo[rar]')"
    for name in ("rar3-subdirs.rar", "rar5-subdirs.rar", "unicode.rar"):
        archives.extract_rar(FIXTURES / name, tmp_path / name, readers=[reader])
        assert tree(tmp_path / name)


@pytest.mark.parametrize("tool", ["unar", "bsdtar"])
def test_rarfile_backends_read_what_they_support(tmp_path, tool):
    reader = archives._RarfileTool(tool)
    if not reader.available():
        pytest.skip(f"rarfile or the {tool} command is not installed")
    archives.extract_rar(FIXTURES / "rar5-subdirs.rar", tmp_path / "out", readers=[reader])
    assert tree(tmp_path / "out") == SUBDIRS
    if tool == "bsdtar":  # libarchive cannot read solid RAR: a clear error, nothing left
        with pytest.raises(archives.ArchiveError, match="rarfile\\+bsdtar"):
            archives.extract_rar(FIXTURES / "unicode.rar", tmp_path / "solid", readers=[reader])
        assert not (tmp_path / "solid").exists()


def test_readers_are_tried_in_turn(tmp_path):
    class Broken:
        name = "broken"

        def available(self):
            return True

        def entries(self, archive):
            raise archives.ArchiveError("cannot read this variant")

    working = readers_available()["unrar2-cffi"]
    archives.extract_rar(FIXTURES / "unicode.rar", tmp_path / "out", readers=[Broken(), working])
    assert len(tree(tmp_path / "out")) == 2


def test_no_reader_fails_before_any_work_and_says_what_to_install(tmp_path):
    class NotInstalled:
        name = "some-reader"

        def available(self):
            return False

    missing = [NotInstalled()]
    with pytest.raises(archives.NoRarReaderError, match=r"tried: some-reader.*kvideo\[rar\]"):
        archives.extract_rar(FIXTURES / "rar3-subdirs.rar", tmp_path / "out", readers=missing)
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []


# --- Hostile archives -------------------------------------------------------------------


def hostile_zip(path: pathlib.Path, entries: list[tuple[str, bytes, bool]]) -> pathlib.Path:
    """A zip of `(name, data, is_symlink)` entries, written as attackers write them."""
    with zipfile.ZipFile(path, "w") as zipped:
        for name, data, is_link in entries:
            info = zipfile.ZipInfo(name)
            if is_link:
                info.create_system = 3  # Unix, so the mode bits count
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zipped.writestr(info, data)
    return path


@pytest.mark.parametrize(
    "entry, why",
    [
        (("../escaped.txt", b"x", False), "'..' in its path"),
        (("videos/../../escaped.txt", b"x", False), "'..' in its path"),
        (("/tmp/kvideo_escaped.txt", b"x", False), "absolute path"),
        (("videos/link", b"../../outside", True), "outside the target directory"),
        (("videos/abs_link", b"/etc", True), "absolute path '/etc'"),
    ],
)
def test_a_hostile_archive_is_refused_and_nothing_is_written(tmp_path, entry, why):
    archive = hostile_zip(
        tmp_path / "hostile.zip",
        [("videos/good.avi", b"fine", False), entry, ("videos/after.avi", b"fine", False)],
    )
    sandbox = tmp_path / "sandbox"
    target = sandbox / "target"
    sandbox.mkdir()
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(archives.UnsafeEntryError) as raised:
        archives.extract_zip(archive, target)
    assert repr(entry[0]) in str(raised.value) and why in str(raised.value)
    assert sorted(os.listdir(tmp_path)) == before  # nothing beside the archive
    assert list(sandbox.iterdir()) == []  # not even the good entries
    assert not pathlib.Path("/tmp/kvideo_escaped.txt").exists()


def test_a_link_inside_cannot_lead_a_later_entry_out(tmp_path):
    # "here" points to the target itself (allowed); "here/../x" is refused by name, and a
    # link through "here" that climbs out is refused once resolved.
    archive = hostile_zip(
        tmp_path / "sneaky.zip",
        [("here", b".", True), ("here/up", b"../outside", True)],
    )
    with pytest.raises(archives.UnsafeEntryError, match="'here/up'"):
        archives.extract_zip(archive, tmp_path / "target")
    assert not (tmp_path / "outside").exists()
    assert not (tmp_path / "target").exists()


def test_check_entries_refuses_rar_style_entries():
    archive = pathlib.Path("x.rar")
    for entry in (
        archives.Entry("C:/Windows/evil.dll", "file"),
        archives.Entry("a\\..\\..\\b".replace("\\", "/"), "file"),
        archives.Entry("sub/link", "link", "../../etc/passwd"),
    ):
        with pytest.raises(archives.UnsafeEntryError, match=repr(entry.name)):
            archives.check_entries([entry], archive)
    archives.check_entries([archives.Entry("sub/link", "link", "../other/file")], archive)
