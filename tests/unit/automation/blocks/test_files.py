"""The file blocks, on real files in a temporary folder."""

from __future__ import annotations

import base64
import errno
import os
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from automation.blocks.context import CancelToken
from automation.blocks.files import (
    FileAppend,
    FileCopy,
    FileDelete,
    FileExists,
    FileList,
    FileMove,
    FileRead,
    FileUnzip,
    FileWait,
    FileWrite,
    FileZip,
    os_error,
)
from automation.clock import FakeClock
from automation.errors import BlockError, BlockInputError, StepCancelled, StepTimeout
from automation.testing import run_block


def fails(block, inputs, tmp_path: Path, **kwargs) -> BlockError:
    with pytest.raises(BlockError) as caught:
        run_block(block, inputs, workflow_dir=tmp_path, **kwargs)
    return caught.value


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its text, keyed by relative posix path."""
    return {
        p.relative_to(folder).as_posix(): p.read_text()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# -- read -----------------------------------------------------------------------------


def test_read_text_in_the_given_encoding(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_bytes("café".encode("latin-1"))
    out = run_block(FileRead, {"path": "in.txt", "encoding": "latin-1"}, workflow_dir=tmp_path).last
    assert out == {"text": "café", "size": 4, "path": str(tmp_path / "in.txt")}


def test_read_binary_gives_base64(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\x00\xff\x10")
    out = run_block(FileRead, {"path": "blob.bin", "binary": True}, workflow_dir=tmp_path).last
    assert base64.b64decode(out["text"]) == b"\x00\xff\x10"
    assert out["size"] == 3


def test_read_missing_file_names_the_path_and_is_not_retried(tmp_path: Path) -> None:
    error = fails(FileRead, {"path": "nope.txt"}, tmp_path)
    assert str(tmp_path / "nope.txt") in str(error)
    assert "does not exist" in str(error)
    assert not error.retryable


def test_read_a_folder_says_so(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    error = fails(FileRead, {"path": "sub"}, tmp_path)
    assert "folder" in str(error)
    assert not error.retryable


def test_read_undecodable_text_suggests_encoding_or_binary(tmp_path: Path) -> None:
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9")
    error = fails(FileRead, {"path": "latin.txt"}, tmp_path)
    assert "is not utf-8 text" in str(error)
    assert "binary" in str(error)
    assert not error.retryable


def test_unknown_encoding_is_rejected_before_running(tmp_path: Path) -> None:
    with pytest.raises(BlockInputError, match="unknown encoding 'klingon'"):
        run_block(FileRead, {"path": "x", "encoding": "klingon"}, workflow_dir=tmp_path)


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="root ignores file permissions"
)
def test_read_without_permission_is_explained(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    secret.chmod(0)
    error = fails(FileRead, {"path": "secret.txt"}, tmp_path)
    assert "permission denied" in str(error)
    assert not error.retryable


@pytest.mark.parametrize(
    ("code", "words", "retryable"),
    [
        (errno.EACCES, "permission denied", False),
        (errno.ENOSPC, "disk full", False),
        (errno.EISDIR, "it is a folder", False),
        (errno.EIO, "Input/output error", True),
    ],
)
def test_os_errors_become_actionable_step_errors(code: int, words: str, retryable: bool) -> None:
    error = os_error(OSError(code, os.strerror(code), "/data/x.txt"), "read", Path("x.txt"))
    assert str(error).startswith("cannot read /data/x.txt: ")
    assert words in str(error)
    assert error.retryable is retryable


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full_is_reported_plainly_and_not_retried(tmp_path: Path) -> None:
    error = fails(FileAppend, {"path": "/dev/full", "content": "x" * 10_000}, tmp_path)
    assert "disk full" in str(error)
    assert "/dev/full" in str(error)
    assert not error.retryable


# -- write and append --------------------------------------------------------------------


def test_write_creates_folders_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    out = run_block(
        FileWrite, {"path": "a/b/out.txt", "content": "héllo"}, workflow_dir=tmp_path
    ).last
    target = tmp_path / "a" / "b" / "out.txt"
    assert target.read_text(encoding="utf-8") == "héllo"
    assert out == {"path": str(target), "size": len("héllo".encode())}
    assert os.listdir(target.parent) == ["out.txt"]


def test_write_replaces_content_and_keeps_permissions(tmp_path: Path) -> None:
    target = tmp_path / "run.sh"
    target.write_text("old")
    target.chmod(0o750)
    run_block(FileWrite, {"path": "run.sh", "content": "new"}, workflow_dir=tmp_path)
    assert target.read_text() == "new"
    if sys.platform != "win32":
        assert target.stat().st_mode & 0o777 == 0o750


def test_write_refuses_to_overwrite_when_told_and_cleans_up(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("precious")
    error = fails(FileWrite, {"path": "keep.txt", "content": "x", "overwrite": False}, tmp_path)
    assert "already exists" in str(error)
    assert not error.retryable
    assert (tmp_path / "keep.txt").read_text() == "precious"
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_write_without_overwrite_creates_a_new_file(tmp_path: Path) -> None:
    run_block(
        FileWrite, {"path": "new.txt", "content": "x", "overwrite": False}, workflow_dir=tmp_path
    )
    assert (tmp_path / "new.txt").read_text() == "x"


def test_write_onto_a_folder_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    error = fails(FileWrite, {"path": "dir", "content": "x"}, tmp_path)
    assert "is a folder" in str(error)


def test_binary_write_round_trips_with_read(tmp_path: Path) -> None:
    payload = base64.b64encode(bytes(range(256))).decode()
    run_block(
        FileWrite, {"path": "b.bin", "content": payload, "binary": True}, workflow_dir=tmp_path
    )
    assert (tmp_path / "b.bin").read_bytes() == bytes(range(256))
    read = run_block(FileRead, {"path": "b.bin", "binary": True}, workflow_dir=tmp_path).last
    assert read["text"] == payload
    error = fails(FileWrite, {"path": "c.bin", "content": "not base64!", "binary": True}, tmp_path)
    assert "base64" in str(error)


def test_append_adds_to_the_end_and_is_marked_not_idempotent(tmp_path: Path) -> None:
    for line in ("one\n", "two\n"):
        out = run_block(
            FileAppend, {"path": "logs/log.txt", "content": line}, workflow_dir=tmp_path
        ).last
    assert (tmp_path / "logs" / "log.txt").read_text() == "one\ntwo\n"
    assert out["size"] == 8
    assert FileAppend.idempotent is False


# -- copy, move, delete --------------------------------------------------------------------


def make_tree(root: Path) -> None:
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("A")
    (root / "sub" / "b.txt").write_text("B")


def test_copy_file_keeps_content_and_mtime(tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_text("data")
    os.utime(source, (1_600_000_000, 1_600_000_000))
    out = run_block(
        FileCopy, {"source": "a.txt", "destination": "b.txt"}, workflow_dir=tmp_path
    ).last
    assert out == {"path": str(tmp_path / "b.txt"), "count": 1}
    assert (tmp_path / "b.txt").read_text() == "data"
    assert (tmp_path / "b.txt").stat().st_mtime == 1_600_000_000
    assert source.exists()


def test_copy_file_into_an_existing_folder(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("data")
    (tmp_path / "out").mkdir()
    out = run_block(FileCopy, {"source": "a.txt", "destination": "out"}, workflow_dir=tmp_path).last
    assert out["path"] == str(tmp_path / "out" / "a.txt")
    assert (tmp_path / "out" / "a.txt").read_text() == "data"


def test_copy_refuses_to_overwrite_when_told(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("new")
    (tmp_path / "b.txt").write_text("old")
    inputs = {"source": "a.txt", "destination": "b.txt", "overwrite": False}
    error = fails(FileCopy, inputs, tmp_path)
    assert "already exists" in str(error)
    assert (tmp_path / "b.txt").read_text() == "old"
    run_block(FileCopy, {**inputs, "overwrite": True}, workflow_dir=tmp_path)
    assert (tmp_path / "b.txt").read_text() == "new"


def test_copy_folder_tree_and_replace_an_existing_copy(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "stale.txt").write_text("old")
    out = run_block(FileCopy, {"source": "src", "destination": "dst"}, workflow_dir=tmp_path).last
    assert out == {"path": str(tmp_path / "dst"), "count": 2}
    assert tree(tmp_path / "dst") == {"a.txt": "A", "sub/b.txt": "B"}
    assert sorted(os.listdir(tmp_path)) == ["dst", "src"]


def test_copy_folder_into_itself_is_refused(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    error = fails(FileCopy, {"source": "src", "destination": "src/inner"}, tmp_path)
    assert "into itself" in str(error)
    assert not (tmp_path / "src" / "inner").exists()


def test_copy_missing_source_fails_without_retry(tmp_path: Path) -> None:
    error = fails(FileCopy, {"source": "ghost.txt", "destination": "b.txt"}, tmp_path)
    assert "ghost.txt" in str(error)
    assert not error.retryable


def test_move_renames_a_file(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("data")
    out = run_block(
        FileMove, {"source": "a.txt", "destination": "done/b.txt"}, workflow_dir=tmp_path
    ).last
    assert out["path"] == str(tmp_path / "done" / "b.txt")
    assert (tmp_path / "done" / "b.txt").read_text() == "data"
    assert not (tmp_path / "a.txt").exists()
    assert FileMove.idempotent is False


def test_move_over_an_existing_file(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("new")
    (tmp_path / "b.txt").write_text("old")
    run_block(FileMove, {"source": "a.txt", "destination": "b.txt"}, workflow_dir=tmp_path)
    assert (tmp_path / "b.txt").read_text() == "new"
    assert not (tmp_path / "a.txt").exists()


def test_move_folder_replaces_the_target_folder(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "stale.txt").write_text("old")
    out = run_block(FileMove, {"source": "src", "destination": "dst"}, workflow_dir=tmp_path).last
    assert out["count"] == 2
    assert tree(tmp_path / "dst") == {"a.txt": "A", "sub/b.txt": "B"}
    assert sorted(os.listdir(tmp_path)) == ["dst"]


def test_move_without_overwrite_leaves_both_in_place(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("new")
    (tmp_path / "b.txt").write_text("old")
    inputs = {"source": "a.txt", "destination": "b.txt", "overwrite": False}
    error = fails(FileMove, inputs, tmp_path)
    assert "already exists" in str(error)
    assert (tmp_path / "a.txt").read_text() == "new"
    assert (tmp_path / "b.txt").read_text() == "old"


def test_move_a_second_time_reports_the_missing_source(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    inputs = {"source": "a.txt", "destination": "b.txt"}
    run_block(FileMove, inputs, workflow_dir=tmp_path)
    error = fails(FileMove, inputs, tmp_path)
    assert "does not exist" in str(error)
    assert not error.retryable


def test_delete_file_and_missing_ok(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    first = run_block(FileDelete, {"path": "a.txt"}, workflow_dir=tmp_path).last
    again = run_block(FileDelete, {"path": "a.txt"}, workflow_dir=tmp_path).last
    assert (first["deleted"], again["deleted"]) == (True, False)
    assert not (tmp_path / "a.txt").exists()
    error = fails(FileDelete, {"path": "a.txt", "missing_ok": False}, tmp_path)
    assert "does not exist" in str(error)
    assert not error.retryable


def test_delete_folder_needs_recursive_unless_empty(tmp_path: Path) -> None:
    make_tree(tmp_path / "full")
    (tmp_path / "empty").mkdir()
    error = fails(FileDelete, {"path": "full"}, tmp_path)
    assert "recursive: true" in str(error)
    assert (tmp_path / "full" / "a.txt").exists()
    run_block(FileDelete, {"path": "full", "recursive": True}, workflow_dir=tmp_path)
    run_block(FileDelete, {"path": "empty"}, workflow_dir=tmp_path)
    assert os.listdir(tmp_path) == []


def test_delete_refuses_the_workflow_folder_and_its_parents(tmp_path: Path) -> None:
    workflow_dir = tmp_path / "flows"
    workflow_dir.mkdir()
    for path in (".", "..", str(tmp_path)):
        error = fails(FileDelete, {"path": path, "recursive": True}, workflow_dir)
        assert "refusing to delete" in str(error)
    assert workflow_dir.is_dir()


# -- list and exists ------------------------------------------------------------------------


def test_list_matches_a_glob_sorted_by_name(tmp_path: Path) -> None:
    for name in ("b.csv", "A.csv", "c.txt"):
        (tmp_path / name).write_text(name)
    (tmp_path / "dir.csv").mkdir()
    out = run_block(FileList, {"pattern": "*.csv"}, workflow_dir=tmp_path).last
    assert out == {"paths": [str(tmp_path / "A.csv"), str(tmp_path / "b.csv")], "count": 2}


def test_list_recursive_and_kinds(tmp_path: Path) -> None:
    make_tree(tmp_path / "root")
    files = run_block(FileList, {"folder": "root", "recursive": True}, workflow_dir=tmp_path).last
    dirs = run_block(
        FileList, {"folder": "root", "recursive": True, "kind": "dirs"}, workflow_dir=tmp_path
    ).last
    everything = run_block(FileList, {"folder": "root", "kind": "all"}, workflow_dir=tmp_path).last
    root = tmp_path / "root"
    assert files["paths"] == [str(root / "a.txt"), str(root / "sub" / "b.txt")]
    assert dirs["paths"] == [str(root / "sub")]
    assert everything["paths"] == [str(root / "a.txt"), str(root / "sub")]


def test_list_sorted_by_mtime_and_size(tmp_path: Path) -> None:
    for index, (name, size) in enumerate([("old", 30), ("mid", 10), ("new", 20)]):
        path = tmp_path / name
        path.write_text("x" * size)
        os.utime(path, (1_600_000_000 + index, 1_600_000_000 + index))
    newest = run_block(FileList, {"sort": "mtime", "descending": True}, workflow_dir=tmp_path).last
    smallest = run_block(FileList, {"sort": "size"}, workflow_dir=tmp_path).last
    assert [Path(p).name for p in newest["paths"]] == ["new", "mid", "old"]
    assert [Path(p).name for p in smallest["paths"]] == ["mid", "new", "old"]


def test_list_missing_folder_fails(tmp_path: Path) -> None:
    error = fails(FileList, {"folder": "nowhere"}, tmp_path)
    assert "does not exist" in str(error)
    assert not error.retryable


def test_exists_reports_kind_and_size(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("12345")
    (tmp_path / "d").mkdir()

    def check(path: str) -> dict[str, object]:
        out = run_block(FileExists, {"path": path}, workflow_dir=tmp_path).last
        return {k: out[k] for k in ("exists", "is_file", "is_dir", "size")}

    assert check("f.txt") == {"exists": True, "is_file": True, "is_dir": False, "size": 5}
    assert check("d") == {"exists": True, "is_file": False, "is_dir": True, "size": 0}
    assert check("no") == {"exists": False, "is_file": False, "is_dir": False, "size": 0}


# -- wait ----------------------------------------------------------------------------------


def test_wait_returns_when_a_file_appears(tmp_path: Path) -> None:
    target = tmp_path / "report.txt"
    timer = threading.Timer(0.2, target.write_text, args=("done",))
    timer.start()
    try:
        out = run_block(
            FileWait,
            {"path": "report.txt", "timeout": 10, "poll_interval": 0.02},
            workflow_dir=tmp_path,
        ).last
    finally:
        timer.cancel()
        timer.join()
    assert out["path"] == str(target)
    assert 0.1 < out["waited"] < 10


def test_wait_for_a_glob_match(tmp_path: Path) -> None:
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / "notes.txt").write_text("x")
    timer = threading.Timer(0.1, (tmp_path / "downloads" / "invoice.pdf").write_text, args=("p",))
    timer.start()
    try:
        out = run_block(
            FileWait,
            {"path": "downloads/*.pdf", "timeout": 10, "poll_interval": 0.02},
            workflow_dir=tmp_path,
        ).last
    finally:
        timer.join()
    assert out["path"] == str(tmp_path / "downloads" / "invoice.pdf")


def test_wait_for_a_file_to_disappear(tmp_path: Path) -> None:
    lock = tmp_path / "busy.lock"
    lock.write_text("")
    timer = threading.Timer(0.2, lock.unlink)
    timer.start()
    try:
        out = run_block(
            FileWait,
            {"path": "busy.lock", "state": "absent", "timeout": 10, "poll_interval": 0.02},
            workflow_dir=tmp_path,
        ).last
    finally:
        timer.join()
    assert not lock.exists()
    assert out["waited"] > 0.1


def test_wait_times_out_with_a_retryable_error(tmp_path: Path) -> None:
    clock = FakeClock()
    inputs = {"path": "never.txt", "timeout": 30, "poll_interval": 1}
    error = fails(FileWait, inputs, tmp_path, clock=clock)
    assert "timed out after 30s waiting for" in str(error)
    assert str(tmp_path / "never.txt") in str(error)
    assert error.retryable
    assert clock.monotonic() == pytest.approx(1030)
    assert clock.sleeps == [1] * 30


def test_wait_for_absence_times_out(tmp_path: Path) -> None:
    (tmp_path / "stuck").write_text("")
    inputs = {"path": "stuck", "state": "absent", "timeout": 5}
    error = fails(FileWait, inputs, tmp_path, clock=FakeClock())
    assert "still exists after 5s" in str(error)


class GrowingFileClock(FakeClock):
    """Appends to a file on each of the first ``growths`` sleeps, like a download in progress."""

    def __init__(self, path: Path, growths: int) -> None:
        super().__init__()
        self.path = path
        self.growths = growths

    def sleep(self, seconds: float, interrupt: threading.Event | None = None) -> bool:
        if self.growths > 0:
            self.growths -= 1
            with self.path.open("ab") as handle:
                handle.write(b"x" * 100)
        return super().sleep(seconds, interrupt)


def test_stable_for_waits_until_the_file_stops_growing(tmp_path: Path) -> None:
    download = tmp_path / "big.iso"
    download.write_bytes(b"x" * 100)
    inputs = {"path": "big.iso", "poll_interval": 0.25, "stable_for": 1.0}
    out = run_block(
        FileWait, inputs, workflow_dir=tmp_path, clock=GrowingFileClock(download, growths=4)
    ).last
    assert out["size"] == 500 == download.stat().st_size
    # last growth at t=1.0, then unchanged for stable_for
    assert out["waited"] == pytest.approx(2.0)


def test_without_stable_for_a_growing_file_is_taken_at_once(tmp_path: Path) -> None:
    download = tmp_path / "big.iso"
    download.write_bytes(b"x" * 100)
    out = run_block(
        FileWait, {"path": "big.iso"}, workflow_dir=tmp_path, clock=GrowingFileClock(download, 4)
    ).last
    assert (out["size"], out["waited"]) == (100, 0)


def test_a_file_that_never_settles_times_out_saying_so(tmp_path: Path) -> None:
    download = tmp_path / "big.iso"
    download.write_bytes(b"x")
    inputs = {"path": "big.iso", "timeout": 3, "poll_interval": 0.5, "stable_for": 1}
    error = fails(FileWait, inputs, tmp_path, clock=GrowingFileClock(download, growths=100))
    assert "still changing" in str(error)
    assert "stable_for" in str(error)


def test_wait_stops_at_once_when_the_run_is_cancelled(tmp_path: Path) -> None:
    cancel = CancelToken()
    timer = threading.Timer(0.1, cancel.set)
    timer.start()
    try:
        with pytest.raises(StepCancelled):
            run_block(
                FileWait,
                {"path": "never", "timeout": 60, "poll_interval": 5},
                workflow_dir=tmp_path,
                cancel=cancel,
            )
    finally:
        timer.join()


def test_wait_respects_the_step_deadline(tmp_path: Path) -> None:
    clock = FakeClock()
    with pytest.raises(StepTimeout):
        run_block(
            FileWait,
            {"path": "never", "timeout": 60},
            workflow_dir=tmp_path,
            clock=clock,
            deadline=clock.monotonic() + 5,
        )
    assert clock.monotonic() == pytest.approx(1005)


# -- zip -----------------------------------------------------------------------------------


def test_zip_a_folder_and_unzip_it_again(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    zipped = run_block(
        FileZip, {"folder": "src", "destination": "out/src.zip"}, workflow_dir=tmp_path
    ).last
    archive = tmp_path / "out" / "src.zip"
    assert zipped["path"] == str(archive)
    assert zipped["count"] == 2
    assert zipped["size"] == archive.stat().st_size
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == ["a.txt", "sub/", "sub/b.txt"]
    unzipped = run_block(
        FileUnzip, {"archive": "out/src.zip", "destination": "copy"}, workflow_dir=tmp_path
    ).last
    assert unzipped["count"] == 2
    assert sorted(unzipped["paths"]) == [
        str(tmp_path / "copy" / "a.txt"),
        str(tmp_path / "copy" / "sub" / "b.txt"),
    ]
    assert tree(tmp_path / "copy") == {"a.txt": "A", "sub/b.txt": "B"}


def test_zip_files_and_folders_by_name(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    (tmp_path / "extra.txt").write_text("E")
    out = run_block(
        FileZip, {"files": ["extra.txt", "src/sub"], "destination": "a.zip"}, workflow_dir=tmp_path
    ).last
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        assert sorted(zf.namelist()) == ["extra.txt", "sub/", "sub/b.txt"]
    assert out["count"] == 2


def test_zip_into_the_folder_being_zipped_skips_the_archive(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    run_block(FileZip, {"folder": "src", "destination": "src/self.zip"}, workflow_dir=tmp_path)
    run_block(FileZip, {"folder": "src", "destination": "src/self.zip"}, workflow_dir=tmp_path)
    with zipfile.ZipFile(tmp_path / "src" / "self.zip") as zf:
        assert sorted(zf.namelist()) == ["a.txt", "sub/", "sub/b.txt"]


def test_zip_errors(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.txt").write_text("1")
    (tmp_path / "b" / "x.txt").write_text("2")
    assert "nothing to zip" in str(fails(FileZip, {"destination": "z.zip"}, tmp_path))
    clash = fails(FileZip, {"files": ["a/x.txt", "b/x.txt"], "destination": "z.zip"}, tmp_path)
    assert "'x.txt'" in str(clash)
    missing = fails(FileZip, {"files": ["nope"], "destination": "z.zip"}, tmp_path)
    assert "does not exist" in str(missing)
    assert not (tmp_path / "z.zip").exists()
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


def test_unzip_refuses_zip_slip_and_writes_nothing(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("good.txt", "fine")
        zf.writestr("../../escaped.txt", "pwned")
    error = fails(FileUnzip, {"archive": "evil.zip", "destination": "out"}, tmp_path)
    assert "zip-slip" in str(error)
    assert "../../escaped.txt" in str(error)
    assert not error.retryable
    assert not (tmp_path.parent / "escaped.txt").exists()
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("name", ["/etc/evil.txt", "..\\evil.txt", "C:/evil.txt"])
def test_unzip_refuses_absolute_and_parent_names(tmp_path: Path, name: str) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo(name), "pwned")
    error = fails(FileUnzip, {"archive": "evil.zip", "destination": "out"}, tmp_path)
    assert "zip-slip" in str(error)


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_unzip_refuses_entries_through_a_symlink_out_of_the_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to(outside)
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("link/evil.txt", "pwned")
    error = fails(FileUnzip, {"archive": "evil.zip", "destination": "out"}, tmp_path)
    assert "zip-slip" in str(error)
    assert list(outside.iterdir()) == []


def test_unzip_without_overwrite_and_damaged_archives(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("x.txt", "new")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x.txt").write_text("old")
    inputs = {"archive": "a.zip", "destination": "out", "overwrite": False}
    assert "already exists" in str(fails(FileUnzip, inputs, tmp_path))
    assert (tmp_path / "out" / "x.txt").read_text() == "old"
    run_block(FileUnzip, {**inputs, "overwrite": True}, workflow_dir=tmp_path)
    assert (tmp_path / "out" / "x.txt").read_text() == "new"
    (tmp_path / "bad.zip").write_text("not a zip")
    error = fails(FileUnzip, {"archive": "bad.zip", "destination": "out"}, tmp_path)
    assert "not a valid zip archive" in str(error)
    assert not error.retryable
