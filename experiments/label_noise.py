"""Wrong labels or missing examples? An oracle diagnostic of a finished MNIST run.

A run of the default recipe ends with most of the training set labeled (human
and pseudo) and a hard rest left in the pool. Its test accuracy falls short of
the fully supervised model's for two possible reasons: some pseudo-labels are
wrong, and the pool's examples are never trained on. This script separates
them. It trains the recipe's last iteration, from a fresh model, twice on
exactly the examples the run left labeled:

  as_labeled   with the labels the run gave them (human and pseudo);
  true_labels  with their true labels (an oracle: the pool's hidden labels).

Everything else stays unlabeled in both (scored, never trained on). The gap
between the two is the cost of the wrong pseudo-labels; the gap between
true_labels and all 60,000 labels is the cost of the examples left out.
Oracle by design: it reads the true labels, so it is a diagnostic of an
experiment and never a lever of the recipe.

  python experiments/label_noise.py --run=runs/tune/final20_ema-s100

The two data sets are written as .npz under --runs_dir and trained by run.py
(--dataset=npz:PATH --iterations=1, so the one iteration is the last and
trains --final_epochs); the table replaces the `label_noise` section of
BENCHMARKS.md.
"""

import os
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pl_jax import atomic, data, select, sweep  # pylint: disable=g-import-not-at-top,wrong-import-position

FLAGS = flags.FLAGS
flags.DEFINE_string('run', None, 'The workdir of a finished MNIST run (its labels.npz).')
flags.DEFINE_string('runs_dir', 'runs/label_noise', 'Where the data sets and runs go.')
flags.DEFINE_string('data_dir', None, 'Where MNIST is cached (run.py\'s --data_dir).')
flags.DEFINE_string('benchmarks', 'BENCHMARKS.md', 'Markdown file to write the table into.')
flags.DEFINE_integer('parallel', 1, 'Runs at a time.')
flags.DEFINE_bool('summarize_only', False, 'Only rebuild the table from finished runs.')

VARIANTS = ('as_labeled', 'true_labels')


def label_sets(labels: np.ndarray, source: np.ndarray,
               true_labels: np.ndarray) -> dict[str, np.ndarray]:
  """The two label arrays, int64[N] each with -1 for the pool.

  labels, source: a run's labels.npz (the labels in use and where they came
  from); true_labels: int[N]. Both sets label exactly the same examples.
  """
  labeled = source != select.NONE
  return {'as_labeled': np.where(labeled, labels, -1).astype(np.int64),
          'true_labels': np.where(labeled, true_labels.astype(np.int64), -1)}


def write_data_sets(run: str, runs_dir: str, data_dir: str | None) -> dict[str, int]:
  """Writes runs_dir/<variant>.npz for both variants; returns counts for the table."""
  with np.load(os.path.join(run, 'labels.npz')) as f:
    labels, source = f['labels'], f['source']
  mnist = data.load_dataset('mnist', data_dir, offline=True)
  if len(labels) != len(mnist.train_labels):
    raise SystemExit(f'label_noise.py: error: {run} is not a run on MNIST\'s training set')
  sets = label_sets(labels, source, mnist.train_labels)
  os.makedirs(runs_dir, exist_ok=True)
  for name, variant_labels in sets.items():
    atomic.write_npz(os.path.join(runs_dir, f'{name}.npz'),
                     dict(images=mnist.train_images, labels=variant_labels,
                          test_images=mnist.test_images,
                          test_labels=mnist.test_labels.astype(np.int64)))
  # Both sets hold -1 in the pool, so they differ only where a label is wrong.
  return {'labeled': int((sets['as_labeled'] >= 0).sum()),
          'wrong': int((sets['as_labeled'] != sets['true_labels']).sum())}


def summary(run: str, counts: dict[str, int]) -> str:
  lines = [
      '## Wrong labels or missing examples? (experiments/label_noise.py)', '',
      f'    python experiments/label_noise.py --run={run}', '',
      f'Machine: {sweep.machine()}. Table written {sweep.today()}. The run\'s '
      f'{counts["labeled"]:,} labeled examples ({counts["wrong"]:,} of their labels wrong), '
      'trained by the default recipe\'s last iteration from a fresh model, with the run\'s '
      'labels and with their true labels (an oracle diagnostic); the rest of the training '
      'set stays unlabeled in both.', '',
      '| labels | test accuracy | wall min |',
      '|---|---:|---:|',
  ]
  for variant in VARIANTS:
    r = sweep.load_results(os.path.join(FLAGS.runs_dir, variant))
    if r and r.get('stop_reason'):
      lines.append(f'| {variant} | {100 * r["final_test_accuracy"]:.2f} % '
                   f'| {sweep.mean_minutes([r])} |')
  return '\n'.join(lines)


def main(argv):
  del argv
  if not FLAGS.run or not os.path.exists(os.path.join(FLAGS.run, 'labels.npz')):
    print(f'label_noise.py: error: --run must be a finished run\'s workdir, got {FLAGS.run!r}',
          file=sys.stderr)
    sys.exit(2)
  try:
    counts = write_data_sets(FLAGS.run, FLAGS.runs_dir, FLAGS.data_dir)
  except data.DataError as e:
    print(f'label_noise.py: error: {e}', file=sys.stderr)
    sys.exit(2)
  seed = sweep.load_results(FLAGS.run)['config']['seed']
  runs = [sweep.Run(variant, (f'--dataset=npz:{os.path.join(FLAGS.runs_dir, variant)}.npz',
                              '--iterations=1', f'--seed={seed}'))
          for variant in VARIANTS]
  sweep.run_and_tabulate(runs, FLAGS.runs_dir, lambda: summary(FLAGS.run, counts),
                         FLAGS.benchmarks, 'label_noise', FLAGS.summarize_only, FLAGS.parallel)


if __name__ == '__main__':
  app.run(main)
