"""Atomic file writes: a reader (or a crash) sees the old file or the new one, whole."""

import contextlib
import errno
import json
import os
import tempfile

import numpy as np

TMP_PREFIX = '.tmp-'  # A write in progress, renamed over its target when whole.


class NotAFileError(OSError):
  """The path names something other than a regular file (a device such as
  /dev/null, a pipe): renaming a new file over it would destroy it."""


def check_replaceable(path: str) -> None:
  """Raises NotAFileError where path exists and is not a regular file."""
  if os.path.exists(path) and not os.path.isfile(path):
    raise NotAFileError(errno.EINVAL, 'not a regular file, not replaced', path)


@contextlib.contextmanager
def _replace_on_success(path: str, suffix: str):
  check_replaceable(path)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=TMP_PREFIX, suffix=suffix)
  # mkstemp makes the file owner-only; give it the mode a plain open() would.
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(tmp, 0o666 & ~umask)
  try:
    with os.fdopen(fd, 'wb') as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def write_json(path: str, obj) -> None:
  write_text(path, json.dumps(obj, indent=2, allow_nan=False) + '\n')


def write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
  with _replace_on_success(path, '.npz') as f:
    np.savez(f, **arrays)


def write_bytes(path: str, content: bytes) -> None:
  with _replace_on_success(path, os.path.splitext(path)[1]) as f:
    f.write(content)


def write_text(path: str, text: str) -> None:
  write_bytes(path, text.encode())


def remove_leftovers(directory: str) -> None:
  """Removes what writes that died (kill -9) left in directory: their temporary
  files. Only the directory's one writer may call it (pl_jax/lock.py)."""
  for name in os.listdir(directory):
    if name.startswith(TMP_PREFIX):
      try:
        os.remove(os.path.join(directory, name))
      except FileNotFoundError:
        pass
