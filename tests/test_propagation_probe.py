"""experiments/propagation_probe.py: the validation figures, and tuning seeds only."""

import numpy as np
import pytest

from conftest import assert_one_line_error, run_script
from experiments import propagation_probe


def test_validation_figures_give_accuracy_and_the_worst_class():
  true = np.array([0, 0, 1, 1, 2, 2, 2, 2])
  predicted = np.array([0, 0, 1, 0, 2, 2, 2, 1])
  accuracy, worst_recall, worst = propagation_probe.validation_figures(predicted, true, 3)
  assert accuracy == pytest.approx(6 / 8)
  assert (worst, worst_recall) == (1, pytest.approx(0.5))


@pytest.mark.slow
@pytest.mark.parametrize('args, message', [
    (('--seeds=100,161',), '--seeds must be tuning seeds (100, 101, 102), got 100,161'),
    (('--embeddings=pixels,hog',), "unknown --embeddings ['hog']"),
    (('--n_labeled=15',), '--n_labeled must be multiples of 10 (per class), got [15]'),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
  assert_one_line_error(run_script('experiments/propagation_probe.py', *args,
                                   f'--benchmarks={tmp_path}/B.md'), message)
  assert not (tmp_path / 'B.md').exists()
