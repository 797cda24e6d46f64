"""Wrong labels or missing examples? An oracle diagnostic of finished MNIST runs.

A run of the default recipe ends with most of the training set labeled (human
and pseudo) and a hard rest left in the pool. Its test accuracy falls short of
the fully supervised model's for two possible reasons: some pseudo-labels are
wrong, and the pool's examples are never trained on. This script separates
them. It trains the recipe's last iteration, from a fresh model, on exactly
the examples each run left labeled:

  as_labeled   with the labels the run gave them (human and pseudo);
  true_labels  with their true labels (an oracle: the pool's hidden labels).

Everything else stays unlabeled in both (scored, never trained on). The gap
between the two is the cost of the wrong pseudo-labels; the gap between
true_labels and all 60,000 labels is the cost of the examples left out.
Oracle by design: it reads the true labels, so it is a diagnostic of an
experiment and never a lever of the recipe.

The same fresh last iteration also screens levers of the last iteration
alone, without rerunning the loop (a fresh model on a run's labels does as
well as the run's own last model): other training flags on the run's labels.
See VARIANTS. (The `slack10` variant, the last selection made again with
--class_slack=0.1, can be rerun at commit 01d7d88; the `cosine` variant,
--lr_schedule=cosine, at 27226ee.)

  python experiments/label_noise.py --run=runs/tune/final20_ema-s100
  python experiments/label_noise.py --run=A,B,C --variants=as_labeled,true_labels

The data sets are written as .npz under --runs_dir/<run's name>/ and trained
by run.py (--dataset=npz:PATH --iterations=1, so the one iteration is the last
and trains --final_epochs); the table replaces the --section section of
BENCHMARKS.md.
"""

import os

import numpy as np
from absl import app, flags

from pl_jax import atomic, data, data_types, select, sweep

FLAGS = flags.FLAGS
flags.DEFINE_list('run', None, 'The workdirs of finished MNIST runs (their labels.npz).')
flags.DEFINE_string('runs_dir', 'runs/label_noise', 'Where the data sets and runs go.')
flags.DEFINE_string('data_dir', None, 'Where MNIST is cached (run.py\'s --data_dir).')
flags.DEFINE_string('benchmarks', 'BENCHMARKS.md', 'Markdown file to write the table into.')
flags.DEFINE_string('section', 'label_noise', 'The section of --benchmarks to replace.')
flags.DEFINE_list('variants', 'as_labeled,true_labels', 'Which of VARIANTS to train.')
flags.DEFINE_integer('parallel', 1, 'Runs at a time.')
flags.DEFINE_bool('summarize_only', False, 'Only rebuild the table from finished runs.')

# Each variant: (the label set it trains on, the run.py flags it adds).
VARIANTS = {
    'as_labeled': ('as_labeled', ()),
    'true_labels': ('true_labels', ()),
}


def label_sets(labels: np.ndarray, source: np.ndarray,
               true_labels: np.ndarray) -> dict[str, np.ndarray]:
  """The two label arrays, int64[N] each with -1 for the pool.

  labels, source: a run's labels.npz (the labels in use and where they came
  from); true_labels: int[N]. Both sets label exactly the same examples.
  """
  labeled = (source == select.HUMAN) | (source == select.PSEUDO)
  return {'as_labeled': np.where(labeled, labels, -1).astype(np.int64),
          'true_labels': np.where(labeled, true_labels.astype(np.int64), -1)}


def write_data_sets(run: str, run_dir: str, mnist: data_types.Dataset,
                    names) -> dict[str, tuple[int, int]]:
  """Writes run_dir/<name>.npz for the named label sets of the run; returns each
  set's (labeled examples, wrong labels) for the table."""
  labels, source = sweep.load_labels(run)
  if len(labels) != len(mnist.train_labels):
    sweep.fail('label_noise.py', f'{run} is not a run on MNIST\'s training set')
  sets = label_sets(labels, source, mnist.train_labels)
  os.makedirs(run_dir, exist_ok=True)
  counts = {}
  for name in names:
    atomic.write_npz(os.path.join(run_dir, f'{name}.npz'),
                     dict(images=mnist.train_images, labels=sets[name],
                          test_images=mnist.test_images,
                          test_labels=mnist.test_labels.astype(np.int64)))
    labeled = sets[name] >= 0
    counts[name] = (int(labeled.sum()), int((labeled & (sets[name] != mnist.train_labels)).sum()))
  return counts


def summary(runs: list[str], counts: dict[str, dict[str, tuple[int, int]]]) -> str:
  """The section's markdown: the label sets of every run, then a row per variant."""
  names = [sweep.run_name(run) for run in runs]
  lines = [
      f'## Wrong labels or missing examples? (experiments/label_noise.py: {", ".join(names)})',
      '',
      f'    python experiments/label_noise.py --run={",".join(runs)} '
      f'--variants={",".join(FLAGS.variants)}', '',
      f'Machine: {sweep.machine()}. Table written {sweep.today()}. Each run\'s labeled '
      'examples, trained by the default recipe\'s last iteration from a fresh model '
      '(run.py --iterations=1), with the label set and flags of each variant; the rest of '
      'the training set stays unlabeled. The label sets (true_labels is an oracle '
      'diagnostic):', '',
      '| label set | ' + ' | '.join(names) + ' |',
      '|---|' + '---:|' * len(names),
  ]
  for label_set in counts[names[0]]:  # The label sets the variants train on, in order.
    cells = [f'{counts[name][label_set][0]:,} labeled, {counts[name][label_set][1]:,} wrong'
             for name in names]
    lines.append(f'| {label_set} | ' + ' | '.join(cells) + ' |')
  lines += ['', '| variant | label set | flags | ' + ' | '.join(names) + ' | mean | wall min |',
            '|---|---|---|' + '---:|' * (len(names) + 2)]
  for variant in FLAGS.variants:
    label_set, flags_ = VARIANTS[variant]
    results = [sweep.load_results(os.path.join(FLAGS.runs_dir, name, variant)) for name in names]
    finished = [r if r and r.get('stop_reason') else None for r in results]
    cells = [f'{100 * r["final_test_accuracy"]:.2f} %' if r else '-' for r in finished]
    accuracies = [r['final_test_accuracy'] for r in finished if r]
    flag_cell = f'`{" ".join(flags_)}`' if flags_ else '-'
    lines.append(f'| {variant} | {label_set} | {flag_cell} | ' + ' | '.join(cells) +
                 f' | {sweep.mean_std(accuracies)} '
                 f'| {sweep.mean_minutes([r for r in finished if r])} |')
  return '\n'.join(lines)


def main(argv):
  del argv
  runs = FLAGS.run or []
  if not runs or not all(os.path.exists(os.path.join(run, 'labels.npz')) for run in runs):
    sweep.fail('label_noise.py', f'--run must be finished runs\' workdirs, got {FLAGS.run!r}')
  if len({sweep.run_name(run) for run in runs}) < len(runs):
    sweep.fail('label_noise.py', f'--run names two runs of the same folder name: {FLAGS.run!r}')
  unknown = sorted(set(FLAGS.variants) - set(VARIANTS))
  if unknown or not FLAGS.variants:
    sweep.fail('label_noise.py', f'unknown --variants {unknown}; choose from {", ".join(VARIANTS)}')
  label_set_names = list(dict.fromkeys(VARIANTS[v][0] for v in FLAGS.variants))
  try:
    mnist = data.load_dataset('mnist', FLAGS.data_dir, offline=True)
  except data_types.DataError as e:
    sweep.fail('label_noise.py', str(e))
  counts, sweep_runs = {}, []
  for run in runs:
    name = sweep.run_name(run)
    run_dir = os.path.join(FLAGS.runs_dir, name)
    counts[name] = write_data_sets(run, run_dir, mnist, label_set_names)
    seed = sweep.load_results(run)['config']['seed']
    for variant in FLAGS.variants:
      label_set, flags_ = VARIANTS[variant]
      sweep_runs.append(sweep.Run(
          os.path.join(name, variant),
          (f'--dataset=npz:{os.path.join(run_dir, label_set)}.npz', '--iterations=1',
           # One model, as a run's last iteration trains it (the default recipe
           # then trains a second on the final labels, itself a fresh last iteration).
           '--final_models=1', f'--seed={seed}', *flags_)))
  sweep.run_and_tabulate(sweep_runs, FLAGS.runs_dir, lambda: summary(runs, counts),
                         FLAGS.benchmarks, FLAGS.section, FLAGS.summarize_only, FLAGS.parallel)


if __name__ == '__main__':
  app.run(main)
