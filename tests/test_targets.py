"""experiments/targets.py: the default recipe on fresh seeds, never the tuning seed."""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(__file__), '..')


def _targets(*args):
  with tempfile.TemporaryDirectory() as scratch:
    return subprocess.run([sys.executable, 'experiments/targets.py', '--summarize_only',
                           f'--benchmarks={scratch}/B.md', '--runs_dir=/nonexistent', *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_tuning_seeds_are_refused():
  done = _targets('--seeds=0,100')
  assert done.returncode == 2 and 'seed 100 is for tuning (100, 101, 102)' in done.stderr
  done = _targets('--seeds=1,102')
  assert done.returncode == 2 and 'seed 102 is for tuning' in done.stderr


def test_the_table_has_every_target_and_no_number_without_a_run():
  done = _targets()
  assert done.returncode == 0, done.stderr
  for row in ('100 (10 per class) | 99.1 %', '100 (random, the default command) | 99.0 %',
              '1,000 (random) | 99.3 %', '60,000 (all) | 99.5 %'):
    assert f'| {row} | 0/3 | - | - | - | - | - |  |' in done.stdout
  assert 'seeds=196,197,198' in done.stdout


def test_the_table_shows_the_last_model_alone_beside_the_final_models(tmp_path):
  for seed, (together, alone) in enumerate([(0.9935, 0.9925), (0.9931, 0.9931)]):
    run = tmp_path / f'n1000-s{seed}'
    run.mkdir()
    (run / 'results.json').write_text(json.dumps({
        'stop_reason': 'max_iterations', 'wall_seconds': 600, 'recipe': {'seed': seed},
        'iterations': [{'test_accuracy': together, 'train_label_accuracy': 0.998,
                        'test_accuracy_last_model': alone}]}))
  done = _targets('--seeds=0,1', '--rows=n1000', f'--runs_dir={tmp_path}')
  assert done.returncode == 0, done.stderr
  assert ('| 1,000 (random) | 99.3 % | 2/2 | 99.33 +- 0.03 % | 99.33 +- 0.03 % '
          '| 99.80 +- 0.00 % | 10.0 | 99.28 +- 0.04 % '
          '| 0: 99.35 % (10.0 min), 1: 99.31 % (10.0 min) |') in done.stdout


def test_a_row_not_run_keeps_its_line_as_measured_before(tmp_path):
  """--rows=n1000 rebuilds that row and keeps the others' lines as BENCHMARKS.md
  has them (runs do not travel with a clone); the command above says which rows."""
  run = tmp_path / 'runs' / 'n1000-s5'
  run.mkdir(parents=True)
  (run / 'results.json').write_text(json.dumps({
      'stop_reason': 'max_iterations', 'wall_seconds': 600, 'recipe': {'seed': 5},
      'iterations': [{'test_accuracy': 0.993, 'train_label_accuracy': 0.998}]}))
  full = '| 60,000 (all) | 99.5 % | 3/3 | 99.57 +- 0.03 % | measured before |'
  (tmp_path / 'b.md').write_text(
      f'<!-- targets:begin -->\n{full}\n| 1,000 (random) | 99.3 % | 3/3 | stale |\n'
      '<!-- targets:end -->\n')
  done = subprocess.run([sys.executable, 'experiments/targets.py', '--summarize_only',
                         f'--benchmarks={tmp_path}/b.md', f'--runs_dir={tmp_path}/runs',
                         '--seeds=5', '--rows=n1000'], cwd=ROOT, capture_output=True,
                        text=True, timeout=120)
  assert done.returncode == 0, done.stderr
  table = (tmp_path / 'b.md').read_text()
  assert full in table and 'stale' not in table and '| 1,000 (random) | 99.3 % | 1/1 |' in table
  assert table.index('| 1,000') < table.index(full)  # In the order of the targets.
  assert '--seeds=5 --rows=n1000' in table and '100 (10 per class)' not in table
