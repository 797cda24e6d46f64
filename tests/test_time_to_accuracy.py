"""benchmarks/time_to_accuracy.py: the table from finished runs, and bad input."""

import json
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), '..')


def run_script(*args):
  return subprocess.run([sys.executable, 'benchmarks/time_to_accuracy.py', *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)


def test_seconds_to_each_mark_and_totals(tmp_path):
  rows = [{'test_accuracy': 0.96, 'wall_seconds': 40.0, 'images_trained': 1000,
           'images_scored': 70000},
          {'test_accuracy': 0.985, 'wall_seconds': 90.5, 'images_trained': 2000,
           'images_scored': 70000, 'images_trained_final_models': 500}]
  os.makedirs(tmp_path / 'runs' / 'default-s5')
  (tmp_path / 'runs' / 'default-s5' / 'results.json').write_text(json.dumps(
      {'stop_reason': 'max_iterations', 'iterations': rows, 'final_test_accuracy': 0.985,
       'wall_seconds': 150.0, 'devices': {'platform': 'gpu', 'count': 1, 'kind': 'H200',
                                          'matmul_gflops': 41234.0}}))
  done = run_script('--rows=default,case_study', '--seed=5', f'--runs_dir={tmp_path}/runs',
                    '--summarize_only', f'--benchmarks={tmp_path}/B.md')
  assert done.returncode == 0, done.stderr
  table = (tmp_path / 'B.md').read_text()
  assert 'Each run alone on this machine, on 1 gpu device (H200).' in table
  assert '| 5 | 40 s | 90 s | - | 98.50 % | 2.5 min at 41234 GFLOP/s | 3,500 | 140,000 |' in table
  assert "the case study's own PyTorch code" in table and '62.7 min' in table
  assert table.count('\n| ') == 3  # The header, the default's row, the reference row.


def test_a_changed_recipe_moves_to_its_own_seed(tmp_path):
  """--row_seeds: the default's row reads its run at seed 174, the others
  theirs at --seed, and the command above the table says so."""
  for name, seed, accuracy in (('default', 174, 0.99), ('strong', 5, 0.98)):
    os.makedirs(tmp_path / 'runs' / f'{name}-s{seed}')
    (tmp_path / 'runs' / f'{name}-s{seed}' / 'results.json').write_text(json.dumps(
        {'stop_reason': 'max_iterations', 'final_test_accuracy': accuracy,
         'wall_seconds': 60.0,
         'iterations': [{'test_accuracy': accuracy, 'wall_seconds': 50.0}]}))
  done = run_script('--rows=strong,default', '--seed=5', '--row_seeds=default:174',
                    f'--runs_dir={tmp_path}/runs', '--summarize_only',
                    f'--benchmarks={tmp_path}/B.md')
  assert done.returncode == 0, done.stderr
  table = (tmp_path / 'B.md').read_text()
  assert '--rows=strong,default --seed=5 --row_seeds=default:174' in table
  assert '| 5 | 50 s | 50 s | - | 98.00 % | 1.0 min |' in table  # No speed recorded.
  assert '| 174 | 50 s | 50 s | 50 s | 99.00 % |' in table


def test_a_recipe_not_run_keeps_its_line_as_measured_before(tmp_path):
  """From a fresh clone (no runs): --rows=default rewrites the default's row
  and keeps the strong recipe's line; the case study's, absent, stays absent."""
  os.makedirs(tmp_path / 'runs' / 'default-s185')
  (tmp_path / 'runs' / 'default-s185' / 'results.json').write_text(json.dumps(
      {'stop_reason': 'max_iterations', 'final_test_accuracy': 0.991, 'wall_seconds': 240.0,
       'iterations': [{'test_accuracy': 0.991, 'wall_seconds': 200.0}]}))
  strong = '| the recipe of 2026-11-29, 100 random labels | 74 | 126 s | 337 s | - | 98.93 % |'
  (tmp_path / 'B.md').write_text(
      '<!-- time_to_accuracy:begin -->\n| recipe | seed |\n'
      f'{strong}\n| the default command (`fast`), 100 random labels | 174 | 67 s |\n'
      '<!-- time_to_accuracy:end -->\n')
  done = run_script('--rows=default', '--seed=185', f'--runs_dir={tmp_path}/runs',
                    '--summarize_only', f'--benchmarks={tmp_path}/B.md')
  assert done.returncode == 0, done.stderr
  table = (tmp_path / 'B.md').read_text()
  assert strong in table and '| 174 |' not in table and '| 185 | 200 s | 200 s | 200 s |' in table
  assert table.index(strong) < table.index('| 185 |')  # The rows keep their order.
  assert 'case study' not in table  # Nor the reference beside it.


def test_a_tuning_seed_or_unknown_row_is_refused(tmp_path):
  for args, message in ((('--seed=101',), 'seed 101 is for tuning'),
                        (('--rows=fastest',), "unknown rows ['fastest']"),
                        (('--row_seeds=default:102',), 'seed 102 is for tuning'),
                        (('--row_seeds=default',), '--row_seeds takes ROW:SEED pairs')):
    done = run_script(*args, '--summarize_only', f'--benchmarks={tmp_path}/B.md')
    assert done.returncode == 2 and message in done.stderr
    assert not os.path.exists(tmp_path / 'B.md')
