"""The command line: bad input gets one line and exit code 2; a tiny real run works."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), '..')


def run(*args, env=None):
  return subprocess.run([sys.executable, 'run.py', *args], cwd=ROOT, capture_output=True,
                        text=True, timeout=600, env={**os.environ, **(env or {})})


@pytest.mark.parametrize('args,message', [
    (['--threshold=1.5'], '--threshold must be in (0, 1), got 1.5'),
    (['--threshold=0'], '--threshold must be in (0, 1)'),
    (['--n_labeled=0'], '--n_labeled must be in [1, 60000]'),
    (['--n_labeled=60001'], '--n_labeled must be in [1, 60000]'),
    (['--iterations=0'], '--iterations must be >= 1'),
    (['--batch_size=0'], '--batch_size must be >= 1'),
    (['--width=0'], '--width must be >= 1, got 0'),
    (['--batch_splits=3'], '--batch_size (plus --human_per_batch) must split into '
                           '--batch_splits=3 equal parts'),
    (['--batch_splits=2', '--consistency_weight=1'], '--batch_splits needs the consistency term off'),
    (['--score_views=-1'], '--score_views must be >= 0, got -1'),
    (['--predict_views=-1'], '--predict_views must be >= 0, got -1'),
    (['--gce_q=1.5'], '--gce_q must be in [0, 1], got 1.5'),
    (['--max_share=0'], '--max_share must be in (0, 1], got 0.0'),
    (['--class_slack=-0.1'], '--class_slack must be >= 0, got -0.1'),
    (['--ema_decay=1'], '--ema_decay must be in [0, 1), got 1.0'),
    (['--final_models=0'], '--final_models must be >= 1, got 0'),
    (['--freeze=fc7'], '--freeze takes layers of conv1, conv2, fc1, fc2, got fc7'),
    (['--dataset=cifar10'], "--dataset must be one of mnist, fashion_mnist, npz:PATH or "
                            "folder:PATH, got 'cifar10'"),
    (['--image_size=big'], "--image_size must be HxW"),
    (['--keep_pseudo_labels'], '--keep_pseudo_labels needs --manual_labels'),
    (['--export_review=-1'], '--export_review must be >= 0'),
    (['--cpu_devices=-1'], '--cpu_devices must be >= 0, got -1'),
    (['--cpu_devices=3'], '--batch_size and --score_chunk_size must split over '
                          '--cpu_devices=3'),
    (['--consistency_threshold=1.5'], '--consistency_threshold must be in (0, 1), got 1.5'),
    (['--unlabeled_ratio=0'], '--unlabeled_ratio must be >= 1'),
    (['--strong_cutout=-2'], '--strong_cutout must be >= 0'),
    (['--lr_schedule=step'], "flag --lr_schedule=step: value should be one of"),
    (['--process_id=1'], '--coordinator_address, --num_processes and --process_id need '
                         '--distributed'),
    (['--threshold=high'], 'could not convert'),
    (['--no_such_flag=1'], "Unknown command line flag 'no_such_flag'"),
])
def test_bad_flags(args, message, tmp_path):
  done = run(*args, f'--workdir={tmp_path}/run')
  assert done.returncode == 2
  assert done.stderr.count('\n') == 1 and message in done.stderr, done.stderr
  assert not os.path.exists(tmp_path / 'run')  # Nothing touched.


def test_no_data_source(tmp_path):
  done = run('--offline', f'--data_dir={tmp_path}', f'--workdir={tmp_path}/run')
  assert done.returncode == 2
  assert done.stderr.count('\n') == 1 and 'could not load mnist; tried tfds' in done.stderr


def test_workdir_not_writable(tmp_path):
  (tmp_path / 'file').write_text('')
  for workdir in (tmp_path / 'file', tmp_path / 'file' / 'run'):
    done = run(f'--workdir={workdir}')
    assert done.returncode == 2 and 'cannot use --workdir' in done.stderr, done.stderr
    assert done.stderr.count('\n') == 1


def test_tiny_real_run(tmp_path, mnist):
  del mnist  # Downloaded and cached before the subprocess needs it.
  done = run('--n_labeled=100', '--threshold=0.5', '--iterations=1', '--epochs=1',
             '--min_steps=1', '--noprogress', f'--workdir={tmp_path}', '--cpu_devices=2',
             env={'JAX_PLATFORMS': 'cpu'})
  assert done.returncode == 0, done.stderr
  assert 'final test accuracy' in done.stdout
  results = json.loads((tmp_path / 'results.json').read_text())
  assert results['devices'] == {'platform': 'cpu', 'count': 2, 'kind': 'cpu'}
  assert results['config']['threshold'] == 0.5 and results['config']['dataset'] == 'mnist'
  [row] = results['iterations']
  assert row['n_train'] == 100 and row['pool_size'] == 59900
  assert results['stop_reason'] == ('max_iterations' if row['n_selected'] else 'no_new_labels')
  assert results['final_test_accuracy'] == row['test_accuracy'] > 0.1


def test_malformed_own_data_is_one_line(tmp_path):
  import numpy as np  # pylint: disable=g-import-not-at-top
  np.savez(tmp_path / 'bad.npz', images=np.full((4, 12, 12), np.nan, np.float32),
           labels=np.array([0, 1, -1, -1]))
  done = run(f'--dataset=npz:{tmp_path}/bad.npz', f'--workdir={tmp_path}/run')
  assert done.returncode == 2 and done.stderr.count('\n') == 1
  assert 'images contain NaN' in done.stderr
  assert not os.path.exists(tmp_path / 'run')  # Nothing half-written.


def test_every_flag_is_in_the_readme():
  import re  # pylint: disable=g-import-not-at-top
  source = open(os.path.join(ROOT, 'run.py')).read()
  readme = open(os.path.join(ROOT, 'README.md')).read()
  names = re.findall(r"flags\.DEFINE_\w+\(\s*'(\w+)'", source)
  assert len(names) > 30
  missing = [name for name in names if f'--{name}' not in readme]
  assert not missing, f'flags missing from README.md: {missing}'
