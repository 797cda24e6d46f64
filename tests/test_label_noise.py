"""experiments/label_noise.py: the label sets it trains on, and its bad input."""

import json
import os

import pytest

from conftest import assert_one_line_error, run_script


def in_own_process(code: str):
  """Runs code that imports the script, in a process of its own (its absl flags
  share names with other experiments' that tests import); returns its printed JSON."""
  done = run_script('-c', code)
  assert done.returncode == 0, done.stderr
  return json.loads(done.stdout)


def test_both_label_sets_label_the_same_examples():
  sets = in_own_process('''
import json
import numpy as np
from experiments import label_noise
from pl_jax import select
source = np.array([select.HUMAN, select.PSEUDO, select.PSEUDO, select.NONE, select.PSEUDO])
labels = np.array([3, 1, 7, -1, 2])
true = np.array([3, 1, 2, 5, 2], np.uint8)
sets = label_noise.label_sets(labels, source, true)
print(json.dumps({k: v.tolist() for k, v in sets.items()}))
''')
  assert sets['as_labeled'] == [3, 1, 7, -1, 2]  # The run's labels, the pool -1.
  assert sets['true_labels'] == [3, 1, 2, -1, 2]  # Same examples, true labels.


@pytest.mark.parametrize('args, message', [
    pytest.param((), '--run must be finished runs', marks=pytest.mark.slow),
    (('--run={tmp}/none',), '--run must be finished runs'),
    pytest.param(('--run={run},{run}',), 'two runs of the same folder name',
                 marks=pytest.mark.slow),
    pytest.param(('--run={run}', '--variants=as_labeled,bigger'),
                 "unknown --variants ['bigger']", marks=pytest.mark.slow),
])
def test_bad_input_is_one_line(tmp_path, args, message):
  run = tmp_path / 'run'
  run.mkdir()
  (run / 'labels.npz').write_bytes(b'')  # Enough to pass for a run until used.
  args = [a.format(tmp=tmp_path, run=run) for a in args]
  assert_one_line_error(run_script('experiments/label_noise.py', *args,
                                   f'--runs_dir={tmp_path}/out', f'--benchmarks={tmp_path}/B.md',
                                   timeout=120), message)
  assert not os.path.exists(tmp_path / 'out') and not os.path.exists(tmp_path / 'B.md')
