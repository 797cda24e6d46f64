"""Reproduces the case study's table (SEED.md) with its recipe, several seeds a row.

  python experiments/case_study.py                 # 3 seeds, all rows
  python experiments/case_study.py --shard=0/2     # half the runs (another machine: 1/2)
  python experiments/case_study.py --summarize_only

Every run is an ordinary run.py run in runs_dir/<row>-s<seed>; rerunning skips
finished runs. The summary (mean +- std over the finished seeds) replaces the
`case_study` section of BENCHMARKS.md.
"""

from absl import app, flags

from pl_jax import sweep

# The case study's recipe: fresh model, Adam 1e-3, batch 64, 10 epochs, threshold
# 0.99, 10 iterations, no augmentation, fc1 never trained (as its code does).
CASE_STUDY = ('--recipe=case_study', '--threshold=0.99', '--iterations=10', '--epochs=10',
              '--batch_size=64', '--learning_rate=0.001', '--frozen=fc1', '--nowarm_start')
ROWS = {
    # name: (n_labeled, extra flags, what it is)
    'n1000': (1000, ('--min_steps=0',), 'the case study, exactly'),
    'n100': (100, ('--min_steps=0',), 'the case study, exactly (20 steps at iteration 1)'),
    'n100-min160': (100, ('--min_steps=160',), 'as above, at least 160 steps per iteration'),
    'n60000': (60000, ('--min_steps=0',), 'fully supervised reference'),
}

FLAGS = flags.FLAGS
flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds per row.')
# n100-min160 is ours, not the case study's: it shows what a step floor alone buys.
flags.DEFINE_list('rows', ['n1000', 'n100', 'n60000'], f'Rows to run, of {", ".join(ROWS)}.')
flags.DEFINE_string('runs_dir', 'runs/case_study', 'Where the runs go.')
flags.DEFINE_string('shard', '0/1', 'Run only every k-th run from the i-th: i/k.')
flags.DEFINE_string('benchmarks', 'BENCHMARKS.md', 'Markdown file to write the table into.')
flags.DEFINE_bool('summarize_only', False, 'Only rebuild the table from finished runs.')


def planned_runs() -> list[sweep.Run]:
  return sweep.grid(FLAGS.rows, FLAGS.seeds,
                    lambda row: (f'--n_labeled={ROWS[row][0]}', *CASE_STUDY, *ROWS[row][1]))


def summary() -> str:
  lines = sweep.table_head(
      'Reproduction of the case study (experiments/case_study.py)',
      f'python experiments/case_study.py --seeds={",".join(FLAGS.seeds)}',
      'MNIST test accuracy, '
      'mean +- std over the finished seeds. The case study: 1,000 labels 90.73 % -> '
      '95.60 % (its code run here: 90.66 % -> 95.51 %, 96.19 % correct train labels); '
      '100 labels 19.87 %, then nothing above 0.99; 60,000 labels 98.52 %.',
      '| row | n_labeled | seeds done | iterations | test acc. iteration 1 | test acc. last '
      '| gain | train labels correct (last) | wall min |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|')
  for row in FLAGS.rows:
    done = sweep.finished_results(FLAGS.runs_dir, row, FLAGS.seeds)
    first = [r['iterations'][0]['test_accuracy'] for r in done]
    last = [r['iterations'][-1]['test_accuracy'] for r in done]
    labels = [r['iterations'][-1]['train_label_accuracy'] for r in done]
    n_iterations = sorted({len(r['iterations']) for r in done})
    gain = sweep.mean_std([b - a for a, b in zip(first, last)], ' points')
    lines.append(
        f'| {row} ({ROWS[row][2]}) | {ROWS[row][0]} | {len(done)}/{len(FLAGS.seeds)} | '
        f'{"/".join(map(str, n_iterations)) or "-"} | {sweep.mean_std(first)} | '
        f'{sweep.mean_std(last)} | {gain} | '
        f'{sweep.mean_std(labels)} | {sweep.mean_minutes(done)} |')
  return '\n'.join(lines)


def main(argv):
  del argv
  sweep.tabulate_shard('case_study.py', 'case_study', ROWS, planned_runs, summary, FLAGS)


if __name__ == '__main__':
  app.run(main)
