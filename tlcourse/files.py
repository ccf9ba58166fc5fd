"""Replacing a file safely: the one place in the package that writes a file another run may read.

Every file the course replaces (results, checkpoints, reports, executed notebooks, saved models) goes
through :func:`replace_atomically`: the new content is written beside the target and renamed over it, so a
crash, Ctrl-C or a full disk leaves the old file whole, never half of a new one, and the target keeps its
permissions (a notebook marked read-only stays read-only).
"""

from __future__ import annotations

import errno
import os
import stat
import uuid
from pathlib import Path
from typing import Callable


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
    except RuntimeError as err:  # torch.save reports a full disk as a RuntimeError from its C++ writer
        if "write" not in str(err).lower() and "file" not in str(err).lower():
            raise
        raise OSError(errno.EIO, _explain(err, path)) from err
    finally:
        tmp.unlink(missing_ok=True)
    return path


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
