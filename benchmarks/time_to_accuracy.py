"""Time to accuracy: the case study's recipe, the strong recipe and the default,
side by side, each run alone (one after the other) on this machine.

  python benchmarks/time_to_accuracy.py --seed=74
  python benchmarks/time_to_accuracy.py --rows=default --seed=74    # one recipe
  python benchmarks/time_to_accuracy.py --seed=74 --row_seeds=default:174

Per recipe: the seconds from the start of its loop to the end of the first
iteration whose MNIST test accuracy reaches 95 %, 98 % and 99 % (each row of
results.json records its wall seconds), the final test accuracy, the whole
command's wall time (process start, data loading and compilation included), and
the images trained and scored. Beside them, the case study's own PyTorch code
on this machine (../shared/SEED.md). Every run is an ordinary run.py run in
runs_dir/<row>-s<seed>; rerunning skips finished runs (their times stand as
measured). The table replaces the `time_to_accuracy` section of BENCHMARKS.md.
When a recipe changes, its row moves to a fresh seed (--row_seeds) and the
others keep their runs, or, where runs_dir does not hold them (a fresh clone),
their line as BENCHMARKS.md has it.
"""

from absl import app, flags

from pl_jax import recipes, sweep

ROWS = {
    # name: (flags, what it is)
    'case_study': (('--recipe=case_study', '--n_labeled=1000', '--threshold=0.99'),
                   "the case study's recipe, 1,000 labels, 10 iterations"),
    'strong': (('--recipe=strong', '--n_labeled=100', '--threshold=0.99'),
               'the recipe of 2026-11-29, 100 random labels'),
    'default': ((f'--recipe={recipes.DEFAULT}', '--n_labeled=100', '--threshold=0.99'),
                f'the default command (`{recipes.DEFAULT}`), 100 random labels'),
}
MARKS = (0.95, 0.98, 0.99)
# The case study's PyTorch code, 1,000 labels, 10 iterations, run on this
# machine's kind (../shared/SEED.md, "The reference code, run here").
REFERENCE = ("| the case study's own PyTorch code, 1,000 labels, 10 iterations "
             '(SEED.md, on the 2-core CPU) | - | - | - | - | 95.51 % | 62.7 min | - | - |')

FLAGS = flags.FLAGS
flags.DEFINE_list('rows', list(ROWS), f'Recipes to run, of {", ".join(ROWS)}.')
flags.DEFINE_integer('seed', 74, 'The seed of every run (not a tuning seed; 74 was '
                     'never run before this benchmark).')
flags.DEFINE_list('row_seeds', [], 'ROW:SEED pairs: rows run at another seed than --seed '
                  '(a recipe that changed, on a fresh seed).')
flags.DEFINE_string('runs_dir', 'runs/time_to_accuracy', 'Where the runs go.')
flags.DEFINE_string('benchmarks', 'BENCHMARKS.md', 'Markdown file to write the table into.')
flags.DEFINE_bool('summarize_only', False, 'Only rebuild the table from finished runs.')


def seconds_to(rows: list[dict], mark: float) -> float | None:
  """Loop seconds at the end of the first iteration with test accuracy >= mark."""
  for row in rows:
    if row.get('test_accuracy') is not None and row['test_accuracy'] >= mark:
      return row.get('wall_seconds')
  return None


def total(rows: list[dict], name: str) -> int | None:
  """A per-iteration count summed over the run (final models' training too)."""
  if any(name not in row for row in rows):
    return None
  extra = sum(row.get(f'{name}_final_models', 0) for row in rows)
  return sum(row[name] for row in rows) + extra


def seeds_of_rows() -> dict[str, str]:
  """Each row's seed: --seed, or the one --row_seeds gives it. Exits with code 2
  and one line for a malformed pair, an unknown row or a tuning seed."""
  pairs = [pair.split(':') for pair in FLAGS.row_seeds]
  if any(len(pair) != 2 for pair in pairs):
    sweep.fail('time_to_accuracy.py', f'--row_seeds takes ROW:SEED pairs, got '
               f'{",".join(FLAGS.row_seeds)}')
  given = dict(pairs)
  seeds = sweep.check_rows_and_seeds(
      'time_to_accuracy.py', [*FLAGS.rows, *given], ROWS,
      [given.get(name, str(FLAGS.seed)) for name in FLAGS.rows])
  return dict(zip(FLAGS.rows, seeds))


def table_row(name: str, seed: str, results: dict) -> str:
  rows = results['iterations']
  cell = lambda seconds: '-' if seconds is None else f'{seconds:.0f} s'
  count = lambda value: '-' if value is None else f'{value:,}'
  return (f'| {ROWS[name][1]} | {seed} | '
          + ' | '.join(cell(seconds_to(rows, m)) for m in MARKS)
          + f' | {100 * results["final_test_accuracy"]:.2f} % '
          f'| {results["wall_seconds"] / 60:.1f} min{at_speed(results)} '
          f'| {count(total(rows, "images_trained"))} '
          f'| {count(total(rows, "images_scored"))} |')


def at_speed(results: dict) -> str:
  """' at 197 GFLOP/s': the machine's speed when the run started
  (timing.matmul_flops), where the run recorded it."""
  speed = results.get('devices', {}).get('matmul_gflops')
  return '' if speed is None else f' at {speed:.0f} GFLOP/s'


def devices_of(results: list[dict]) -> str:
  """'1 cpu device', '1 gpu device (NVIDIA H200)': what the runs ran on."""
  found = sorted({(r['devices']['count'], r['devices']['platform'], r['devices'].get('kind'))
                  for r in results if 'devices' in r})
  return ', '.join(f'{count} {platform} device{"s" * (count > 1)}'
                   + (f' ({kind})' if kind and platform != 'cpu' else '')
                   for count, platform, kind in found) or 'devices not recorded'


def summary() -> str:
  seeds = seeds_of_rows()
  runs = {name: sweep.load_results(f'{FLAGS.runs_dir}/{name}-s{seeds[name]}')
          for name in ROWS if name in seeds}
  moved = [f'{name}:{seed}' for name, seed in seeds.items() if seed != str(FLAGS.seed)]
  lines = sweep.table_head(
      'Time to accuracy (benchmarks/time_to_accuracy.py)',
      f'python benchmarks/time_to_accuracy.py --rows={",".join(FLAGS.rows)} '
      f'--seed={FLAGS.seed}' + (f' --row_seeds={",".join(moved)}' if moved else ''),
      f'Each run alone on this machine, on {devices_of([r for r in runs.values() if r])}. '
      'Seconds from '
      'the start of the loop to the end of the first iteration that reaches each MNIST '
      'test accuracy ("-": never); the final test accuracy; the whole command\'s wall time '
      '(start-up, data loading and compilation included), at the speed the machine had '
      'when the run started (a 1024 x 1024 float32 matrix product, as measured: this '
      'machine\'s speed varies from day to day); images trained (examples times '
      'epochs, final models included) and scored (views, test and validation included).',
      '| recipe | seed | to 95 % | to 98 % | to 99 % | final test accuracy | wall '
      '| images trained | images scored |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|')
  for name in ROWS:
    results = runs.get(name)
    if results and results.get('stop_reason') and 'wall_seconds' in results:
      lines.append(table_row(name, seeds[name], results))
    elif name not in seeds:  # Not run now: its row as measured before, if any.
      lines.extend(sweep.earlier_rows(FLAGS.benchmarks, 'time_to_accuracy', ROWS[name][1]))
  if 'case_study' in seeds or any(line.startswith(f'| {ROWS["case_study"][1]} |')
                                  for line in lines):
    lines.append(REFERENCE)
  return '\n'.join(lines)


def main(argv):
  del argv
  runs = [sweep.Run(f'{name}-s{seed}', (*ROWS[name][0], f'--seed={seed}'))
          for name, seed in seeds_of_rows().items()]
  sweep.run_and_tabulate(runs, FLAGS.runs_dir, summary, FLAGS.benchmarks, 'time_to_accuracy',
                         FLAGS.summarize_only)


if __name__ == '__main__':
  app.run(main)
