"""experiments/predict_views.py: a finished run's test accuracy over views, and bad input."""

import os
import re

import jax
import numpy as np
import pytest

from conftest import assert_one_line_error, run_script
from pl_jax import loop, score


def test_table_of_a_finished_run(small_mnist, mnist, tmp_path):
  config = loop.Config(n_labeled=300, threshold=0.5, iterations=1, epochs=1, min_steps=20,
                       max_shift=2, max_degrees=10.0)
  run = tmp_path / 'run'
  result = loop.self_train(small_mnist, config, str(run), progress=False, log=lambda _: None)
  benchmarks = tmp_path / 'BENCHMARKS.md'
  done = run_script('experiments/predict_views.py', f'--runs={run}', '--views=0,2',
                    f'--benchmarks={benchmarks}', timeout=600)
  assert done.returncode == 0, done.stderr
  row = re.search(r'^\| run \| ([\d.]+) % \| ([\d.]+) % \|$', benchmarks.read_text(), re.M)
  assert row, benchmarks.read_text()
  # K = 0 is the plain model on the whole MNIST test set.
  _, predicted, _ = jax.device_get(score.score(result.model.apply, result.params,
                                               mnist.test_images))
  assert float(row[1]) == round(100 * np.mean(predicted == mnist.test_labels), 2)


@pytest.mark.parametrize('runs, message', [
    (None, '--runs must name finished runs'),
    ('none', 'no saved model'),
])
def test_bad_input_is_one_line(tmp_path, runs, message):
  args = [f'--runs={tmp_path}/{runs}'] if runs else []
  assert_one_line_error(run_script('experiments/predict_views.py', *args,
                                   f'--benchmarks={tmp_path}/B.md'), message)
  assert not os.path.exists(tmp_path / 'B.md')
