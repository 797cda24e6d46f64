"""Faults around a run directory: a second writer, damaged checkpoints and files,
a full disk, kill -9 (issue 21). The kills and the full disk are armed by
benchmarks/faults.py, whose campaign (many more of each, and kills at random
times) writes the reliability section of BENCHMARKS.md."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import own_arrays
from runs import comparable
from pl_jax import checkpoint, data, data_types, lock, loop, recipes, user_data

# Orbax's failed reads of damaged checkpoints leave coroutines that complain when collected.
pytestmark = pytest.mark.filterwarnings('ignore::pytest.PytestUnraisableExceptionWarning')
ROOT = os.path.join(os.path.dirname(__file__), '..')
# Warm-started, with a moving average and 2 final models: every item of a
# checkpoint matters to a resumed run.
SETTINGS = {'iterations': 2, 'epochs': 1, 'min_steps': 20, 'frozen': (), 'threshold': 0.9,
            'warm_start': True, 'ema_decay': 0.9, 'final_models': 2}
CONFIG = recipes.make_config('case_study', **SETTINGS)
RUN_FILES = ('results.json', 'labels.npz', 'pseudo_labels.csv', 'scores.npz')


def quiet(_):
  pass


@pytest.fixture(scope='module')
def dataset(mnist):
  arrays, _ = own_arrays(mnist, n_train=400, n_labeled=100, n_test=100)
  return user_data.from_arrays('arrays', arrays['images'], arrays['labels'],
                               arrays['test_images'], arrays['test_labels'],
                               tuple(arrays['class_names']))


@pytest.fixture(scope='module')
def finished(dataset, tmp_path_factory):
  """A finished run's workdir (2 iterations), left alone."""
  workdir = tmp_path_factory.mktemp('finished')
  loop.self_train(dataset, CONFIG, str(workdir), progress=False, log=quiet)
  return workdir


def copy(workdir, tmp_path, name='run', link=False):
  """A copy of workdir; with link, of hard links (to damage one file, replace it)."""
  shutil.copytree(workdir, tmp_path / name, copy_function=os.link if link else shutil.copy2)
  return tmp_path / name


@pytest.fixture(scope='module')
def restore(dataset):
  """workdir -> checkpoint.restore(workdir, ...), as a resumed run reads it."""
  like_labels = loop.initial_label_state(dataset, CONFIG)
  run = loop.prepare(dataset, CONFIG, like_labels, False)
  like_train = loop.new_model(run, run.streams.init(0))
  return lambda workdir: checkpoint.restore(str(workdir), like_train, like_labels)


def fingerprint(restored):
  return (restored.iteration, json.dumps(restored.record, sort_keys=True),
          checkpoint.sha256((restored.train_state, restored.label_state, restored.scores,
                             restored.ensemble)))


def assert_same_run(workdir, reference):
  assert comparable(workdir) == comparable(reference)
  for name in ('labels.npz', 'scores.npz'):
    with np.load(workdir / name) as a, np.load(reference / name) as b:
      assert sorted(a.files) == sorted(b.files)
      for key in a.files:
        np.testing.assert_array_equal(a[key], b[key])
  assert (workdir / 'pseudo_labels.csv').read_text() == (
      reference / 'pseudo_labels.csv').read_text()
  assert not [f for f in os.listdir(workdir) if f.startswith('.tmp-')]
  assert sorted(os.listdir(workdir / 'checkpoints')) == sorted(
      os.listdir(reference / 'checkpoints'))


def damage(path, how):
  content = bytearray(path.read_bytes())
  path.unlink()  # (A hard link's other names keep the content.)
  if how == 'emptied':
    content = b''
  elif how == 'truncated':
    content = content[:len(content) // 2]
  else:  # One bit flipped, in the middle.
    content[len(content) // 2] ^= 0x10
  path.write_bytes(bytes(content))


def make_stale(path):
  """Changes a run file's content, keeping it readable: results.json as the
  iteration before left it, one value of an npz, one row of the CSV."""
  if path.suffix == '.json':
    results = json.loads(path.read_text())
    results.update(stop_reason=None, iterations=results['iterations'][:-1])
    path.write_text(json.dumps(results))
  elif path.suffix == '.npz':
    with np.load(path) as f:
      arrays = dict(f)
    name = sorted(k for k in arrays if arrays[k].dtype.kind == 'i')[0]
    arrays[name][0] += 1
    np.savez(path, **arrays)
  else:
    path.write_text(''.join(path.read_text().splitlines(keepends=True)[:-1]))


# One writer per workdir.

HOLDER = ('import sys, time\nfrom pl_jax import lock\n'
          'with lock.hold(sys.argv[1], "a test"):\n  print("held", flush=True)\n'
          '  time.sleep(60)\n')


def test_a_second_writer_is_refused_and_a_dead_ones_lock_taken_over(tmp_path):
  holder = subprocess.Popen([sys.executable, '-c', HOLDER, str(tmp_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline() == 'held\n'
    with pytest.raises(lock.LockedError) as refused:
      with lock.hold(str(tmp_path), 'the test'):
        pass
    assert str(refused.value) == (f'{tmp_path} is in use by pid {holder.pid}: a test; wait '
                                  'for it to finish or use another --workdir')
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
  # Its lock file stays, stale; nobody removes it.
  assert lock.holder(str(tmp_path)) == f'pid {holder.pid}: a test'
  with lock.hold(str(tmp_path), 'the test'):
    assert lock.holder(str(tmp_path)) == f'pid {os.getpid()}: the test'
    with lock.hold(str(tmp_path), 'its review sheet'):  # The holder may take it again.
      pass
    # Still held after the inner hold: another process is refused.
    again = subprocess.run([sys.executable, '-c', HOLDER, str(tmp_path)], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and 'LockedError' in again.stderr


def test_a_waiting_hold_waits_for_the_holder_to_finish(tmp_path):
  brief = HOLDER.replace('time.sleep(60)', 'time.sleep(1.5)')
  holder = subprocess.Popen([sys.executable, '-c', brief, str(tmp_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline() == 'held\n'
    start = time.monotonic()
    with lock.hold(str(tmp_path), 'the test', wait=True):
      waited = time.monotonic() - start
      assert holder.wait(timeout=5) == 0  # It had finished: the lock was its until then.
      assert lock.holder(str(tmp_path)) == f'pid {os.getpid()}: the test'
    assert waited > 0.5
  finally:
    holder.kill()
    holder.wait()


# Damaged checkpoints.

@pytest.mark.slow
@pytest.mark.parametrize('how', ['emptied', 'truncated', 'bit-flipped'])
def test_each_damaged_file_of_a_checkpoint_is_caught(restore, finished, tmp_path, how):
  """Whatever file of the newest checkpoint is damaged, what restores is what was
  saved: that checkpoint (a file reading does not need) or the one before."""
  newest, before = restore(finished), None
  files = sorted(p.relative_to(finished) for p in (finished / 'checkpoints' / '2').rglob('*')
                 if p.is_file())
  passed_over = 0
  for i, name in enumerate(files):
    workdir = copy(finished, tmp_path, f'run{i}', link=True)
    damage(workdir / name, how)
    got = restore(workdir)
    if got.iteration == 1:
      if before is None:
        shutil.rmtree(workdir / 'checkpoints' / '2')
        before = fingerprint(restore(workdir))
      assert fingerprint(got) == before, name
      assert len(got.damaged) == 1 and got.damaged[0].startswith('iteration 2: '), name
      passed_over += 1
    else:
      assert fingerprint(got) == fingerprint(newest), name
  # The arrays, their metadata and the record are never passed by.
  assert passed_over >= 6


@pytest.mark.slow
def test_a_damaged_newest_checkpoint_is_said_in_one_line_and_recomputed(
    dataset, finished, tmp_path):
  workdir = copy(finished, tmp_path)
  for path in (workdir / 'checkpoints' / '2').rglob('*'):
    if path.is_file():
      path.write_bytes(b'')  # Emptied, as by a disk fault or a copy cut short.
  said = []
  result = loop.self_train(dataset, CONFIG, str(workdir), progress=False, log=said.append)
  assert said[0] == (f'{workdir}: passed over a damaged checkpoint (iteration 2: '
                     'JSONDecodeError: Expecting value: line 1 column 1 (char 0)); resuming '
                     'after iteration 1, the iterations after it are recomputed')
  assert [line.split('|')[0].strip() for line in said[1:]] == ['iter  2']
  assert_same_run(workdir, finished)
  assert result.record['stop_reason'] == loop.STOP_MAX_ITERATIONS


@pytest.mark.slow
def test_nothing_readable_is_one_line_naming_it_and_overwrite(dataset, finished, tmp_path):
  workdir = copy(finished, tmp_path)
  for iteration in ('1', '2'):
    damage(workdir / 'checkpoints' / iteration / 'record' / 'metadata', 'truncated')
  with pytest.raises(loop.WorkdirError) as refused:
    loop.self_train(dataset, CONFIG, str(workdir), progress=False, log=quiet)
  message = str(refused.value)
  assert '\n' not in message
  assert message.startswith(f'no checkpoint in {workdir}/checkpoints reads back (iteration 2: '
                            'JSONDecodeError: ')
  assert '; iteration 1: JSONDecodeError: ' in message
  assert message.endswith('; pass --overwrite to start over, or choose another --workdir')


@pytest.mark.slow
@pytest.mark.parametrize('name', RUN_FILES)
@pytest.mark.parametrize('how', ['emptied', 'truncated', 'removed', 'stale'])
def test_run_files_that_disagree_with_the_checkpoint_are_rewritten(
    dataset, finished, tmp_path, name, how):
  workdir = copy(finished, tmp_path)
  if how == 'removed':
    (workdir / name).unlink()
  elif how == 'stale':  # Readable, but not what the checkpoint holds.
    make_stale(workdir / name)
  else:
    damage(workdir / name, how)
  said = []
  loop.self_train(dataset, CONFIG, str(workdir), progress=False, log=said.append)
  assert said == [f'{workdir}: {name} disagreed with the checkpoint of iteration 2; '
                  'rewrote them from it',
                  f'{workdir}: finished earlier (max_iterations); nothing to do']
  assert_same_run(workdir, finished)


def test_an_emptied_mnist_cache_is_caught(tmp_path):
  """(data.py rebuilds a cache it catches: test_data.py, and the campaign for
  emptied, truncated and bit-flipped caches.)"""
  cache = tmp_path / 'mnist.npz'
  cache.write_bytes(b'')
  with pytest.raises(data_types.DataError, match='unreadable'):
    data._read_verified_cache(str(cache))  # pylint: disable=protected-access


# Whole processes: run.py, killed with SIGKILL (benchmarks/faults.py), or two at once.

@pytest.fixture(scope='module')
def command_line(mnist, tmp_path_factory):
  """(run.py flags, the workdir of the run left alone, a JAX compilation cache the
  processes share)."""
  directory = tmp_path_factory.mktemp('command_line')
  arrays, _ = own_arrays(mnist, n_train=400, n_labeled=100, n_test=100)
  np.savez(directory / 'own.npz', **arrays)
  flags = [f'--dataset=npz:{directory}/own.npz', '--recipe=case_study', '--noprogress',
           '--iterations=2', '--epochs=1', '--min_steps=20', '--frozen=', '--threshold=0.9',
           '--warm_start', '--ema_decay=0.9', '--final_models=2']
  env = {**os.environ, 'JAX_COMPILATION_CACHE_DIR': str(directory / 'jax_cache'),
         'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0',
         'JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES': '-1'}
  reference = directory / 'reference'
  done = subprocess.run([sys.executable, 'run.py', *flags, f'--workdir={reference}'],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr
  return flags, reference, env


def launch(command_line, workdir, fault=None, *extra):
  flags, _, env = command_line
  head = ['benchmarks/faults.py', 'inject', fault] if fault else ['run.py']
  return subprocess.Popen([sys.executable, *head, *flags, *extra, f'--workdir={workdir}'],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)


def finish(command_line, workdir, fault=None, *extra):
  process = launch(command_line, workdir, fault, *extra)
  out, err = process.communicate(timeout=600)
  return process.returncode, out, err


@pytest.mark.slow
@pytest.mark.parametrize('fault', [
    'kill-train:2:0.05',  # Inside training.
    'kill-commit:2',  # Saving the checkpoint, before orbax commits it.
    'kill-files:2:3',  # Between the checkpoint and results.json (the other files written).
    'kill-overwrite:9',  # During --overwrite, in the middle of its checkpoints.
])
def test_killed_at_a_point_resumes_to_the_same_numbers(command_line, finished, tmp_path,
                                                       fault):
  _, reference, _ = command_line
  extra = ()
  if fault.startswith('kill-overwrite'):  # A run of other data to replace.
    tmp_path = copy(finished, tmp_path)
    extra = ('--overwrite',)
  code, _, _ = finish(command_line, tmp_path, fault, *extra)
  assert code == -signal.SIGKILL
  code, out, err = finish(command_line, tmp_path, None, *extra)
  assert code == 0 and not err, err
  if fault.startswith('kill-files'):
    assert (f'{tmp_path}: results.json disagreed with the checkpoint of iteration 2; '
            'rewrote them from it') in out
  assert_same_run(tmp_path, reference)


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_keeps_the_previous_state(command_line, restore,
                                                              tmp_path):
  _, reference, _ = command_line
  # The disk fills up as orbax commits the checkpoint of iteration 2.
  code, _, err = finish(command_line, tmp_path, 'full-commit:2')
  assert code == 2 and err == (f'run.py: error: could not write results to {tmp_path}: '
                               '[Errno 28] No space left on device\n')
  # The state of iteration 1, whole and readable.
  assert [r['iteration'] for r in comparable(tmp_path)['iterations']] == [1]
  assert restore(tmp_path).iteration == 1
  with np.load(tmp_path / 'labels.npz') as labels:
    assert labels['source'].shape == (400,)
  code, out, err = finish(command_line, tmp_path)
  assert code == 0 and f'{tmp_path}: resuming after iteration 1' in out, err
  assert_same_run(tmp_path, reference)


@pytest.mark.slow
def test_two_runs_started_together_one_runs(command_line, tmp_path):
  _, reference, _ = command_line
  processes = [launch(command_line, tmp_path) for _ in range(2)]
  outputs = [p.communicate(timeout=600) for p in processes]
  assert sorted(p.returncode for p in processes) == [0, 2]
  ran = [p.returncode for p in processes].index(0)
  out, err = outputs[1 - ran]
  assert out == '' and err == (f'run.py: error: {tmp_path} is in use by pid '
                               f'{processes[ran].pid}: run.py; wait for it to finish or use '
                               'another --workdir\n')
  assert_same_run(tmp_path, reference)
