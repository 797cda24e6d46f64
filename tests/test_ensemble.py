"""experiments/ensemble.py: the mean softmax of finished runs' models, and bad input."""

import os
import re

import jax
import numpy as np
import pytest

from conftest import assert_one_line_error, run_script
from pl_jax import loop, recipes


@pytest.mark.slow
def test_table_of_a_group_on_its_validation_split(mnist, tmp_path):
  results = []
  for seed in (0, 1):
    config = recipes.make_config('case_study', n_labeled=300, threshold=0.5, iterations=1,
                                 epochs=1, min_steps=20, seed=seed, validation=1000)
    results.append(loop.self_train(mnist, config, str(tmp_path / f's{seed}'),
                                   progress=False, log=lambda _: None))
  benchmarks = tmp_path / 'BENCHMARKS.md'
  done = run_script('experiments/ensemble.py', f'--groups={tmp_path}/s0+{tmp_path}/s1',
                    f'--benchmarks={benchmarks}', timeout=600)
  assert done.returncode == 0, done.stderr
  row = re.search(r'^\| \S+/s0 \+ \S+/s1 \| ([\d.]+) / ([\d.]+) % \| ([\d.]+) % \| ([\d.]+) % '
                  r'\| ([+-][\d.]+) points \|$', benchmarks.read_text(), re.M)
  assert row, benchmarks.read_text()
  # The same numbers from the models directly, on the 1,000 held-out examples
  # (the last of the training set), never on the test set.
  images, labels = mnist.train_images[-1000:], mnist.train_labels[-1000:]
  softmax = [np.asarray(jax.nn.softmax(r.model.apply({'params': r.params}, images)))
             for r in results]
  alone = [100 * np.mean(np.argmax(p, -1) == labels) for p in softmax]
  together = 100 * np.mean(np.argmax(np.mean(softmax, 0), -1) == labels)
  assert [r.record['iterations'][-1]['validation_accuracy'] for r in results] == pytest.approx(
      [a / 100 for a in alone], abs=1e-12)
  assert [float(row[1]), float(row[2])] == [round(a, 2) for a in alone]
  assert float(row[4]) == round(together, 2)
  assert abs(float(row[5]) - (together - np.mean(alone))) < 0.006


@pytest.mark.parametrize('groups, message', [
    pytest.param(None, '--groups must name groups of two or more', marks=pytest.mark.slow),
    pytest.param('{tmp}/a', '--groups must name groups of two or more',
                 marks=pytest.mark.slow),
    ('{tmp}/a+{tmp}/b', 'no readable labels.npz'),
    ('{tmp}/empty+{tmp}/b', 'empty: no readable labels.npz (EOFError)'),
])
def test_bad_input_is_one_line(tmp_path, groups, message):
  (tmp_path / 'empty').mkdir()
  (tmp_path / 'empty' / 'labels.npz').write_bytes(b'')
  args = [f'--groups={groups.format(tmp=tmp_path)}'] if groups else []
  assert_one_line_error(run_script('experiments/ensemble.py', *args,
                                   f'--benchmarks={tmp_path}/B.md'), message)
  assert not os.path.exists(tmp_path / 'B.md')
