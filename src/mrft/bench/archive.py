"""A results folder's run files, loose on disk or packed into one archive beside them.

A bench writes thousands of small files under ``OUT/runs/``; a finished folder keeps its
summaries (``bench.json``, ``analysis.json``, the report, the plots) as files and its run
files in ``OUT/runs.tar.xz``, so that a clone stays small and every table can still be
made again from what the runs wrote. :class:`RunFiles` reads a run file by its path in the
folder (``runs/<family>/<method>/seed<k>/pretrain.json``) from either place: a file on disk
wins over the archive's copy, so a bench resumed after unpacking reads its new files.

The archive is a tar file compressed with xz (LZMA2): run files are small JSON and JSONL
records with much in common, which a solid archive compresses about eight-fold, and xz
decompresses the largest committed bench (45 MB of run files) in under a second. :func:`pack` writes it
deterministically (members sorted by name, mtime 0, owner root, mode 0644), so packing the
same files again gives the same bytes. A report reads the whole archive once into memory
(tens of MB at most): a tar file cannot be searched without reading it through.
"""

from __future__ import annotations

import fnmatch
import io
import json
import lzma
import os
import tarfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mrft.atomic import atomic_write
from mrft.errors import MrftError

ARCHIVE = "runs.tar.xz"
"""The archive's name in its folder."""
RUNS = "runs"
"""The folder whose files :func:`pack` packs by default."""
XZ_PRESET = 6
"""xz's default. On the ``cpu`` bench's run files (45 MB) preset 9 packs no smaller and takes
1.6 times as long; 9 with ``extreme`` is 3.5% smaller and takes three times as long."""
LEFT_OUT = ("checkpoint.pt", "events.out.tfevents.*", ".*")
"""Names :func:`pack` leaves on disk: checkpoints and TensorBoard files (large, read by no
report, and kept out of commits by .gitignore), and hidden files (an interrupted atomic
write's temporary file, a lock)."""


def locate(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(folder, archive)`` for a results folder or for an archive file in one."""
    path = Path(path)
    if path.is_file() or path.name.endswith(".tar.xz"):
        return path.parent, path
    return path, path / ARCHIVE


class RunFiles:
    """The run files of the results folder ``path`` (or of the folder that holds the archive
    ``path``), named by their ``/``-separated path relative to the folder."""

    def __init__(self, path: str | os.PathLike):
        self.folder, self.archive = locate(path)
        self._packed: dict[str, bytes] | None = None

    def packed(self) -> dict[str, bytes]:
        """Every member of the archive (none without one), read once."""
        if self._packed is None:
            self._packed = read_archive(self.archive) if self.archive.is_file() else {}
        return self._packed

    def on_disk(self, name: str) -> bool:
        return (self.folder / name).is_file()

    def exists(self, name: str) -> bool:
        return self.on_disk(name) or name in self.packed()

    def where(self, name: str) -> str:
        """Where ``name`` is read from, for messages: its path, or ``ARCHIVE:name``."""
        if self.on_disk(name) or name not in self.packed():
            return str(self.folder / name)
        return f"{self.archive}:{name}"

    def read_bytes(self, name: str) -> bytes:
        path = self.folder / name
        if path.is_file():
            return path.read_bytes()
        try:
            return self.packed()[name]
        except KeyError:
            raise FileNotFoundError(2, "no such run file", str(path)) from None

    def read_text(self, name: str) -> str:
        return self.read_bytes(name).decode("utf-8")

    def read_jsonl(self, name: str) -> list[dict[str, Any]]:
        """The records of a JSONL log (a run's ``metrics.jsonl``)."""
        return [json.loads(line) for line in self.read_text(name).split("\n") if line.strip()]

    def names(self, under: str = "") -> list[str]:
        """Every run file under the folder ``under`` (all with ``""``), on disk or packed, in
        the order of the folder tree (a folder's files before the next folder's)."""
        prefix = f"{under.rstrip('/')}/" if under else ""
        found = {n for n in self.packed() if n.startswith(prefix)}
        root = self.folder / under if under else self.folder
        for top, _, files in os.walk(root):
            for file in files:
                found.add((Path(top) / file).relative_to(self.folder).as_posix())
        return sorted(found, key=lambda name: name.split("/"))

    def glob(self, pattern: str) -> list[str]:
        """The names that match ``pattern`` part by part (``runs/*/*/seed*/pretrain.json``),
        sorted; ``*`` never crosses a ``/``."""
        parts = pattern.split("/")
        fixed = []
        for part in parts[:-1]:
            if any(c in part for c in "*?["):
                break
            fixed.append(part)
        return [n for n in self.names("/".join(fixed)) if _match(n.split("/"), parts)]


def find(path: str | os.PathLike) -> tuple[RunFiles, str]:
    """The run files that hold the file ``path`` and its name there: the file itself when it
    is on disk, else the member of the nearest archive in a folder above it."""
    path = Path(path)
    if not path.is_file():
        for folder in path.parents:
            if (folder / ARCHIVE).is_file():
                return RunFiles(folder), path.relative_to(folder).as_posix()
    return RunFiles(path.parent), path.name


def _match(parts: list[str], pattern: list[str]) -> bool:
    return len(parts) == len(pattern) and all(
        fnmatch.fnmatchcase(p, q) for p, q in zip(parts, pattern, strict=True))


def read_archive(archive: Path) -> dict[str, bytes]:
    """Every regular file of ``archive`` by name; a file that is not a readable tar.xz is
    one-line error naming it."""
    members = {}
    try:
        with tarfile.open(archive, "r|xz") as tar:
            for info in tar:
                if info.isfile():
                    members[_normal(info.name)] = tar.extractfile(info).read()
    except (tarfile.TarError, lzma.LZMAError, EOFError, zlib.error, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        raise MrftError(f"{archive}: not a readable run archive ({reason}); restore it "
                        "(git checkout, or pack the runs/ folder again with mrft report "
                        "--pack)") from None
    return members


def _normal(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name


def left_out(name: str) -> bool:
    """A file :func:`pack` leaves on disk (:data:`LEFT_OUT`)."""
    base = name.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(base, p) for p in LEFT_OUT)


def archive_bytes(members: dict[str, bytes]) -> bytes:
    """The deterministic tar.xz of ``members`` (name -> content)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz", preset=XZ_PRESET,
                      format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            info.mtime, info.mode = 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(members[name]))
    return buffer.getvalue()


def pack(folder: str | os.PathLike, names: Iterable[str] | None = None,
         remove: bool = False) -> list[str]:
    """Write ``folder/runs.tar.xz`` with ``names`` (paths relative to ``folder``; by default
    every file under ``runs/`` but those of :data:`LEFT_OUT`) and what the archive held
    before, the file on disk winning. Returns the names packed from disk.

    The new archive replaces the old one only once it has been read back from disk and found
    equal to what was packed; then, with ``remove``, the packed files are deleted from disk, with
    the folders they leave empty."""
    files = RunFiles(folder)
    if names is None:
        names = [n for n in files.names(RUNS) if files.on_disk(n) and not left_out(n)]
    names = sorted(set(names))
    members = dict(files.packed())
    for name in names:
        members[name] = files.read_bytes(name)
    if not members:
        raise MrftError(f"{files.folder}: no run files to pack (no {RUNS}/ folder and no {ARCHIVE})")
    data = archive_bytes(members)
    scratch = files.archive.with_name(f".{files.archive.name}.new")
    try:
        atomic_write(scratch, lambda f: f.write(data), mode=0o644)
        if read_archive(scratch) != members:
            raise MrftError(f"{files.archive}: the new archive did not read back as written; "
                            "nothing was changed")
        os.replace(scratch, files.archive)
    finally:
        scratch.unlink(missing_ok=True)
    if remove:
        _remove(files.folder, names)
    return names


def _remove(folder: Path, names: list[str]) -> None:
    """Delete the packed files, then every folder under them left empty."""
    parents = set()
    for name in names:
        path = folder / name
        path.unlink(missing_ok=True)
        parents.update(p for p in path.parents if folder in p.parents)
    for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        if parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
