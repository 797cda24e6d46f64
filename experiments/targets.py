"""The default recipe against the targets of "Beyond the seed": MNIST test
accuracy over fresh seeds for 100 stratified labels, 100 random labels (the
default command's draw), 1,000 labels and all 60,000.

  python experiments/targets.py                       # every row, seeds 196, 197, 198
  python experiments/targets.py --rows=n100 --seeds=196 --parallel=2
  python experiments/targets.py --summarize_only

Every run is an ordinary run.py run (the default recipe, threshold 0.99) in
runs_dir/<row>-s<seed>; rerunning skips finished runs. The table replaces the
`targets` section of BENCHMARKS.md; a row not named by --rows keeps its line as
BENCHMARKS.md has it. The tuning seeds (100-102) are refused. The
default seeds, 196-198, are the current table's: chosen before their first run and
never tuned on. A new report needs seeds never run before: every seed named in
BENCHMARKS.md has been.
"""

from absl import app, flags

from pl_jax import recipes, sweep

# row: (run.py flags, what it is, the target test accuracy).
ROWS = {
    'n100_stratified': (('--n_labeled=100', '--stratified'), '100 (10 per class)', 0.991),
    'n100': (('--n_labeled=100',), '100 (random, the default command)', 0.990),
    'n1000': (('--n_labeled=1000',), '1,000 (random)', 0.993),
    'n60000': (('--n_labeled=60000',), '60,000 (all)', 0.995),
}

FLAGS = flags.FLAGS
flags.DEFINE_list('seeds', ['196', '197', '198'], 'Seeds per row (not a tuning seed).')
flags.DEFINE_list('rows', list(ROWS), f'Rows to run, of {", ".join(ROWS)}.')
flags.DEFINE_string('runs_dir', 'runs/targets', 'Where the runs go.')
flags.DEFINE_integer('parallel', 1, 'Runs at a time (wall times are then shared).')
flags.DEFINE_string('benchmarks', 'BENCHMARKS.md', 'Markdown file to write the table into.')
flags.DEFINE_bool('summarize_only', False, 'Only rebuild the table from finished runs.')


def planned_runs() -> list[sweep.Run]:
  return sweep.grid(FLAGS.rows, FLAGS.seeds, lambda row: (
      f'--recipe={recipes.DEFAULT}', *ROWS[row][0], '--threshold=0.99'))


def summary() -> str:
  lines = sweep.table_head(
      'The default recipe against the targets (experiments/targets.py)',
      f'python experiments/targets.py --seeds={",".join(FLAGS.seeds)}'
      + ('' if set(FLAGS.rows) == set(ROWS) else f' --rows={",".join(FLAGS.rows)}'),
      f'`--recipe={recipes.DEFAULT}` '
      '(the default), threshold 0.99. MNIST test accuracy after the last iteration, and the '
      'share of correct training labels then (an oracle diagnostic), mean +- std over the '
      f'finished seeds; the tuning seeds ({", ".join(map(str, sweep.TUNING_SEEDS))}) are not '
      'among them. Wall minutes are '
      f'per run, {FLAGS.parallel} run(s) at a time on this machine. Where a run ends with '
      'several models that predict by their mean (`--final_models`), the last column is '
      'the last iteration\'s model alone.',
      '| labels | target | seeds done | test accuracy (last) | best iteration | '
      'train labels correct (last) | wall min | last model alone | each seed |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---|')
  for row in ROWS:
    if row not in FLAGS.rows:  # Not run now: its row as measured before, if any.
      lines.extend(sweep.earlier_rows(FLAGS.benchmarks, 'targets', ROWS[row][1]))
      continue
    done = sweep.finished_results(FLAGS.runs_dir, row, FLAGS.seeds)
    lines.append(
        f'| {ROWS[row][1]} | {100 * ROWS[row][2]:.1f} % | {len(done)}/{len(FLAGS.seeds)} '
        f'| {sweep.outcome_cells(done)} | {last_model_alone(done)} | {each_seed(done)} |')
  return '\n'.join(lines)


def each_seed(results: list[dict]) -> str:
  """Every seed's final test accuracy and wall minutes, e.g. '71: 99.05 % (4.6 min)'."""
  minutes = lambda r: f' ({r["wall_seconds"] / 60:.1f} min)' if 'wall_seconds' in r else ''
  return ', '.join(f'{r["recipe"]["seed"]}: {100 * r["iterations"][-1]["test_accuracy"]:.2f} %'
                   f'{minutes(r)}' for r in results)


def last_model_alone(results: list[dict]) -> str:
  """The last iteration's model's own test accuracy, where a run ended with
  several final models (mean +- std; '-' for runs without)."""
  return sweep.mean_std([r['iterations'][-1].get('test_accuracy_last_model')
                         for r in results])


def main(argv):
  del argv
  FLAGS.seeds = sweep.check_rows_and_seeds('targets.py', FLAGS.rows, ROWS, FLAGS.seeds)
  sweep.run_and_tabulate(planned_runs(), FLAGS.runs_dir, summary, FLAGS.benchmarks, 'targets',
                         FLAGS.summarize_only, FLAGS.parallel)


if __name__ == '__main__':
  app.run(main)
