"""Sweeps the confidence threshold for one n_labeled, several seeds a threshold.

  python experiments/sweep_threshold.py --n_labeled=100 --thresholds=0.5,0.9,0.99
  python experiments/sweep_threshold.py --n_labeled=100 --random=30   # as the case study
  python experiments/sweep_threshold.py ... --shard=0/2     # half the runs (other: 1/2)
  python experiments/sweep_threshold.py ... --extra=--iterations=3,--epochs=2
  python experiments/sweep_threshold.py ... --dry_run       # print the plan only

Every run is an ordinary run.py run in runs_dir/n<n_labeled>-t<threshold>-s<seed>;
rerunning skips finished runs. At the end the sweep report (report.md and
figures, pl_jax/sweep_report.py) over every run of the plan that has results, from any
shard, is written into runs_dir.
"""

import os

from absl import app, flags
import numpy as np

from pl_jax import report, sweep
from pl_jax import sweep_report

# The case study drew its thresholds uniformly from this range.
RANDOM_RANGE = (0.5, 0.9999)
# Set by the sweep itself for every run, so not accepted in --extra.
SWEEP_FLAGS = ('--n_labeled', '--threshold', '--seed', '--workdir', '--recipe')

FLAGS = flags.FLAGS
flags.DEFINE_integer('n_labeled', 1000, 'Number of human labels, the same for every run.')
flags.DEFINE_list('thresholds', ['0.5', '0.8', '0.9', '0.95', '0.99', '0.999', '0.9999'],
                  'Threshold grid (ignored with --random).')
flags.DEFINE_integer('random', 0, f'If > 0: this many thresholds drawn uniformly from '
                     f'[{RANDOM_RANGE[0]}, {RANDOM_RANGE[1]}] instead of the grid.')
flags.DEFINE_integer('random_seed', 0, 'Seed of the --random draws.')
flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds per threshold.')
flags.DEFINE_string('recipe', 'case_study', 'run.py recipe of every run (the case study\'s by '
                    'default, whatever run.py\'s default becomes).')
flags.DEFINE_list('extra', [], 'More run.py flags for every run, comma-separated '
                  '(e.g. --iterations=3,--epochs=2); a value cannot contain a comma.')
flags.DEFINE_string('runs_dir', 'runs/sweep_threshold', 'Where the runs go.')
flags.DEFINE_string('shard', '0/1', 'Run only every k-th run from the i-th: i/k.')
flags.DEFINE_bool('summarize_only', False, 'Only rebuild the reports from existing runs.')
flags.DEFINE_bool('dry_run', False, 'Print the planned runs (this shard) and exit.')


def random_thresholds(count: int, seed: int) -> list[float]:
  """`count` uniform draws from RANDOM_RANGE, sorted, rounded to 6 decimals (so
  run names and flags are short and exact). The draws come one after the other
  from one generator, so a larger count keeps every threshold of a smaller one:
  a sweep can be extended and still resumes."""
  draws = np.random.default_rng(seed).uniform(*RANDOM_RANGE, size=count)
  return sorted(round(float(t), 6) for t in draws)


def planned_runs(n_labeled: int, thresholds: list[float], seeds: list[int],
                 extra: list[str], recipe: str = 'case_study') -> list[sweep.Run]:
  # Seed-major, so an interrupted sweep already covers every threshold.
  return [sweep.Run(f'n{n_labeled}-t{threshold}-s{seed}',
                    (f'--recipe={recipe}', f'--n_labeled={n_labeled}',
                     f'--threshold={threshold}', f'--seed={seed}', *extra))
          for seed in seeds for threshold in thresholds]


def plan_errors(thresholds: list[float], extra: list[str]) -> list[str]:
  """What is wrong with the plan, checked before anything runs."""
  errors = [f'thresholds must be in (0, 1), got {t}' for t in thresholds if not 0 < t < 1]
  errors += [f'--extra cannot set {name}, the sweep sets it'
             for name in (flag.split('=')[0] for flag in extra) if name in SWEEP_FLAGS]
  if len(set(thresholds)) < len(thresholds):
    errors.append('thresholds repeat')
  return errors


def plan() -> list[sweep.Run]:
  """The whole sweep (every shard) from the flags; exits with code 2 if it is wrong."""
  try:
    thresholds = (random_thresholds(FLAGS.random, FLAGS.random_seed) if FLAGS.random > 0
                  else [float(t) for t in FLAGS.thresholds])
    seeds = [int(seed) for seed in FLAGS.seeds]
  except ValueError as e:
    sweep.fail('sweep_threshold.py', f'bad --thresholds or --seeds: {e}')
  errors = plan_errors(thresholds, FLAGS.extra)
  if errors:
    sweep.fail('sweep_threshold.py', '; '.join(errors))
  return planned_runs(FLAGS.n_labeled, thresholds, seeds, FLAGS.extra, FLAGS.recipe)


def write_reports(runs: list[sweep.Run], runs_dir: str) -> str | None:
  """Each run's report where it is missing or older than its results (runs from
  before run.py wrote reports, or another shard's), then the sweep report."""
  run_dirs = [os.path.join(runs_dir, run.name) for run in runs]
  run_dirs = [d for d in run_dirs if os.path.exists(os.path.join(d, 'results.json'))]
  if not run_dirs:
    return None
  for run_dir in run_dirs:
    report_md = os.path.join(run_dir, 'report.md')
    if (not os.path.exists(report_md) or os.path.getmtime(report_md)
        < os.path.getmtime(os.path.join(run_dir, 'results.json'))):
      report.write_run_report(run_dir)
  return sweep_report.write_sweep_report(run_dirs, runs_dir)


def main(argv):
  if len(argv) > 1:
    sweep.fail('sweep_threshold.py', f'unexpected arguments: {" ".join(argv[1:])}')
  runs = plan()
  try:
    mine = sweep.shard(runs, FLAGS.shard)
  except ValueError as e:
    sweep.fail('sweep_threshold.py', str(e))
  if FLAGS.dry_run:
    for run in mine:
      print(run.name, ' '.join(run.flags))
    return
  if not FLAGS.summarize_only:
    sweep.run_all(mine, FLAGS.runs_dir)
  path = write_reports(runs, FLAGS.runs_dir)
  done = sum(sweep.is_finished(os.path.join(FLAGS.runs_dir, run.name)) for run in runs)
  print(f'{done} of {len(runs)} planned runs finished; '
        + (f'sweep report: {path}' if path else f'no results under {FLAGS.runs_dir} yet'))


if __name__ == '__main__':
  app.run(main)
