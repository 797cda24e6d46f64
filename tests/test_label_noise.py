"""experiments/label_noise.py: the label sets it trains on, and its bad input."""

import json
import os

import numpy as np
import pytest

from conftest import assert_one_line_error, run_script
from pl_jax import loop, select


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


@pytest.mark.parametrize('revise', [True, False])
def test_reselection_repeats_the_runs_last_selection(small_mnist, tmp_path, revise):
  # The default recipe's selection (balanced, with a curriculum) at a low
  # threshold, so that the equal share per class is what binds (1,140 of the
  # 1,900 candidates in iteration 2 with revise).
  config = loop.Config(n_labeled=100, threshold=0.5, iterations=2, epochs=1, min_steps=40,
                       frozen=(), selection='balanced', curriculum_step=0.3, revise=revise)
  run = tmp_path / 'run'
  loop.self_train(small_mnist, config, str(run), progress=False, log=lambda _: None)
  labels = in_own_process(f'''
import json
from experiments import label_noise
print(json.dumps({{name: label_noise.reselected_labels({str(run)!r}, 10, **changes).tolist()
                  for name, changes in [('same', {{}}), ('slack', dict(class_slack=0.5))]}}))
''')
  with np.load(run / 'labels.npz') as f:
    own = np.where(f['source'] != select.NONE, f['labels'], -1)
  same, slack = np.array(labels['same']), np.array(labels['slack'])
  np.testing.assert_array_equal(same, own)
  # A larger share per class takes more, and the same labels where both take one.
  assert (slack >= 0).sum() > (same >= 0).sum()
  both = (same >= 0) & (slack >= 0)
  np.testing.assert_array_equal(slack[both], same[both])
  assert ((same >= 0) <= (slack >= 0)).all()


@pytest.mark.parametrize('args, message', [
    ((), '--run must be finished runs'),
    (('--run={tmp}/none',), '--run must be finished runs'),
    (('--run={run},{run}',), 'two runs of the same folder name'),
    (('--run={run}', '--variants=as_labeled,bigger'), "unknown --variants ['bigger']"),
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
