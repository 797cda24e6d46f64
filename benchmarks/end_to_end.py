"""The seed recipe's full run, timed end to end and split by phase.

  python benchmarks/end_to_end.py                       # 1,000 labels, 0.99, 10 iterations
  python benchmarks/end_to_end.py --iterations=2        # a shorter look

The run is the case study's (experiments/case_study.py, row n1000), in a
temporary workdir so checkpoints and result files are written as in any run.
Phases: loading the data set; compiling (tracing, lowering, XLA); training and
scoring with compilation taken out; and bookkeeping, the rest of the loop:
selection bookkeeping, metrics, checkpoints, result files. The table replaces
the `end_to_end` section of BENCHMARKS.md.
"""

import tempfile
import time

from absl import app, flags, logging

from pl_jax import data, loop, recipes, sharding, sweep, timing

FLAGS = flags.FLAGS
flags.DEFINE_integer('n_labeled', 1000, 'Labeled examples (the case study: 1,000).')
flags.DEFINE_integer('iterations', 10, 'Iterations (the case study: 10).')
flags.DEFINE_integer('seed', 0, 'Seed.')
flags.DEFINE_integer('batch_splits', 1, 'As run.py\'s flag: each batch in this many parts.')
flags.DEFINE_string('benchmarks', 'BENCHMARKS.md', 'Markdown file to write the table into '
                    '(empty: print only).')
flags.DEFINE_integer('cpu_devices', 0, 'As run.py\'s flag: split a CPU host into this many '
                     'JAX devices; 0: JAX\'s own choice.')


def split(load_seconds: float, loop_seconds: float, compile_seconds: float,
          rows: list[dict]) -> dict[str, float]:
  """Seconds per phase; they add up to load + loop time."""
  train_seconds = sum(row['train_seconds'] for row in rows)
  score_seconds = sum(row['score_seconds'] for row in rows)
  return {'data loading': load_seconds, 'compilation': compile_seconds,
          'training': train_seconds, 'scoring': score_seconds,
          'bookkeeping': loop_seconds - compile_seconds - train_seconds - score_seconds}


def table(phases: dict[str, float], record: dict) -> str:
  total = sum(phases.values())
  rows = record['iterations']
  lines = [
      '## End to end: the seed recipe timed (benchmarks/end_to_end.py)', '',
      f'    python benchmarks/end_to_end.py --n_labeled={FLAGS.n_labeled} '
      f'--iterations={FLAGS.iterations} --seed={FLAGS.seed} --batch_splits={FLAGS.batch_splits}',
      '',
      f'Machine: {sweep.machine()}. Measured {sweep.today()}. The run: {FLAGS.n_labeled} '
      f'labels, threshold 0.99, {len(rows)} iterations of 10 epochs, batch 64 (in '
      f'{FLAGS.batch_splits} part(s)), fresh model '
      f'each iteration, on {record["devices"]["count"]} '
      f'{record["devices"]["platform"]} device(s); '
      f'test accuracy {100 * rows[0]["test_accuracy"]:.2f} % -> '
      f'{100 * rows[-1]["test_accuracy"]:.2f} %, '
      f'{sum(row["epochs"] for row in rows)} epochs over '
      f'{sum(row["n_train"] * row["epochs"] for row in rows):,} training images in all.', '',
      '| phase | seconds | share |', '|---|---:|---:|',
      *(f'| {name} | {seconds:.1f} | {100 * seconds / total:.1f} % |'
        for name, seconds in phases.items()),
      f'| **total** | **{total:.1f}** ({total / 60:.1f} min) | 100 % |',
  ]
  return '\n'.join(lines)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO.
  # The case study's recipe exactly (no step floor).
  config = recipes.make_config('case_study', n_labeled=FLAGS.n_labeled, threshold=0.99,
                               iterations=FLAGS.iterations, min_steps=0, seed=FLAGS.seed,
                               batch_splits=FLAGS.batch_splits)
  sharding.split_cpu_host(FLAGS.cpu_devices)
  start = time.perf_counter()
  dataset = data.load_dataset('mnist')
  load_seconds = time.perf_counter() - start
  with tempfile.TemporaryDirectory() as workdir, timing.CompileClock() as compiling:
    start = time.perf_counter()
    record = loop.self_train(dataset, config, workdir).record
    loop_seconds = time.perf_counter() - start
  text = table(split(load_seconds, loop_seconds, compiling.seconds, record['iterations']),
               record)
  if FLAGS.benchmarks:
    sweep.replace_section(FLAGS.benchmarks, 'end_to_end', text)
  print(text)


if __name__ == '__main__':
  app.run(main)
