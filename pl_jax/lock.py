"""Lock: one writer per run directory (and one builder of a data cache).

A run, a review server or anything else that writes into a workdir holds its
lock while it works; a process that builds the MNIST cache holds its data
directory's, and another waits for it (data.py). The lock is an advisory
`fcntl.flock` on `<workdir>/.lock`, which the kernel releases when the holder's
process ends however it ends (kill -9 too), so a lock is never stale and never
needs removing by hand. The file keeps the holder's pid and what it is doing,
for the refusal's message.
Readers (reports, `pl_jax.report` on a running run) take no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os

LOCK_FILE = '.lock'


class LockedError(Exception):
  """Another process writes into the workdir; the message is one line."""


def holder(workdir: str) -> str:
  """What the lock file says of its holder ('pid 123: run.py'), or '' if nothing."""
  try:
    with open(os.path.join(workdir, LOCK_FILE)) as f:
      return f.read().strip()
  except OSError:
    return ''


# The workdirs this process holds the lock of, and how many holds deep.
_held: dict[str, int] = {}


@contextlib.contextmanager
def hold(workdir: str, what: str, wait: bool = False):
  """Holds the workdir's lock for the block; `what` names the writer.

  A process that holds it already holds it again (a run writing its review
  sheet): one lock per process, released when the outermost hold ends. With
  `wait`, a lock another process holds is waited for instead of refused.

  Raises:
    LockedError: another live process holds it (without `wait`).
  """
  os.makedirs(workdir, exist_ok=True)
  key = os.path.realpath(workdir)
  if key in _held:
    _held[key] += 1
    try:
      yield
    finally:
      _held[key] -= 1
    return
  fd = os.open(os.path.join(workdir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      raise LockedError(f'{workdir} is in use by {holder(workdir) or "another process"}; '
                        'wait for it to finish or use another --workdir') from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f'pid {os.getpid()}: {what}\n'.encode(), 0)
    _held[key] = 1
    try:
      yield
    finally:
      del _held[key]
  finally:
    os.close(fd)  # Releases the lock.
