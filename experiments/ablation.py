"""The ablation of the "beyond the seed" levers: from the case study's recipe,
one lever added per row, several seeds a row, 100 stratified labels.

  python experiments/ablation.py                       # every row, seeds 0, 1, 2
  python experiments/ablation.py --rows=seed,augment --seeds=0
  python experiments/ablation.py --shard=0/2           # half the runs (other: 1/2)
  python experiments/ablation.py --summarize_only

Every run is an ordinary run.py run in runs_dir/<row>-s<seed>; rerunning skips
finished runs. The table (mean +- std over the finished seeds of the final test
accuracy and of the share of correct training labels) replaces the `ablation`
section of BENCHMARKS.md. Seed 100 was used for tuning: keep it out of --seeds.
"""

from absl import app, flags

from pl_jax import sweep

COMMON = ('--n_labeled=100', '--stratified', '--threshold=0.99', '--iterations=8')
# Each row is the previous one plus one lever: (name, flags added, what it adds).
LEVERS = (
    ('case_study', ('--recipe=case_study', '--min_steps=0'), "the case study's recipe exactly"),
    ('steps', ('--epochs=1', '--min_steps=1500'), 'at least 1,500 steps per iteration'),
    ('all_layers', ('--frozen=',), 'every layer trained (fc1 too)'),
    ('augment', ('--max_shift=2', '--max_degrees=10', '--max_scale=0.1'),
     'shifts, rotations, scaling in the step'),
    ('balanced', ('--selection=balanced', '--curriculum_step=0.2'),
     'class-balanced selection, share growing 20 % an iteration'),
    ('revise', ('--revise',), 'pseudo-labels revised every iteration'),
    ('warm_start', ('--warm_start',), 'one model trained on across iterations'),
    # A cosine learning rate in each iteration (`cosine`, --lr_schedule=cosine)
    # was a row here until the setting was removed: rerun it at commit 27226ee.
)


def merged(flag_list) -> tuple[str, ...]:
  """The flags with a later value of the same flag replacing an earlier one."""
  by_name = {}
  for flag in flag_list:
    by_name[flag.split('=')[0]] = flag
  return tuple(by_name.values())


ROWS = {name: (merged(f for _, lever_flags, _ in LEVERS[:i + 1] for f in lever_flags), what)
        for i, (name, _, what) in enumerate(LEVERS)}

FLAGS = flags.FLAGS
flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds per row (not the tuning seed 100).')
flags.DEFINE_list('rows', list(ROWS), f'Rows to run, of {", ".join(ROWS)}.')
flags.DEFINE_string('runs_dir', 'runs/ablation', 'Where the runs go.')
flags.DEFINE_string('shard', '0/1', 'Run only every k-th run from the i-th: i/k.')
flags.DEFINE_string('benchmarks', 'BENCHMARKS.md', 'Markdown file to write the table into.')
flags.DEFINE_bool('summarize_only', False, 'Only rebuild the table from finished runs.')


def planned_runs() -> list[sweep.Run]:
  return sweep.grid(FLAGS.rows, FLAGS.seeds, lambda row: (*COMMON, *ROWS[row][0]))


def summary() -> str:
  lines = sweep.table_head(
      'Ablation: one lever at a time (experiments/ablation.py)',
      f'python experiments/ablation.py --seeds={",".join(FLAGS.seeds)}',
      '100 stratified labels, '
      'threshold 0.99, 8 iterations; each row adds one lever to the row above. MNIST test '
      'accuracy after the last iteration and the share of correct training labels then '
      '(an oracle diagnostic), mean +- std over the finished seeds; seeds '
      f'{", ".join(map(str, sweep.TUNING_SEEDS))} (tuning) are not among them.',
      '| row | adds | seeds done | test accuracy (last) | best iteration | '
      'train labels correct (last) | wall min |',
      '|---|---|---:|---:|---:|---:|---:|')
  for row in FLAGS.rows:
    done = sweep.finished_results(FLAGS.runs_dir, row, FLAGS.seeds)
    lines.append(f'| {row} | {ROWS[row][1]} | {len(done)}/{len(FLAGS.seeds)} '
                 f'| {sweep.outcome_cells(done)} |')
  return '\n'.join(lines)


def main(argv):
  del argv
  sweep.tabulate_shard('ablation.py', 'ablation', ROWS, planned_runs, summary, FLAGS)


if __name__ == '__main__':
  app.run(main)
