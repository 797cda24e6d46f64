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
    (['--n_labeled=0'], '--n_labeled must be >= 1, got 0'),
    (['--n_labeled=60001'], '--n_labeled plus --validation must be at most 60000 on mnist, '
                            'got 60001'),
    (['--n_labeled=100', '--validation=59901'], '--n_labeled plus --validation must be at '
                                                'most 60000 on mnist, got 60001'),
    (['--validation=-1'], '--validation must be >= 0, got -1'),
    (['--iterations=0'], '--iterations must be >= 1'),
    (['--batch_size=0'], '--batch_size must be >= 1'),
    (['--batch_splits=3'], '--batch_size (128) must split into batch_splits=3 equal parts'),
    (['--score_views=-1'], '--score_views must be >= 0, got -1'),
    (['--ema_decay=1'], '--ema_decay must be in [0, 1), got 1.0'),
    (['--final_models=0'], '--final_models must be >= 1, got 0'),
    (['--frozen=fc7'], '--frozen must be one of conv1, conv2, fc1, fc2, got fc7'),
    (['--selection=class_share'], "--selection must be one of threshold, balanced, got "
                                  "'class_share'"),
    (['--deskew=yes'], "--deskew must be one of digits, always, never, got 'yes'"),
    (['--recipe=seed'], "--recipe must be one of fast, strong, few_labels, case_study, got 'seed'"),
    (['--dataset=cifar10'], "--dataset must be one of mnist, fashion_mnist, npz:PATH or "
                            "folder:PATH, got 'cifar10'"),
    (['--image_size=big'], "--image_size must be HxW"),
    (['--keep_pseudo_labels'], '--keep_pseudo_labels needs --manual_labels'),
    (['--export_review=-1'], '--export_review must be >= 0'),
    (['--cpu_devices=-1'], '--cpu_devices must be >= 0, got -1'),
    (['--cpu_devices=3'], '--batch_size and --score_chunk_size must split over '
                          '--cpu_devices=3'),
    (['--width=2'], "Unknown command line flag 'width'"),  # Pruned (BENCHMARKS.md).
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


@pytest.mark.slow
def test_workdir_not_writable(tmp_path):
  (tmp_path / 'file').write_text('')
  for workdir in (tmp_path / 'file', tmp_path / 'file' / 'run'):
    done = run(f'--workdir={workdir}')
    assert done.returncode == 2 and 'cannot use --workdir' in done.stderr, done.stderr
    assert done.stderr.count('\n') == 1


@pytest.mark.slow
def test_tiny_real_run(tmp_path, mnist):
  del mnist  # Downloaded and cached before the subprocess needs it.
  done = run('--n_labeled=100', '--threshold=0.5', '--iterations=1', '--epochs=1',
             '--min_steps=1', '--noprogress', f'--workdir={tmp_path}', '--cpu_devices=2',
             env={'JAX_PLATFORMS': 'cpu'})
  assert done.returncode == 0, done.stderr
  assert 'final test accuracy' in done.stdout
  results = json.loads((tmp_path / 'results.json').read_text())
  speed = results['devices'].pop('matmul_gflops')
  assert results['devices'] == {'platform': 'cpu', 'count': 2, 'kind': 'cpu', 'batch_parts': 8}
  assert 0 < speed < 1e6  # GFLOP/s, measured when the run started.
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


def test_the_flag_reference_is_current():
  """docs/flags.md is what `python run.py --flags_markdown` prints, and names
  every flag of run.py (each setting of config.Config among them)."""
  done = run('--flags_markdown')
  assert done.returncode == 0, done.stderr
  with open(os.path.join(ROOT, 'docs', 'flags.md')) as f:
    assert f.read() == done.stdout, 'regenerate: python run.py --flags_markdown > docs/flags.md'
  from pl_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  for name in config_lib.names():
    assert f'| `--{name}` |' in done.stdout, name
  assert '| `--recipe` |' in done.stdout and '| `--workdir` |' in done.stdout


def test_a_flag_default_is_the_declared_default():
  """run.py's flags come from config.Config: one default, written once."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  import run as run_py  # pylint: disable=g-import-not-at-top
  from pl_jax import config as config_lib  # pylint: disable=g-import-not-at-top
  for field in dataclasses.fields(config_lib.Config):
    default = flags.FLAGS[field.name].default
    assert (tuple(default) if isinstance(field.default, tuple) else default) == field.default
  for _, name, default, _ in run_py.RUN_OPTIONS:  # Declared once, in that table.
    assert flags.FLAGS[name].default == default
