"""Built-in file blocks: read, write, copy, move, delete, list, wait for and zip files.

Paths are relative to the workflow file's folder (``resolve_path``).  Every OS
error becomes a ``BlockError`` that names the path and says what to do.  Its
retryability follows from the cause: a missing file, a full disk or a
permission problem will not fix itself in the seconds a retry waits, whereas an
unknown I/O error or a file locked by another program may.

Files are written to a temporary sibling and moved into place with
``os.replace``, so a reader (or a file trigger) never sees half a file, and a
step killed mid-write leaves the previous version intact.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import errno
import glob
import logging
import os
import shutil
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from automation.blocks.base import Block, BlockInput, BlockOutput, resolve_path
from automation.blocks.context import BlockContext
from automation.errors import BlockError

logger = logging.getLogger(__name__)

_EXPLAINED: dict[int, tuple[str, str]] = {
    errno.ENOENT: ("it does not exist", "check the path (relative to the workflow's folder)"),
    errno.EACCES: ("permission denied", "check the permissions of the file and of its folder"),
    errno.EPERM: ("operation not permitted", "check the permissions of the file and of its folder"),
    errno.EISDIR: ("it is a folder, not a file", "point to a file inside it"),
    errno.ENOTDIR: ("part of the path is a file, not a folder", "check the path"),
    errno.ENOSPC: ("disk full", "free some space on that disk, then run the workflow again"),
    errno.EROFS: ("the file system is read-only", "choose a writable location"),
    errno.EEXIST: ("it already exists", "set overwrite: true or choose another name"),
    errno.ENOTEMPTY: ("the folder is not empty", "set recursive: true to delete its contents"),
    errno.ENAMETOOLONG: ("the name is too long", "use a shorter path"),
}
if hasattr(errno, "EDQUOT"):
    _EXPLAINED[errno.EDQUOT] = ("disk quota exceeded", "free some space or raise the quota")
#: Windows sharing and lock violations: another program has the file open, which passes.
_WINDOWS_IN_USE = {32, 33}


def os_error(exc: OSError, action: str, path: Path) -> BlockError:
    """Translate an OSError into a step error a user can act on."""
    where = exc.filename if isinstance(exc.filename, str) else str(path)
    if getattr(exc, "winerror", None) in _WINDOWS_IN_USE:
        message = f"cannot {action} {where}: another program is using it; close that program"
        return BlockError(message, retryable=True)
    known = _EXPLAINED.get(exc.errno) if exc.errno is not None else None
    if known is None:
        return BlockError(f"cannot {action} {where}: {exc.strerror or exc}", retryable=True)
    what, hint = known
    return BlockError(f"cannot {action} {where}: {what}; {hint}", retryable=False)


@contextmanager
def _fs(action: str, path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise os_error(exc, action, path) from exc


def _fail(message: str) -> BlockError:
    """A mistake in the workflow (wrong path, wrong kind of file): retrying cannot help."""
    return BlockError(message, retryable=False)


def _overwrite(what: str) -> Any:
    return Field(True, description=f"Replace {what} if it exists; if false, fail instead.")


def _check_encoding(name: str) -> str:
    try:
        codecs.lookup(name)
    except LookupError:
        raise ValueError(f"unknown encoding '{name}'; try utf-8, latin-1 or cp1252") from None
    return name


Encoding = Annotated[str, AfterValidator(_check_encoding)]

# -- atomic placement -------------------------------------------------------------


def _temp_sibling(path: Path) -> Path:
    # Same folder, so os.replace stays on one file system and is atomic; the
    # .tmp suffix keeps triggers watching for "*.csv" from firing on it.
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


def _exists_error(path: Path) -> BlockError:
    return _fail(f"{path} already exists; set overwrite: true to replace it")


def _place_file(tmp: Path, dest: Path, *, overwrite: bool) -> None:
    """Move a finished temporary file to ``dest`` atomically, refusing to clobber if asked."""
    if overwrite:
        os.replace(tmp, dest)
        return
    try:
        # A hard link fails if dest exists, without the race of check-then-replace.
        os.link(tmp, dest)
    except FileExistsError:
        raise _exists_error(dest) from None
    except OSError:  # file systems without hard links (FAT, some network shares)
        if os.path.lexists(dest):
            raise _exists_error(dest) from None
        os.replace(tmp, dest)
    else:
        tmp.unlink()


def _replace_tree(new: Path, dest: Path) -> None:
    """Swap folder ``new`` in for ``dest``; ``dest`` is restored if the swap fails."""
    trash = _temp_sibling(dest)
    os.rename(dest, trash)
    try:
        os.rename(new, dest)
    except BaseException:
        os.rename(trash, dest)
        raise
    shutil.rmtree(trash, ignore_errors=True)
    if trash.exists():
        logger.warning("could not remove the replaced folder %s", trash)


@contextmanager
def _staged(dest: Path) -> Iterator[Path]:
    """A temporary path next to ``dest``, removed if still there afterwards."""
    tmp = _temp_sibling(dest)
    try:
        yield tmp
    finally:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp)
        else:
            tmp.unlink(missing_ok=True)


def _write_bytes(dest: Path, data: bytes, *, overwrite: bool) -> None:
    with _staged(dest) as tmp:
        # os.open with 0o666 lets the umask decide permissions, as for any new file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if dest.is_file():
            shutil.copymode(dest, tmp)
        _place_file(tmp, dest, overwrite=overwrite)


def _target(source: Path, destination: Path) -> Path:
    """A file copied or moved onto an existing folder lands inside it, as with cp and mv."""
    into = destination.is_dir() and not source.is_dir()
    return destination / source.name if into else destination


def _check_target(source: Path, target: Path, *, overwrite: bool, verb: str) -> None:
    if not os.path.lexists(source):
        raise _fail(f"cannot {verb} {source}: it does not exist; check the path")
    if source.is_dir() and target.resolve().is_relative_to(source.resolve()):
        raise _fail(f"cannot {verb} the folder {source} into itself ({target})")
    if not os.path.lexists(target):
        return
    if source.resolve() == target.resolve():
        raise _fail(f"cannot {verb} {source} onto itself; choose another destination")
    if not overwrite:
        raise _exists_error(target)
    if source.is_dir() != target.is_dir():
        what, onto = ("folder", "file") if source.is_dir() else ("file", "folder")
        raise _fail(f"cannot {verb} the {what} {source} onto the {onto} {target}; delete it first")


def _count_files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


# -- read, write, append -----------------------------------------------------------


class ReadInput(BlockInput):
    path: str = Field(min_length=1, description="File to read, relative to the workflow file.")
    encoding: Encoding = Field("utf-8", description="Text encoding of the file.")
    binary: bool = Field(False, description="Read raw bytes and output them as base64 text.")


class ReadOutput(BlockOutput):
    text: str = Field(description="The file's text, or its bytes as base64 when binary is set.")
    size: int = Field(description="Size of the file in bytes.")
    path: str = Field(description="Absolute path of the file read.")


class FileRead(Block[ReadInput]):
    """Read a text file, or a binary file as base64.

    A file that does not exist or is not valid text in the given encoding
    fails the step without retrying: the workflow needs fixing, not patience.
    """

    id = "file.read"
    title = "Read file"
    category = "files"
    Input = ReadInput
    Output = ReadOutput

    def run(self, inputs: ReadInput, ctx: BlockContext) -> ReadOutput:
        path = resolve_path(ctx, inputs.path)
        with _fs("read", path):
            data = path.read_bytes()
        try:
            text = (
                base64.b64encode(data).decode() if inputs.binary else data.decode(inputs.encoding)
            )
        except UnicodeDecodeError as exc:
            hint = "set the right encoding, or binary: true to read it as base64"
            raise _fail(
                f"{path} is not {inputs.encoding} text (byte {exc.start}); {hint}"
            ) from None
        return ReadOutput(text=text, size=len(data), path=str(path))


class WriteInput(BlockInput):
    path: str = Field(min_length=1, description="File to write, relative to the workflow file.")
    content: str = Field(description="Text to write (base64 when binary is set).")
    encoding: Encoding = Field("utf-8", description="Text encoding to write with.")
    binary: bool = Field(False, description="content is base64; write the decoded bytes.")
    overwrite: bool = _overwrite("the file")


class WrittenOutput(BlockOutput):
    path: str = Field(description="Absolute path of the file.")
    size: int = Field(description="Size of the file in bytes afterwards.")


def _encode(content: str, encoding: str, binary: bool) -> bytes:
    if binary:
        try:
            return base64.b64decode(content, validate=True)
        except binascii.Error as exc:
            raise _fail(f"content is not valid base64 ({exc}); unset binary for text") from None
    try:
        return content.encode(encoding)
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start]
        raise _fail(f"the text cannot be written as {encoding} ({bad!r}); use utf-8") from None


class FileWrite(Block[WriteInput]):
    """Write text (or base64 bytes) to a file, creating its folders.

    The file is written to a temporary file beside it and moved into place,
    so other programs see either the old or the new content, never a mix.
    """

    id = "file.write"
    title = "Write file"
    category = "files"
    Input = WriteInput
    Output = WrittenOutput

    def run(self, inputs: WriteInput, ctx: BlockContext) -> WrittenOutput:
        path = resolve_path(ctx, inputs.path)
        data = _encode(inputs.content, inputs.encoding, inputs.binary)
        if path.is_dir():
            raise _fail(f"cannot write {path}: it is a folder; add a file name to the path")
        with _fs("write", path):
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_bytes(path, data, overwrite=inputs.overwrite)
        ctx.log(f"wrote {len(data)} bytes to {path}", "debug")
        return WrittenOutput(path=str(path), size=len(data))


class AppendInput(BlockInput):
    path: str = Field(min_length=1, description="File to append to; created if missing.")
    content: str = Field(description="Text to add at the end of the file.")
    encoding: Encoding = Field("utf-8", description="Text encoding to write with.")


class FileAppend(Block[AppendInput]):
    """Add text at the end of a file, creating it and its folders if needed.

    Not idempotent: a retried or resumed step appends the text again.
    """

    id = "file.append"
    title = "Append to file"
    category = "files"
    idempotent = False
    Input = AppendInput
    Output = WrittenOutput

    def run(self, inputs: AppendInput, ctx: BlockContext) -> WrittenOutput:
        path = resolve_path(ctx, inputs.path)
        data = _encode(inputs.content, inputs.encoding, binary=False)
        with _fs("append to", path):
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as handle:
                handle.write(data)
                handle.flush()
                size = handle.tell()
        return WrittenOutput(path=str(path), size=size)


# -- copy, move, delete ---------------------------------------------------------------


class TransferInput(BlockInput):
    source: str = Field(min_length=1, description="File or folder to take.")
    destination: str = Field(
        min_length=1,
        description="Target path. A file given an existing folder goes inside it; "
        "a folder becomes exactly this path.",
    )
    overwrite: bool = _overwrite("the target")


class TransferOutput(BlockOutput):
    path: str = Field(description="Absolute path of the new file or folder.")
    count: int = Field(description="Number of files copied or moved.")


class FileCopy(Block[TransferInput]):
    """Copy a file or a whole folder.

    A copied folder is built beside its target and swapped in at the end, so an
    interrupted copy never leaves a half-filled target behind.
    """

    id = "file.copy"
    title = "Copy file or folder"
    category = "files"
    Input = TransferInput
    Output = TransferOutput

    def run(self, inputs: TransferInput, ctx: BlockContext) -> TransferOutput:
        source = resolve_path(ctx, inputs.source)
        target = _target(source, resolve_path(ctx, inputs.destination))
        _check_target(source, target, overwrite=inputs.overwrite, verb="copy")
        with _fs("copy", source):
            target.parent.mkdir(parents=True, exist_ok=True)
            with _staged(target) as tmp:
                if source.is_dir():
                    shutil.copytree(source, tmp, symlinks=True)
                    count = _count_files(tmp)
                    if os.path.lexists(target):
                        _replace_tree(tmp, target)
                    else:
                        os.rename(tmp, target)
                else:
                    shutil.copy2(source, tmp)
                    count = 1
                    _place_file(tmp, target, overwrite=inputs.overwrite)
        ctx.log(f"copied {source} to {target} ({count} files)", "debug")
        return TransferOutput(path=str(target), count=count)


class FileMove(Block[TransferInput]):
    """Move or rename a file or a folder, across disks if needed.

    Not idempotent: once moved, the source is gone, so running the step again
    fails with "does not exist".
    """

    id = "file.move"
    title = "Move or rename"
    category = "files"
    idempotent = False
    Input = TransferInput
    Output = TransferOutput

    def run(self, inputs: TransferInput, ctx: BlockContext) -> TransferOutput:
        source = resolve_path(ctx, inputs.source)
        target = _target(source, resolve_path(ctx, inputs.destination))
        _check_target(source, target, overwrite=inputs.overwrite, verb="move")
        count = _count_files(source) if source.is_dir() else 1
        with _fs("move", source):
            target.parent.mkdir(parents=True, exist_ok=True)
            if not os.path.lexists(target):
                shutil.move(source, target)
            elif source.is_dir():
                with _staged(target) as tmp:
                    shutil.move(source, tmp)
                    try:
                        _replace_tree(tmp, target)
                    except BaseException:
                        shutil.move(tmp, source)
                        raise
            else:
                self._replace_file(source, target)
        ctx.log(f"moved {source} to {target}", "debug")
        return TransferOutput(path=str(target), count=count)

    @staticmethod
    def _replace_file(source: Path, target: Path) -> None:
        try:
            os.replace(source, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # Another disk: copy beside the target, swap it in, then drop the source.
            with _staged(target) as tmp:
                shutil.copy2(source, tmp)
                os.replace(tmp, target)
            source.unlink()


class DeleteInput(BlockInput):
    path: str = Field(min_length=1, description="File or folder to delete.")
    missing_ok: bool = Field(True, description="Succeed if there is nothing to delete.")
    recursive: bool = Field(False, description="Delete a folder with everything in it.")


class DeleteOutput(BlockOutput):
    deleted: bool = Field(description="True if something was deleted; false if already gone.")
    path: str = Field(description="Absolute path that was deleted.")


class FileDelete(Block[DeleteInput]):
    """Delete a file, or a folder (with ``recursive: true`` unless it is empty).

    Idempotent with ``missing_ok`` (the default); refuses to delete the
    workflow's own folder, any folder containing it, or the home folder.
    """

    id = "file.delete"
    title = "Delete file or folder"
    category = "files"
    Input = DeleteInput
    Output = DeleteOutput

    def run(self, inputs: DeleteInput, ctx: BlockContext) -> DeleteOutput:
        path = resolve_path(ctx, inputs.path)
        if not os.path.lexists(path):
            if inputs.missing_ok:
                return DeleteOutput(deleted=False, path=str(path))
            raise _fail(
                f"cannot delete {path}: it does not exist; set missing_ok: true to allow it"
            )
        real = path.resolve()
        protected = {ctx.workflow_dir.resolve(), Path.home().resolve()}
        if any(p == real or p.is_relative_to(real) for p in protected):
            raise _fail(f"refusing to delete {path}: it holds the workflow or the home folder")
        with _fs("delete", path):
            if not path.is_dir() or path.is_symlink():
                path.unlink()
            elif inputs.recursive:
                shutil.rmtree(path)
            else:
                path.rmdir()
        ctx.log(f"deleted {path}", "debug")
        return DeleteOutput(deleted=True, path=str(path))


# -- list, exists, wait -----------------------------------------------------------------


class ListInput(BlockInput):
    folder: str = Field(".", description="Folder to look in.")
    pattern: str = Field("*", min_length=1, description="Glob pattern, e.g. '*.csv' or 'report-*'.")
    recursive: bool = Field(False, description="Also look in every subfolder.")
    kind: Literal["files", "dirs", "all"] = Field("files", description="What to list.")
    sort: Literal["name", "mtime", "size"] = Field("name", description="Order of the result.")
    descending: bool = Field(False, description="Reverse the order (newest or largest first).")


class ListOutput(BlockOutput):
    paths: list[str] = Field(description="Absolute paths of the matches.")
    count: int = Field(description="Number of matches.")


class FileList(Block[ListInput]):
    """List the files or folders in a folder that match a glob pattern."""

    id = "file.list"
    title = "List files"
    category = "files"
    Input = ListInput
    Output = ListOutput

    def run(self, inputs: ListInput, ctx: BlockContext) -> ListOutput:
        folder = resolve_path(ctx, inputs.folder)
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist"
            raise _fail(f"cannot list {folder}: it {what}; check the folder path")
        try:
            with _fs("list", folder):
                search = folder.rglob if inputs.recursive else folder.glob
                found = list(search(inputs.pattern))
        except ValueError as exc:
            raise _fail(f"bad pattern {inputs.pattern!r}: {exc}") from None
        keep = {"files": Path.is_file, "dirs": Path.is_dir, "all": Path.exists}[inputs.kind]
        entries: list[tuple[Any, str, Path]] = []
        for path in found:
            try:
                if not keep(path):
                    continue
                stat = path.stat()
            except OSError:  # vanished while listing
                continue
            name = str(path.relative_to(folder))
            keys = {"name": name.casefold(), "mtime": stat.st_mtime_ns, "size": stat.st_size}
            entries.append((keys[inputs.sort], name, path))
        entries.sort(key=lambda e: (e[0], e[1]), reverse=inputs.descending)
        paths = [str(e[2]) for e in entries]
        return ListOutput(paths=paths, count=len(paths))


class ExistsInput(BlockInput):
    path: str = Field(min_length=1, description="File or folder to check.")


class ExistsOutput(BlockOutput):
    exists: bool = Field(description="Whether anything exists at the path.")
    is_file: bool = Field(description="Whether it is a file.")
    is_dir: bool = Field(description="Whether it is a folder.")
    size: int = Field(description="Size in bytes of the file; 0 for folders and missing paths.")
    path: str = Field(description="Absolute path checked.")


class FileExists(Block[ExistsInput]):
    """Check whether a file or folder exists, and its size."""

    id = "file.exists"
    title = "File exists?"
    category = "files"
    Input = ExistsInput
    Output = ExistsOutput

    def run(self, inputs: ExistsInput, ctx: BlockContext) -> ExistsOutput:
        path = resolve_path(ctx, inputs.path)
        is_file = path.is_file()
        size = path.stat().st_size if is_file else 0
        return ExistsOutput(
            exists=path.exists(), is_file=is_file, is_dir=path.is_dir(), size=size, path=str(path)
        )


class WaitInput(BlockInput):
    path: str = Field(min_length=1, description="What to wait for; may end in a glob: 'dl/*.pdf'.")
    state: Literal["present", "absent"] = Field("present", description="Wait to appear or to go.")
    timeout: float = Field(60.0, gt=0, description="Seconds to wait before failing.")
    poll_interval: float = Field(0.5, gt=0, description="Seconds between checks.")
    stable_for: float = Field(0, ge=0, description="Seconds its size must hold still (downloads).")


class WaitOutput(BlockOutput):
    path: str = Field(description="The file found (or, for 'absent', the path waited on).")
    size: int = Field(description="Size in bytes of the file found; 0 for 'absent'.")
    waited: float = Field(description="Seconds spent waiting.")


def _first_match(path: Path) -> Path | None:
    if glob.has_magic(path.name):
        matches = sorted(path.parent.glob(path.name)) if path.parent.is_dir() else []
        return matches[0] if matches else None
    return path if path.exists() else None


class FileWait(Block[WaitInput]):
    """Wait until a file appears (or disappears), optionally until it stops growing.

    Times out with a retryable error; the step's own deadline and cancelling
    the run stop the wait at once.
    """

    id = "file.wait"
    title = "Wait for file"
    category = "files"
    Input = WaitInput
    Output = WaitOutput

    def run(self, inputs: WaitInput, ctx: BlockContext) -> WaitOutput:
        path = resolve_path(ctx, inputs.path)
        start = ctx.clock.monotonic()
        found: Path | None = None
        signature: tuple[Path, int, int] | None = None
        since = start

        def ready() -> bool:
            nonlocal found, signature, since
            found = _first_match(path)
            if inputs.state == "absent":
                return found is None
            if found is None:
                signature = None
                return False
            try:
                stat = found.stat()
            except OSError:  # removed between the match and the stat
                return False
            now = ctx.clock.monotonic()
            current = (found, stat.st_size, stat.st_mtime_ns)
            if current != signature:
                signature, since = current, now
            return now - since >= inputs.stable_for

        ctx.log(f"waiting up to {inputs.timeout:g}s for {path} to be {inputs.state}", "debug")
        if not ctx.wait_until(ready, timeout=inputs.timeout, interval=inputs.poll_interval):
            raise BlockError(self._timeout_message(path, inputs, signature), retryable=True)
        waited = ctx.clock.monotonic() - start
        if inputs.state == "absent" or found is None:
            return WaitOutput(path=str(path), size=0, waited=waited)
        size = signature[1] if signature is not None else 0
        return WaitOutput(path=str(found), size=size, waited=waited)

    @staticmethod
    def _timeout_message(path: Path, inputs: WaitInput, last: tuple[Path, int, int] | None) -> str:
        after = f"{inputs.timeout:g}s"
        if inputs.state == "absent":
            return f"{path} still exists after {after}; raise timeout or check what keeps it there"
        if last is not None:
            hint = "raise timeout or lower stable_for"
            return f"{last[0]} was still changing after {after} (size {last[1]}); {hint}"
        return f"timed out after {after} waiting for {path} to appear; check the path"


# -- zip ------------------------------------------------------------------------------


class ZipInput(BlockInput):
    destination: str = Field(min_length=1, description="Archive to create, e.g. 'out/report.zip'.")
    files: list[str] = Field([], description="Files (or folders) to add at the archive's top.")
    folder: str | None = Field(None, description="Folder whose contents to add at the top.")
    overwrite: bool = _overwrite("the archive")


class ZipOutput(BlockOutput):
    path: str = Field(description="Absolute path of the archive.")
    count: int = Field(description="Number of files in the archive.")
    size: int = Field(description="Size of the archive in bytes.")


class FileZip(Block[ZipInput]):
    """Pack files, or a folder's contents, into a zip archive."""

    id = "file.zip"
    title = "Zip files"
    category = "files"
    Input = ZipInput
    Output = ZipOutput

    def run(self, inputs: ZipInput, ctx: BlockContext) -> ZipOutput:
        if not inputs.files and inputs.folder is None:
            raise _fail("nothing to zip: give 'files', 'folder' or both")
        dest = resolve_path(ctx, inputs.destination)
        if not inputs.overwrite and os.path.lexists(dest):
            raise _exists_error(dest)
        with _fs("create", dest):
            dest.parent.mkdir(parents=True, exist_ok=True)
            with _staged(dest) as tmp:
                entries = self._entries(inputs, ctx, skip={dest.resolve(), tmp.resolve()})
                count = 0
                with zipfile.ZipFile(
                    tmp, "w", zipfile.ZIP_DEFLATED, strict_timestamps=False
                ) as archive:
                    for source, name in entries:
                        ctx.check_cancelled()
                        with _fs("add", source):
                            archive.write(source, name)
                        count += not source.is_dir()
                _place_file(tmp, dest, overwrite=inputs.overwrite)
            size = dest.stat().st_size
        ctx.log(f"zipped {count} files into {dest}", "debug")
        return ZipOutput(path=str(dest), count=count, size=size)

    @staticmethod
    def _entries(inputs: ZipInput, ctx: BlockContext, skip: set[Path]) -> list[tuple[Path, str]]:
        entries: list[tuple[Path, str]] = []

        def tree(root: Path, prefix: str) -> None:
            for item in sorted(root.rglob("*")):
                if item.resolve() not in skip:
                    entries.append((item, prefix + item.relative_to(root).as_posix()))

        if inputs.folder is not None:
            folder = resolve_path(ctx, inputs.folder)
            if not folder.is_dir():
                raise _fail(f"cannot zip the folder {folder}: it is not an existing folder")
            tree(folder, "")
        for item in inputs.files:
            path = resolve_path(ctx, item)
            if not path.exists():
                raise _fail(f"cannot zip {path}: it does not exist; check the path")
            entries.append((path, path.name))
            if path.is_dir():
                tree(path, path.name + "/")
        twice = [name for name, n in Counter(name for _, name in entries).items() if n > 1]
        if twice:
            raise _fail(f"two files would be stored as '{twice[0]}' in the archive; rename one")
        return entries


class UnzipInput(BlockInput):
    archive: str = Field(min_length=1, description="Zip archive to unpack.")
    destination: str = Field(min_length=1, description="Folder to unpack into; created if missing.")
    overwrite: bool = _overwrite("unpacked files")


class UnzipOutput(BlockOutput):
    folder: str = Field(description="Absolute path of the folder unpacked into.")
    paths: list[str] = Field(description="Absolute paths of the files unpacked.")
    count: int = Field(description="Number of files unpacked.")


Member = tuple[zipfile.ZipInfo, Path]


def _unsafe(name: str) -> bool:
    """Whether an entry name could land outside the destination folder (zip-slip)."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return name.startswith(("/", "\\")) or bool(PureWindowsPath(name).drive) or ".." in parts


class FileUnzip(Block[UnzipInput]):
    """Unpack a zip archive into a folder.

    Every entry is checked before anything is written: an archive with an
    entry that would land outside the folder ("zip-slip") or an encrypted
    entry is refused as a whole.
    """

    id = "file.unzip"
    title = "Unzip archive"
    category = "files"
    Input = UnzipInput
    Output = UnzipOutput

    def run(self, inputs: UnzipInput, ctx: BlockContext) -> UnzipOutput:
        source = resolve_path(ctx, inputs.archive)
        dest = resolve_path(ctx, inputs.destination)
        try:
            with _fs("unzip", source), zipfile.ZipFile(source) as archive:
                with _fs("create", dest):
                    dest.mkdir(parents=True, exist_ok=True)
                members = self._check(archive, source, dest, overwrite=inputs.overwrite)
                paths: list[str] = []
                for info, target in members:
                    ctx.check_cancelled()
                    with _fs("unpack", target):
                        if info.is_dir():
                            target.mkdir(parents=True, exist_ok=True)
                            continue
                        target.parent.mkdir(parents=True, exist_ok=True)
                        with archive.open(info) as src, target.open("wb") as out:
                            shutil.copyfileobj(src, out)
                    paths.append(str(target))
        except zipfile.BadZipFile as exc:
            raise _fail(f"{source} is not a valid zip archive or is damaged ({exc})") from None
        ctx.log(f"unzipped {len(paths)} files from {source} into {dest}", "debug")
        return UnzipOutput(folder=str(dest), paths=paths, count=len(paths))

    @staticmethod
    def _check(zf: zipfile.ZipFile, source: Path, dest: Path, *, overwrite: bool) -> list[Member]:
        root = dest.resolve()
        members: list[Member] = []
        for info in zf.infolist():
            target = dest / info.filename
            if _unsafe(info.filename) or not target.resolve().is_relative_to(root):
                raise _fail(
                    f"refusing to unzip {source}: entry '{info.filename}' would be written outside "
                    f"{dest} (a 'zip-slip' archive); do not trust this archive"
                )
            if info.flag_bits & 0x1:
                raise _fail(f"cannot unzip {source}: '{info.filename}' is password-protected")
            if not overwrite and not info.is_dir() and os.path.lexists(target):
                raise _fail(f"cannot unzip to {target}: it already exists; set overwrite: true")
            members.append((info, target))
        return members


BLOCKS = (
    FileRead,
    FileWrite,
    FileAppend,
    FileCopy,
    FileMove,
    FileDelete,
    FileList,
    FileExists,
    FileWait,
    FileZip,
    FileUnzip,
)
