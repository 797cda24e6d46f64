"""experiments/ablation.py: each row is the row above plus one lever."""

import os
import subprocess
import sys

from experiments import ablation

ROOT = os.path.join(os.path.dirname(__file__), '..')


def test_rows_add_one_lever_each_and_later_values_win():
  rows = list(ablation.ROWS.values())
  assert rows[0][0] == ('--recipe=case_study', '--min_steps=0')
  for (before, _), (after, _), (_, lever, _) in zip(rows, rows[1:], ablation.LEVERS[1:]):
    assert set(lever) <= set(after)
    assert {f.split('=')[0] for f in after} == ({f.split('=')[0] for f in before}
                                                | {f.split('=')[0] for f in lever})
  assert ablation.ROWS['steps'][0].count('--min_steps=1500') == 1
  assert '--min_steps=0' not in ablation.ROWS['steps'][0]


def test_the_tuning_seeds_are_refused(tmp_path):
  done = subprocess.run([sys.executable, 'experiments/ablation.py', '--seeds=0,100',
                         '--summarize_only', f'--benchmarks={tmp_path}/B.md'], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)
  assert done.returncode == 2 and 'seed 100 is for tuning' in done.stderr
