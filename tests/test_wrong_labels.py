"""experiments/wrong_labels.py: the wrong pairs it names, its sheet, and its bad input."""

import json

import numpy as np
import pytest

from conftest import assert_one_line_error, run_script
from pl_jax import select


def test_the_commonest_wrong_pairs_and_the_human_labels_of_their_class():
  done = run_script('-c', '''
import json
import numpy as np
from experiments import wrong_labels
from pl_jax import select
H, P, N = select.HUMAN, select.PSEUDO, select.NONE
source = np.array([H, H, P, P, P, P, P, N, P])
true = np.array([1, 2, 1, 1, 1, 7, 2, 1, 2])
labels = np.array([1, 2, 2, 2, 1, 1, 2, -1, 7])
print(json.dumps(wrong_labels.wrong_pairs(labels, source, true, 10, top=2), default=list))
''')
  assert done.returncode == 0, done.stderr
  found = json.loads(done.stdout)
  # Pseudo-labels only: the pool's example (true 1) and the human ones are not counted.
  assert (found['pseudo'], found['wrong']) == (6, 4)
  assert found['pairs'] == [[1, 2, 2], [2, 7, 1]]  # Ties: the lower true class first.
  assert found['human_per_class'] == [0, 1, 1] + [0] * 7


def test_a_run_gets_its_row_and_its_sheet(tmp_path, mnist):
  run = tmp_path / 'n100-s5'
  run.mkdir()
  true = mnist.train_labels.astype(np.int64)
  source = np.full(len(true), select.PSEUDO)
  source[:100] = select.HUMAN
  labels = true.copy()
  ones = np.flatnonzero((true == 1) & (source == select.PSEUDO))[:30]
  labels[ones] = 2  # 30 ones labeled 2, 5 fours labeled 9.
  labels[np.flatnonzero((true == 4) & (source == select.PSEUDO))[:5]] = 9
  np.savez(run / 'labels.npz', labels=labels, source=source)
  benchmarks = tmp_path / 'B.md'
  benchmarks.write_text('# Benchmarks\n')
  done = run_script('experiments/wrong_labels.py', f'--run={run}', f'--sheets={tmp_path}/sheets',
                    f'--benchmarks={benchmarks}')
  assert done.returncode == 0, done.stderr
  humans = np.bincount(true[:100], minlength=10)
  row = (f'| n100-s5 | 100 | 59,900 | 35 | 1 as 2: 30, 4 as 9: 5 | 1: {humans[1]}, '
         f'4: {humans[4]} |')
  text = benchmarks.read_text()
  assert row in text and '<!-- wrong_labels:begin -->' in text
  from PIL import Image  # pylint: disable=g-import-not-at-top
  sheet = Image.open(tmp_path / 'sheets' / 'n100-s5-1as2.png')
  # Two rows of wrong ones (30 of 15 a row), then the human 1s' rows.
  cell_h = 28 * 2 + 4 + 14
  assert sheet.size[1] == (2 + -(-humans[1] // 15)) * cell_h


@pytest.mark.parametrize('args, message', [
    ((), '--run is required'),
    (('--run={tmp}/none',), 'none/labels.npz: no readable labels (FileNotFoundError)'),
    (('--run={run}',), 'run/labels.npz: no readable labels'),
    (('--run={run}', '--top=0'), '--top must be at least 1, got 0'),
])
def test_bad_input_is_one_line(tmp_path, args, message):
  run = tmp_path / 'run'
  run.mkdir()
  (run / 'labels.npz').write_bytes(b'')  # Not an npz.
  args = [a.format(tmp=tmp_path, run=run) for a in args]
  assert_one_line_error(run_script('experiments/wrong_labels.py', *args,
                                   f'--benchmarks={tmp_path}/B.md', timeout=120), message)
  assert not (tmp_path / 'B.md').exists()
