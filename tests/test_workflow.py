"""A practitioner's path through the command line: own data, resume after a kill,
review export and manual labels, prediction, and what must be refused."""

import csv
import errno
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from pl_jax import atomic, data, loop, recipes
from runs import comparable

ROOT = os.path.join(os.path.dirname(__file__), '..')
FAST = ('--iterations=3', '--epochs=1', '--min_steps=60', '--frozen=', '--threshold=0.9',
        '--noprogress')


def command(*args):
  return [sys.executable, 'run.py', *args]


def run(*args):
  return subprocess.run(command(*args), cwd=ROOT, capture_output=True, text=True,
                        timeout=600)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(own_npz, tmp_path):
  path, _ = own_npz
  # Warm-started with a moving average: both must come back from the checkpoint.
  flags = (f'--dataset=npz:{path}', *FAST, '--warm_start', '--ema_decay=0.9')
  whole, killed = tmp_path / 'whole', tmp_path / 'killed'
  done = run(*flags, f'--workdir={whole}')
  assert done.returncode == 0, done.stderr

  process = subprocess.Popen(command(*flags, f'--workdir={killed}'), cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  results = killed / 'results.json'
  deadline = time.time() + 300
  while not (results.exists() and len(json.loads(results.read_text())['iterations']) == 1):
    assert process.poll() is None and time.time() < deadline
    time.sleep(0.05)
  time.sleep(0.5)  # Into iteration 2.
  process.send_signal(signal.SIGKILL)
  process.wait()
  # Killed in the middle of iteration 2: only iteration 1 is on disk.
  assert len(json.loads(results.read_text())['iterations']) == 1

  resumed = run(*flags, f'--workdir={killed}')
  assert resumed.returncode == 0, resumed.stderr
  assert 'resuming after iteration 1' in resumed.stdout
  assert comparable(killed) == comparable(whole)
  with np.load(whole / 'labels.npz') as a, np.load(killed / 'labels.npz') as b:
    for key in a.files:
      np.testing.assert_array_equal(a[key], b[key])
  assert (whole / 'pseudo_labels.csv').read_text() == (killed / 'pseudo_labels.csv').read_text()

  # A finished run is not redone; a run of other settings is refused, then replaced.
  again = run(*flags, f'--workdir={killed}')
  assert again.returncode == 0 and 'nothing to do' in again.stdout
  other = run(*flags, '--threshold=0.8', f'--workdir={killed}')
  assert other.returncode == 2 and other.stderr.count('\n') == 1
  assert 'holds another run (differs in: threshold)' in other.stderr
  replaced = run(*flags, '--threshold=0.8', '--overwrite', f'--workdir={killed}')
  assert replaced.returncode == 0, replaced.stderr
  assert json.loads(results.read_text())['config']['threshold'] == 0.8


@pytest.mark.slow
def test_review_manual_labels_and_predict(own_folder, tmp_path, mnist):
  from conftest import own_arrays  # pylint: disable=g-import-not-at-top
  _, true_labels = own_arrays(mnist, n_train=300, n_labeled=60, n_test=60)
  first = tmp_path / 'first'
  # One strict iteration, so that many images stay in the pool to review.
  done = run(f'--dataset=folder:{own_folder}', *FAST, '--iterations=1', '--threshold=0.9999',
             '--export_review=20', f'--workdir={first}')
  assert done.returncode == 0, done.stderr
  assert (first / 'review' / 'contact_sheet.png').read_bytes()[:4] == b'\x89PNG'
  with open(first / 'review' / 'review.csv') as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 20 and all(r['name'].startswith('unlabeled/') for r in rows)
  confidences = [float(r['confidence']) for r in rows]
  assert confidences == sorted(confidences)  # Least sure first.

  # The person fills in the truth (here: the hidden labels).
  names = ('digit0', 'digit1', 'digit7')
  for row in rows:
    row['label'] = names[true_labels[int(row['index'])]]
  with open(first / 'review' / 'review.csv', 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)

  second, kept = tmp_path / 'second', tmp_path / 'kept'
  done = run(f'--dataset=folder:{own_folder}', *FAST,
             f'--manual_labels={first}/review/review.csv', f'--workdir={second}')
  assert done.returncode == 0, done.stderr
  row = json.loads((second / 'results.json').read_text())['iterations'][0]
  assert row['n_human'] == 80 and row['n_pseudo'] == 0  # Restarted from the humans.
  done = run(f'--dataset=folder:{own_folder}', *FAST, '--keep_pseudo_labels',
             f'--manual_labels={first}/review/review.csv', f'--workdir={kept}')
  assert done.returncode == 0, done.stderr
  row = json.loads((kept / 'results.json').read_text())['iterations'][0]
  with np.load(first / 'labels.npz') as labels:
    previous_pseudo = int((labels['source'] == 2).sum())
  assert row['n_human'] == 80 and row['n_pseudo'] == previous_pseudo > 0

  done = run(f'--workdir={second}', f'--predict={own_folder}/test/digit7')
  assert done.returncode == 0, done.stderr
  with open(second / 'predictions-digit7.csv') as f:
    predictions = list(csv.DictReader(f))
  assert len(predictions) == len(os.listdir(own_folder / 'test' / 'digit7'))
  assert np.mean([p['label'] == 'digit7' for p in predictions]) > 0.8
  bad = run(f'--workdir={tmp_path}/nothing', f'--predict={own_folder}/test/digit7')
  assert bad.returncode == 2 and 'no finished run here' in bad.stderr


@pytest.mark.slow
def test_disk_full_keeps_the_previous_results(own_npz, tmp_path, monkeypatch):
  path, _ = own_npz
  dataset = data.load_dataset(f'npz:{path}')
  config = recipes.make_config('case_study', threshold=0.9, iterations=3, epochs=1,
                               min_steps=30, frozen=())
  writes = []
  real_fsync = atomic.os.fsync

  def fsync(fd):
    writes.append(fd)
    if len(writes) > 4:  # Iteration 1 wrote its 4 files; then the disk is full.
      raise OSError(errno.ENOSPC, 'No space left on device')
    real_fsync(fd)

  monkeypatch.setattr(atomic.os, 'fsync', fsync)
  with pytest.raises(OSError, match='No space left'):
    loop.self_train(dataset, config, str(tmp_path), progress=False, log=lambda _: None)
  results = json.loads((tmp_path / 'results.json').read_text())
  assert [row['iteration'] for row in results['iterations']] == [1]
  assert not [f for f in os.listdir(tmp_path) if f.startswith('.tmp')]
  with np.load(tmp_path / 'labels.npz') as labels:  # Whole, from iteration 1.
    assert (labels['iteration'] == 1).sum() == results['iterations'][0]['n_selected']
