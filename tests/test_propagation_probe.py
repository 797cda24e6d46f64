"""experiments/propagation_probe.py: tuning seeds only, bad input in one line."""

import pytest

from conftest import assert_one_line_error, run_script


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
