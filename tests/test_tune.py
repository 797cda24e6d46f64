"""experiments/tune.py and the sweep runner it uses (sweep.run_all)."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from pl_jax import sweep

ROOT = os.path.join(os.path.dirname(__file__), '..')


def _tune_constants() -> tuple[list, dict]:
  """tune.py's COMMON and VARIANTS, read in a process of their own: its absl
  flags share names with ablation.py's, which other tests import."""
  done = subprocess.run(
      [sys.executable, '-c', 'import json; from experiments import tune; '
       'print(json.dumps([tune.COMMON, tune.VARIANTS]))'],
      cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
  return json.loads(done.stdout)


def _run_py_flags() -> list[str]:
  """Every flag run.py defines (the settings' are made from config.Config)."""
  done = subprocess.run(
      [sys.executable, '-c', 'import json, run; from absl import flags; '
       'print(json.dumps([f.name for f in flags.FLAGS.get_flags_for_module(run)]))'],
      cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
  return json.loads(done.stdout)


def test_every_variant_uses_run_py_flags_only_and_never_a_seed():
  known = set(_run_py_flags())
  common, variants = _tune_constants()
  assert variants['strong'] == ['--recipe=strong']
  for variant, variant_flags in variants.items():
    for flag in (*common, *variant_flags):
      name = flag[2:].split('=')[0]
      name = name[2:] if name.startswith('no') and name[2:] in known else name
      assert name in known, (variant, flag)
      assert name != 'seed', variant  # The tuning seed alone is used.


def _fake_run(calls, fail=()):
  """Stands in for subprocess.run of run.py: writes a finished results.json."""
  def run(command, check):
    del check
    workdir = next(a.split('=', 1)[1] for a in command if a.startswith('--workdir='))
    calls.append(os.path.basename(workdir))
    if os.path.basename(workdir) in fail:
      return type('Done', (), {'returncode': 1})()
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, 'results.json'), 'w') as f:
      json.dump({'stop_reason': 'max_iterations'}, f)
    return type('Done', (), {'returncode': 0})()
  return run


@pytest.mark.parametrize('parallel', [1, 3])
def test_run_all_runs_the_unfinished_runs_and_records_their_time(tmp_path, monkeypatch,
                                                                  parallel):
  runs = [sweep.Run(f'r{i}', ('--seed=1',)) for i in range(5)]
  os.makedirs(tmp_path / 'r2')
  (tmp_path / 'r2' / 'results.json').write_text(json.dumps({'stop_reason': 'pool_empty'}))
  calls = []
  monkeypatch.setattr(sweep.subprocess, 'run', _fake_run(calls))
  sweep.run_all(runs, str(tmp_path), log=lambda _: None, parallel=parallel)
  assert sorted(calls) == ['r0', 'r1', 'r3', 'r4']  # r2 was finished.
  for name in calls:
    assert sweep.load_results(str(tmp_path / name))['wall_seconds'] >= 0
  assert 'wall_seconds' not in sweep.load_results(str(tmp_path / 'r2'))


def test_run_all_stops_at_a_failed_run(tmp_path, monkeypatch):
  runs = [sweep.Run(f'r{i}', ()) for i in range(4)]
  calls = []
  monkeypatch.setattr(sweep.subprocess, 'run', _fake_run(calls, fail={'r1'}))
  with pytest.raises(SystemExit, match='r1 failed with exit code 1'):
    sweep.run_all(runs, str(tmp_path), log=lambda _: None)
  assert calls == ['r0', 'r1']  # Nothing started after the failure.


def test_only_tuning_seeds_are_taken(tmp_path):
  done = subprocess.run([sys.executable, 'experiments/tune.py', '--seeds=100,0',
                         f'--runs_dir={tmp_path}/runs', '--summarize_only',
                         f'--benchmarks={tmp_path}/b.md'], cwd=ROOT, capture_output=True,
                        text=True, timeout=120)
  assert done.returncode == 2
  assert "seeds ['0'] are not tuning seeds (100, 101, 102)" in done.stderr
  assert not os.path.exists(tmp_path / 'b.md')


@pytest.mark.parametrize('seeds', ['0', '0100,7', '-1', 'x'])
def test_seeds_are_compared_as_integers(tmp_path, seeds):
  done = subprocess.run([sys.executable, 'experiments/tune.py', f'--seeds={seeds}',
                         f'--runs_dir={tmp_path}/runs', '--summarize_only',
                         f'--benchmarks={tmp_path}/b.md'], cwd=ROOT, capture_output=True,
                        text=True, timeout=120)
  assert done.returncode == 2 and done.stderr.count('\n') == 1, done.stderr
  assert not os.path.exists(tmp_path / 'b.md')
  done = subprocess.run([sys.executable, 'experiments/targets.py', '--seeds=5,0100',
                         '--summarize_only', f'--benchmarks={tmp_path}/b.md'], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)
  assert done.returncode == 2 and 'seed 100 is for tuning' in done.stderr


def _finished_run(workdir, row):
  """A finished run's results.json in workdir, its one iteration `row`."""
  os.makedirs(workdir)
  (workdir / 'results.json').write_text(json.dumps(
      {'stop_reason': 'max_iterations', 'iterations': [row], 'wall_seconds': 250.0}))


def _summarize(tmp_path, *args):
  """tune.py --summarize_only over tmp_path/runs, writing tmp_path/b.md."""
  return subprocess.run([sys.executable, 'experiments/tune.py', *args,
                         f'--runs_dir={tmp_path}/runs', '--summarize_only',
                         f'--benchmarks={tmp_path}/b.md'], cwd=ROOT, capture_output=True,
                        text=True, timeout=120)


def test_tuning_cannot_read_the_test_set(tmp_path):
  """Every tuning run holds out the validation split and leaves the test split
  unread, and the table reads validation accuracy only: results without any
  test figure tabulate."""
  common, variants = _tune_constants()
  assert '--notest_split' in common and '--validation=10000' in common
  assert not any(flag.startswith(('--test_split', '--validation'))
                 for flags in variants.values() for flag in flags)
  row = {'validation_accuracy': 0.99, 'train_label_accuracy': 0.995, 'wall_seconds': 240.0}
  for seed in ('100', '101'):
    _finished_run(tmp_path / 'runs' / f'fast-s{seed}', row)
  done = _summarize(tmp_path, '--variants=fast', '--seeds=100,101')
  assert done.returncode == 0, done.stderr
  table = (tmp_path / 'b.md').read_text()
  assert '| fast |' in table and '99.00 +- 0.00 %' in table and 'test' not in table.split(
      '| variant |')[1]


def test_the_table_keeps_the_variants_run_before(tmp_path):
  """Summarizing (or running) one variant keeps the rows of the others that
  finished in runs_dir, and the command above the table names them all."""
  row = {'validation_accuracy': 0.98, 'train_label_accuracy': 0.99, 'wall_seconds': 60.0}
  for name in ('strong-s100', 'fast-s101'):
    _finished_run(tmp_path / 'runs' / name, row)
  done = _summarize(tmp_path, '--variants=fast', '--seeds=101')
  assert done.returncode == 0, done.stderr
  table = (tmp_path / 'b.md').read_text()
  assert '--variants=strong,fast --seeds=100,101,102' in table
  assert '| strong | `--recipe=strong` | 100 |' in table and '| fast |' in table
  # A fresh clone has no runs of the strong recipe: its row stays as measured,
  # where the fast recipe's is rebuilt from its runs; a row of neither is dropped.
  shutil.rmtree(tmp_path / 'runs' / 'strong-s100')
  strong = '| strong | `--recipe=strong` | 100 | 98.12 % | measured before |'
  (tmp_path / 'b.md').write_text(table.replace(
      table[table.index('| strong |'):table.index('\n', table.index('| strong |'))], strong)
      .replace('| fast |', '| fast | stale |\n| removed_variant |'))
  done = _summarize(tmp_path, '--variants=fast', '--seeds=101')
  assert done.returncode == 0, done.stderr
  table = (tmp_path / 'b.md').read_text()
  assert strong in table and table.index(strong) < table.index('| fast |')
  assert '--variants=strong,fast ' in table and 'stale' not in table and 'removed' not in table


@pytest.mark.slow
def test_a_run_without_the_test_split_records_validation_only(tmp_path, mnist):
  del mnist  # Cached before the subprocess needs it.
  done = subprocess.run(
      [sys.executable, 'run.py', '--recipe=case_study', '--n_labeled=100', '--iterations=1',
       '--min_steps=5', '--validation=10000', '--notest_split', '--noprogress',
       f'--workdir={tmp_path}'], cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr
  [row] = json.loads((tmp_path / 'results.json').read_text())['iterations']
  assert row['test_accuracy'] is None and row['test_calibration'] is None
  assert 0 < row['validation_accuracy'] <= 1
  assert row['n_train'] + row['pool_size'] == 50000
