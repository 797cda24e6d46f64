"""A person in the loop, played by an ORACLE: label the 200 pool images the
model is least sure about, through the review page and through the Label Studio
files, then restart from the larger human set (issue 22).

  python experiments/review_oracle.py                    # seeds 81, 82, 83 on MNIST
  python experiments/review_oracle.py --summarize_only

Per seed, three steps, each resumable:
  1. base-s<seed>: the default command (--n_labeled=100 --threshold=0.99) with
     --export_review=200 --export_label_studio. Its accuracy is the run without review.
  2. The oracle answers every image of the review with its hidden true label
     through the page's own save path: it starts `python -m pl_jax.review_server`
     on the run and posts each answer as the page does (review_server.Client),
     into review/review.csv. It also writes a Label Studio JSON export of the
     run's label_studio_tasks.json, annotated the same way (label_studio_export.json
     beside it), and checks that --manual_labels reads the same labels from both.
  3. page-s<seed>: the follow-up run the page offers (the same flags,
     --manual_labels=<base>/review/review.csv), restarting from 100 + 200 human
     labels; ls-s<seed> for the seeds in --label_studio_seeds: the same from the
     Label Studio export.

The labels come from the hidden true labels, not from a person: an oracle, the
best a careful person could do. The table replaces the `review_oracle` section
of BENCHMARKS.md (put before `## History` the first time).
"""

from __future__ import annotations

import json
import os

from absl import app, flags

from pl_jax import atomic, data, review, review_server, sweep

SECTION = 'review_oracle'
FLAGS = flags.FLAGS
flags.DEFINE_list('seeds', ['81', '82', '83'], 'Seeds (not the tuning seeds; the default '
                  'ones were never run before this script).')
flags.DEFINE_list('label_studio_seeds', ['81'], 'Seeds whose follow-up run is also made '
                  'from the Label Studio export (the labels are checked equal for every seed).')
flags.DEFINE_string('dataset', 'mnist', 'A benchmark data set (its hidden labels are the '
                    'oracle).')
flags.DEFINE_list('run_flags', ['--n_labeled=100', '--threshold=0.99'], 'Flags of every run '
                  '(the default command\'s).')
flags.DEFINE_integer('n_review', 200, 'Images the oracle labels (--export_review).')
flags.DEFINE_string('runs_dir', 'runs/review_oracle', 'Where the runs go.')
flags.DEFINE_integer('parallel', 1, 'Runs at a time (wall times are then shared).')
flags.DEFINE_string('benchmarks', 'BENCHMARKS.md', 'Markdown file to write the table into.')
flags.DEFINE_bool('summarize_only', False, 'Only rebuild the table from finished runs.')


def base_flags() -> tuple[str, ...]:
  return (f'--dataset={FLAGS.dataset}', *FLAGS.run_flags, f'--export_review={FLAGS.n_review}',
          '--export_label_studio')


def workdir(name: str, seed) -> str:
  return os.path.join(FLAGS.runs_dir, f'{name}-s{seed}')


def oracle_file(seed) -> str:
  return os.path.join(workdir('base', seed), 'review', 'oracle.json')


def label_studio_export(base: str, truth) -> str:
  """Label Studio's JSON export of the run's tasks, each annotated by the oracle."""
  directory = os.path.join(base, review.REVIEW_DIR)
  with open(os.path.join(directory, review.LABEL_STUDIO_TASKS)) as f:
    tasks = json.load(f)
  for number, task in enumerate(tasks, start=1):
    choice = {'id': f'oracle{number}', 'type': 'choices', 'from_name': review.LS_CHOICES,
              'to_name': review.LS_IMAGE, 'origin': 'manual',
              'value': {'choices': [truth(task['data']['pl_jax_index'])]}}
    task.update(id=number, annotations=[{'id': number, 'result': [choice],
                                         'was_cancelled': False, 'completed_by': 1,
                                         'task': number}])
  path = os.path.join(directory, 'label_studio_export.json')
  atomic.write_json(path, tasks)
  return path


def answer_as_oracle(seed, dataset) -> None:
  """Step 2: every image of the base run's review labeled through the page's API,
  the same labels written as a Label Studio export, both read back and compared."""
  base = workdir('base', seed)
  classes = review.class_names_of(dataset)
  truth = lambda index: classes[dataset.train_labels[index]]
  client = review_server.Client(base)
  try:
    items = client.state()['items']
    for item in items:
      if not item['label']:
        client.answer(item['index'], label=truth(item['index']))
  finally:
    client.stop()
  page_csv = os.path.join(base, review.REVIEW_DIR, review.REVIEW_CSV)
  export = label_studio_export(base, truth)
  from_page = review.read_manual_labels(page_csv, dataset)
  from_ls = review.read_manual_labels(export, dataset)
  right = sum(item['guesses'][0][0] == truth(item['index']) for item in items)
  atomic.write_json(oracle_file(seed), {
      'labeled': int((from_page >= 0).sum()), 'top_guess_right': right,
      'label_studio_equal': bool((from_page == from_ls).all()), 'label_studio_export': export})
  print(f'review_oracle: seed {seed}: labeled {len(items)} images through the page; the '
        f'model\'s top guess was right on {right}; Label Studio export reads the same: '
        f'{bool((from_page == from_ls).all())}', flush=True)


def follow_up(seed, source: str) -> sweep.Run:
  """The run the page offers (review.json's next_run: the base run's flags and
  --manual_labels), with --manual_labels from the page's CSV or the Label Studio
  export; sweep.run_all adds --workdir and --noprogress."""
  base = workdir('base', seed)
  page = review.load_page(base)
  argv = [arg for arg in page['next_run']['argv'][1:]
          if not arg.startswith(('--workdir', '--manual_labels', '--noprogress'))]
  manual = (os.path.join(base, review.REVIEW_DIR, review.REVIEW_CSV) if source == 'page'
            else os.path.join(base, review.REVIEW_DIR, 'label_studio_export.json'))
  return sweep.Run(f'{"page" if source == "page" else "ls"}-s{seed}',
                   (*argv, f'--manual_labels={manual}'))


def accuracy(name: str, seed) -> float | None:
  results = sweep.load_results(workdir(name, seed))
  if results is None or results.get('stop_reason') is None:
    return None
  return results['iterations'][-1]['test_accuracy']


def command() -> str:
  """The command that writes the table: the seeds, and every other flag not at its default."""
  shown = [f'--{name}={",".join(value) if isinstance(value, list) else value}'
           for name in ('seeds', 'label_studio_seeds', 'dataset', 'run_flags', 'n_review',
                        'parallel')
           if (value := FLAGS[name].value) != FLAGS[name].default or name == 'seeds']
  return ' '.join(['python experiments/review_oracle.py', *shown])


def summary() -> str:
  percent = lambda value: '-' if value is None else f'{100 * value:.2f} %'
  lines = sweep.table_head(
      'A person in the loop, played by an oracle (experiments/review_oracle.py)', command(),
      f'ORACLE: the {FLAGS.n_review} pool images the model is least sure about '
      f'(`--export_review={FLAGS.n_review}`, ranked by confidence) are labeled from the '
      'hidden true labels, not by a person, through the review page\'s own save path '
      '(`python -m pl_jax.review_server`, the answers posted as the page posts them) and '
      'as a Label Studio JSON export of `--export_label_studio`\'s tasks. The follow-up '
      'run drops the pseudo-labels and restarts from the larger human set: `python '
      f'run.py {" ".join(FLAGS.run_flags)} --seed=S --manual_labels=<base run>/review/'
      'review.csv`. '
      f'Every run: `{" ".join(FLAGS.run_flags)}` on {FLAGS.dataset}, the default recipe. '
      'MNIST test accuracy after the last iteration; "top guess right": how many of the '
      'reviewed images the model\'s guess already had right.',
      '| seed | without review | after the review (page) | from the Label Studio export '
      '| top guess right | Label Studio labels = page labels | wall min (base, page) |',
      '|---:|---:|---:|---:|---:|---|---:|')
  columns = {name: [] for name in ('base', 'page', 'ls')}
  for seed in FLAGS.seeds:
    found = {name: accuracy(name, seed) for name in columns}
    for name, value in found.items():
      columns[name].append(value)
    oracle = {}
    if os.path.exists(oracle_file(seed)):
      with open(oracle_file(seed)) as f:
        oracle = json.load(f)
    walls = [sweep.mean_minutes([r]) for r in (sweep.load_results(workdir(name, seed))
                                               for name in ('base', 'page')) if r]
    lines.append(
        f'| {seed} | {percent(found["base"])} | {percent(found["page"])} | '
        f'{percent(found["ls"])} | '
        f'{oracle.get("top_guess_right", "-")} of {oracle.get("labeled", "-")} | '
        f'{ {True: "yes", False: "NO"}.get(oracle.get("label_studio_equal"), "-")} | '
        f'{", ".join(walls) or "-"} |')
  lines.append(f'| mean +- std | {sweep.mean_std(columns["base"])} | '
               f'{sweep.mean_std(columns["page"])} | {sweep.mean_std(columns["ls"])} | | | |')
  return '\n'.join(lines)


def write_section(text: str) -> None:
  """The section into BENCHMARKS.md: in place, or first before `## History`."""
  path, begin = FLAGS.benchmarks, f'<!-- {SECTION}:begin -->'
  old = open(path).read() if os.path.exists(path) else ''
  if begin not in old and '\n## History\n' in old:
    at = old.index('\n## History\n') + 1
    atomic.write_text(path, f'{old[:at]}{begin}\n<!-- {SECTION}:end -->\n\n{old[at:]}')
  sweep.replace_section(path, SECTION, text)


def main(argv):
  del argv
  sweep.check_rows_and_seeds('review_oracle.py', [], [], FLAGS.seeds)
  if not set(FLAGS.label_studio_seeds) <= set(FLAGS.seeds):
    sweep.fail('review_oracle.py', '--label_studio_seeds must be among --seeds')
  if FLAGS.dataset not in data.DATASETS:
    sweep.fail('review_oracle.py', f'--dataset must be one of {", ".join(data.DATASETS)} '
               '(the oracle reads its hidden labels)')
  if not FLAGS.summarize_only:
    sweep.run_all([sweep.Run(f'base-s{seed}', (*base_flags(), f'--seed={seed}'))
                   for seed in FLAGS.seeds], FLAGS.runs_dir, parallel=FLAGS.parallel)
    dataset = data.load_dataset(FLAGS.dataset)
    for seed in FLAGS.seeds:
      answer_as_oracle(seed, dataset)
    sweep.run_all([follow_up(seed, 'page') for seed in FLAGS.seeds] +
                  [follow_up(seed, 'label_studio') for seed in FLAGS.label_studio_seeds],
                  FLAGS.runs_dir, parallel=FLAGS.parallel)
  text = summary()
  write_section(text)
  print(text)


if __name__ == '__main__':
  app.run(main)
