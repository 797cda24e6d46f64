"""Fewer labels: MNIST test accuracy from 50, 20 and 10 labels drawn at random
within each class (--stratified), over fresh seeds, beside the published
semi-supervised figures at the same label counts.

  python experiments/fewer_labels.py --recipe=fast                 # seeds 131-133
  python experiments/fewer_labels.py --recipe=few_labels --seeds=151,152,153
  python experiments/fewer_labels.py --rows=n20 --seeds=131 --summarize_only

Every run is an ordinary run.py run (--recipe, threshold 0.99) in
runs_dir/<row>-s<seed>; rerunning skips finished runs. The table replaces the
`fewer_labels_<recipe>` section of BENCHMARKS.md (a table per recipe). The
tuning seeds (100-102) are refused. Seeds 131-133 (the default), 141-143 and
151-153 were chosen before their first run and never run before: the fast
recipe's table ran on the first; the first few_labels recipe (a gentler
curriculum), chosen on validation while that table's runs went on, on the
second; the few_labels recipe with a propagated start on the third, and with
that start deskewed (propagate.deskew) on 161-163. Each run's
first selection by class (how many of its first pseudo-labels are right, an
oracle diagnostic; a propagated start's where there is one) is in the table
beside it.
"""

from absl import app, flags

from pl_jax import config as config_lib
from pl_jax import metrics, recipes, sweep

# row: (run.py flags, what it is, the target test accuracy).
ROWS = {
    'n50': (('--n_labeled=50', '--stratified'), '50 (5 per class)', 0.990),
    'n20': (('--n_labeled=20', '--stratified'), '20 (2 per class)', 0.987),
    'n10': (('--n_labeled=10', '--stratified'), '10 (1 per class)', 0.970),
}

# Published MNIST test accuracy at these label counts (100 - the reported
# error), as issue 23 lists them; '-' where the paper reports none.
ANCHORS = (
    ('Improved GAN (Salimans et al. 2016, "Improved Techniques for Training GANs")',
     {'n20': '83.23 %', 'n50': '97.79 %', 'n100': '99.07 %'}),
    ('Triple-GAN (Li et al. 2017, "Triple Generative Adversarial Nets")',
     {'n20': '95.19 %', 'n50': '98.44 %', 'n100': '99.09 %'}),
    ('Ladder + norm-projection (Huang et al.)',
     {'n20': '97.48 %', 'n50': '98.94 %', 'n100': '99.09 %'}),
    ('SNTG (Luo et al. 2018, "Smooth Neighbors on Teacher Graphs")', {'n20': '98.64 %'}),
    ('Bad GAN (Dai et al. 2017, "Good Semi-supervised Learning that Requires a Bad GAN")',
     {'n100': '99.21 %'}),
)
ANCHOR_COLUMNS = ('n10', 'n20', 'n50', 'n100')

FLAGS = flags.FLAGS
flags.DEFINE_string('recipe', recipes.DEFAULT, f'Recipe, of {", ".join(recipes.RECIPES)}.')
flags.DEFINE_list('seeds', ['131', '132', '133'], 'Seeds per row (not a tuning seed).')
flags.DEFINE_list('rows', list(ROWS), f'Rows to run, of {", ".join(ROWS)}.')
flags.DEFINE_string('runs_dir', 'runs/fewer_labels', 'Where the runs go.')
flags.DEFINE_integer('parallel', 1, 'Runs at a time (wall times are then shared).')
flags.DEFINE_string('benchmarks', 'BENCHMARKS.md', 'Markdown file to write the table into.')
flags.DEFINE_bool('summarize_only', False, 'Only rebuild the table from finished runs.')


def planned_runs() -> list[sweep.Run]:
  return sweep.grid(FLAGS.rows, FLAGS.seeds, lambda row: (
      f'--recipe={FLAGS.recipe}', *ROWS[row][0], '--threshold=0.99'))


def first_selection(result: dict) -> str:
  """How many of the run's first pseudo-labels are right (oracle), and the
  class whose are worst, e.g. '97.1 %, worst 4: 61.0 % of 1,198'."""
  selected, correct = metrics.first_selection(result)
  if not selected or correct is None or not sum(selected):
    return 'not recorded'
  shares = [(c / n, k, n) for k, (n, c) in enumerate(zip(selected, correct)) if n]
  worst, k, n = min(shares)
  return f'{100 * sum(correct) / sum(selected):.1f} %, worst {k}: {100 * worst:.1f} % of {n:,}'


def each_seed(results: list[dict]) -> str:
  """Per seed: final test accuracy, wall minutes and the first selection."""
  def one(r):
    minutes = f', {r["wall_seconds"] / 60:.1f} min' if 'wall_seconds' in r else ''
    return (f'{r["recipe"]["seed"]}: {100 * r["iterations"][-1]["test_accuracy"]:.2f} %'
            f'{minutes}; first pseudo-labels right {first_selection(r)}')
  return '<br>'.join(one(r) for r in results)


def summary() -> str:
  lines = sweep.table_head(
      f'Fewer labels, the {FLAGS.recipe} recipe (experiments/fewer_labels.py)',
      f'python experiments/fewer_labels.py --recipe={FLAGS.recipe} '
      f'--seeds={",".join(FLAGS.seeds)}',
      f'`--recipe={FLAGS.recipe}`, threshold 0.99, labels drawn at random within each class '
      '(`--stratified`). MNIST test accuracy after the last iteration, and the share of '
      'correct training labels then (an oracle diagnostic), mean +- std over the finished '
      'seeds; the tuning seeds are not among them. Wall minutes are per run, '
      f'{FLAGS.parallel} run(s) at a time on this machine. Each seed also shows how many '
      'of its first pseudo-labels were right, and its worst predicted class (oracle).',
      '| labels | target | seeds done | test accuracy (last) | best iteration | '
      'train labels correct (last) | wall min | each seed |',
      '|---|---:|---:|---:|---:|---:|---:|---|')
  for row in FLAGS.rows:
    done = sweep.finished_results(FLAGS.runs_dir, row, FLAGS.seeds)
    lines.append(f'| {ROWS[row][1]} | {100 * ROWS[row][2]:.1f} % | '
                 f'{len(done)}/{len(FLAGS.seeds)} | {sweep.outcome_cells(done)} | '
                 f'{each_seed(done)} |')
  lines += ['', 'Published MNIST test accuracy at these label counts (100 minus the '
            'reported error; as listed in issue 23; "-": not reported). IIC (Ji et al. '
            '2019, "Invariant Information Clustering") reports 99.3 % with no labels, '
            'by clustering alone.', '',
            '| method | 10 | 20 | 50 | 100 |', '|---|---:|---:|---:|---:|']
  lines += [f'| {name} | ' + ' | '.join(figures.get(c, '-') for c in ANCHOR_COLUMNS) + ' |'
            for name, figures in ANCHORS]
  return '\n'.join(lines)


def main(argv):
  del argv
  try:
    recipes.make_config(FLAGS.recipe)  # Refuses an unknown recipe, naming the known ones.
  except config_lib.ConfigError as e:
    sweep.fail('fewer_labels.py', f'--{e}')
  FLAGS.seeds = sweep.check_rows_and_seeds('fewer_labels.py', FLAGS.rows, ROWS, FLAGS.seeds)
  sweep.run_and_tabulate(planned_runs(), FLAGS.runs_dir, summary, FLAGS.benchmarks,
                         f'fewer_labels_{FLAGS.recipe}', FLAGS.summarize_only, FLAGS.parallel)


if __name__ == '__main__':
  app.run(main)
