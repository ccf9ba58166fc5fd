"""Replacing a file safely: the one place in the package that writes a file another run may read.

Every file the course replaces (results, checkpoints, reports, executed notebooks, saved models) goes
through :func:`replace_atomically`: the new content is written beside the target and renamed over it, so a
crash, Ctrl-C or a full disk leaves the old file whole, never half of a new one, and the target keeps its
permissions (a notebook marked read-only stays read-only).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import uuid
from pathlib import Path
from typing import Callable


# What torch.save's C++ writer says when it cannot finish a file: words that tell a learner nothing.
_TORCH_WRITER_STOPPED = ("PytorchStreamWriter", "inline_container", "unexpected pos", "write failed")


def replace_atomically(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary_path)``, then rename the temporary file over ``path``.

    The temporary file sits in the same folder (a rename is atomic only within one file system) and is
    removed if writing fails. An existing file's mode is kept. A full disk or an unwritable folder raises
    an ``OSError`` that names ``path`` and says what to do, instead of a library's internal error.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")  # two writers never share one
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else None
    try:
        write(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as err:
        raise OSError(err.errno, _explain(err, path)) from err
    except RuntimeError as err:  # torch.save reports a full disk as a RuntimeError of its C++ writer
        if any(words in str(err) for words in _TORCH_WRITER_STOPPED):  # "enforce fail at inline_container.cc"
            raise OSError(errno.EIO, f"Could not write {path}: PyTorch's writer stopped part-way, so the disk may be "
                                     "full (or a mounted drive went away). The previous file, if any, is unchanged; "
                                     "free some space or choose a folder on another disk, then run again.") from err
        if "write" not in str(err).lower() and "file" not in str(err).lower():
            raise
        raise OSError(errno.EIO, _explain(err, path)) from err
    finally:
        tmp.unlink(missing_ok=True)
    return path


def first_free_path(path: str | Path) -> Path:
    """``path`` if nothing is there yet, else the first of ``name-2.ext``, ``name-3.ext``, ... that is free:
    a re-run that saves again keeps what an earlier run saved."""
    path = Path(path)
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate


def replace_folder(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Like :func:`replace_atomically` for a folder (a saved data set): ``write(temporary_folder)``, then the old
    folder is removed and the new one renamed into place, so a half-saved copy is never used."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        write(partial)
        shutil.rmtree(path, ignore_errors=True)
        os.replace(partial, path)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return path


def move_aside(path: str | Path, suffix: str = ".damaged") -> Path:
    """Rename a damaged file to ``<name><suffix>`` (or ``<suffix>2``, ``3``, ... if taken), keeping it for a look
    later while its name is freed for a good copy; returns where it went."""
    path = Path(path)
    kept, number = path.with_name(f"{path.name}{suffix}"), 1
    while kept.exists():
        number += 1
        kept = path.with_name(f"{path.name}{suffix}{number}")
    os.replace(path, kept)
    return kept


def _explain(err: Exception, path: Path) -> str:
    if getattr(err, "errno", None) == errno.ENOSPC:
        reason = "the disk is full"
        advice = "free some space (or choose a folder on another disk) and run again"
    elif getattr(err, "errno", None) in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason = "that folder cannot be written"
        advice = "choose a folder you can write to"
    else:
        reason = f"{type(err).__name__}: {getattr(err, 'strerror', None) or err}"
        advice = "check the folder and the free space, then run again"
    return f"Could not write {path}: {reason}. The previous file, if any, is unchanged; {advice}."
