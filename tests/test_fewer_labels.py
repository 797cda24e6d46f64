"""experiments/fewer_labels.py: fresh seeds only, the targets and the published
figures in the table, and each run's first selection by class (oracle)."""

import json
import tempfile

import pytest

from conftest import assert_one_line_error, run_script


def _fewer_labels(*args):
  with tempfile.TemporaryDirectory() as scratch:
    return run_script('experiments/fewer_labels.py', '--summarize_only',
                      f'--benchmarks={scratch}/B.md', '--runs_dir=/nonexistent', *args,
                      timeout=120)


@pytest.mark.slow
def test_tuning_seeds_and_unknown_recipes_are_refused():
  done = _fewer_labels('--seeds=131,0101')
  assert done.returncode == 2 and 'seed 101 is for tuning' in done.stderr
  assert_one_line_error(_fewer_labels('--recipe=magic'), '--recipe must be one of')


def test_the_table_has_every_target_and_the_published_figures():
  done = _fewer_labels('--recipe=few_labels', '--seeds=141,142,143')
  assert done.returncode == 0, done.stderr
  for row in ('50 (5 per class) | 99.0 %', '20 (2 per class) | 98.7 %',
              '10 (1 per class) | 97.0 %'):
    assert f'| {row} | 0/3 | - | - | - | - |  |' in done.stdout  # No number without a run.
  assert 'python experiments/fewer_labels.py --recipe=few_labels --seeds=141,142,143' in (
      done.stdout)
  assert '| SNTG (Luo et al. 2018, "Smooth Neighbors on Teacher Graphs") | - | 98.64 % |' in (
      done.stdout)


@pytest.mark.slow
def test_each_seed_shows_how_many_first_pseudo_labels_were_right(tmp_path):
  run = tmp_path / 'n20-s131'
  run.mkdir()
  first = {'test_accuracy': 0.70, 'train_label_accuracy': 1.0,
           'n_selected_per_class': [100, 0, 50] + [0] * 7,
           'selected_correct_per_class': [99, 0, 20] + [0] * 7}
  last = {'test_accuracy': 0.95, 'train_label_accuracy': 0.97}
  (run / 'results.json').write_text(json.dumps({
      'stop_reason': 'max_iterations', 'wall_seconds': 720, 'recipe': {'seed': 131},
      'iterations': [first, last]}))
  done = _fewer_labels('--rows=n20', '--seeds=131', f'--runs_dir={tmp_path}')
  assert done.returncode == 0, done.stderr
  assert ('| 20 (2 per class) | 98.7 % | 1/1 | 95.00 % | 95.00 % | 97.00 % | 12.0 '
          '| 131: 95.00 %, 12.0 min; first pseudo-labels right 79.3 %, worst 2: 40.0 % of 50 |'
          ) in done.stdout
  # A propagated start's pseudo-labels are the run's first, not the first model's.
  results = json.loads((run / 'results.json').read_text())
  results['propagation'] = {'n_selected_per_class': [10] * 10,
                            'selected_correct_per_class': [10] * 9 + [5], 'seconds': 20.0}
  (run / 'results.json').write_text(json.dumps(results))
  done = _fewer_labels('--rows=n20', '--seeds=131', f'--runs_dir={tmp_path}')
  assert 'first pseudo-labels right 95.0 %, worst 9: 50.0 % of 10 |' in done.stdout
