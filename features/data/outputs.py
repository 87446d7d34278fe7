"""Result files are written whole or not at all."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pandas as pd


def write_file_atomically(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write`` on a temporary file beside ``path``, then rename it into place.

    A reader never sees a truncated file; on any error neither the temporary file nor a
    new ``path`` is left behind (an older ``path`` stays as it was).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())  # the rename never makes a file whose bytes are not on disk
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_csv_atomically(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` as CSV (dates as ``YYYY-MM-DD``) whole or not at all."""

    def write(handle: BinaryIO) -> None:
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        frame.to_csv(text, index=False, date_format="%Y-%m-%d")
        text.flush()
        text.detach()  # the binary handle stays its owner's to close

    return write_file_atomically(path, write)


def write_bytes_atomically(data: bytes, path: Path) -> Path:
    """Write ``data`` (e.g. a PNG) whole or not at all."""
    return write_file_atomically(path, lambda handle: handle.write(data))


def write_folder_atomically(out: Path, write: Callable[[Path], None]) -> None:
    """Write a whole folder next to ``out`` first, then swap it in.

    An interrupted run leaves ``out`` as it was (absent, or the previous
    complete folder), never a half-written one.
    """
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the result is not
    try:
        write(tmp)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
