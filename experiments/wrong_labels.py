"""Where the wrong pseudo-labels are: an oracle diagnostic of finished MNIST runs.

A run's wrong pseudo-labels are not spread evenly: from 100 labels most of them
are a few styles of a digit taken for another (1s with a flag and a foot,
labeled 2), and a model trained on them makes the same mistake on the test
set. For each run this script counts its pseudo-labels by true class and label
(metrics.confusion), names the commonest wrong pairs, and counts the human
labels of each pair's true class. With --sheets it draws, per run, the
commonest pair's images beside the run's human-labeled examples of that true
class: what the model was shown of the class, against what it took for
another.

  python experiments/wrong_labels.py --run=runs/tune/a-s101,runs/tune/b-s101 --sheets=DIR

Oracle by design: it reads the pool's hidden labels, so it is a diagnostic of
an experiment and never a lever of the recipe. The table replaces the
wrong_labels section of --benchmarks (empty: printed only).
"""

import os

import numpy as np
from absl import app, flags

from pl_jax import atomic, data, metrics, review, select, sweep

FLAGS = flags.FLAGS
flags.DEFINE_list('run', None, 'The workdirs of finished MNIST runs (their labels.npz).')
flags.DEFINE_string('sheets', None, 'Folder for a contact sheet per run (PNG); none if unset.')
flags.DEFINE_integer('top', 3, 'Wrong pairs named per run.')
flags.DEFINE_string('data_dir', None, 'Where MNIST is cached (run.py\'s --data_dir).')
flags.DEFINE_string('benchmarks', 'BENCHMARKS.md', 'Markdown file to write the table into; '
                    'empty: print it only.')

SCRIPT = 'wrong_labels.py'
# Images on a sheet: the wrong pair's, then the human-labeled ones of its true class.
SHEET_WRONG, SHEET_HUMAN, SHEET_COLUMNS = 60, 120, 15


def wrong_pairs(labels: np.ndarray, source: np.ndarray, true_labels: np.ndarray,
                num_classes: int, top: int) -> dict:
  """A run's pseudo-labels against the truth.

  labels, source: int[N], a run's labels.npz; true_labels: int[N] (oracle).
  Returns the counts of pseudo-labels and wrong ones, the `top` commonest
  wrong (true class, label, count) and the human labels of each true class.
  """
  pseudo = source == select.PSEUDO
  matrix = metrics.confusion(true_labels, labels, pseudo, num_classes)
  human = source == select.HUMAN
  return {'pseudo': int(pseudo.sum()), 'wrong': metrics.mistakes(matrix),
          'pairs': metrics.commonest_mistakes(matrix, top),
          'human_per_class': np.bincount(true_labels[human], minlength=num_classes).tolist()}


def sheet(images: np.ndarray, labels: np.ndarray, source: np.ndarray,
          true_labels: np.ndarray, pair: tuple[int, int, int]):
  """The pair's pool images (captioned true->label), then the human-labeled
  examples of its true class (captioned 'human'), as one PIL image."""
  true, label, _ = pair
  wrong = np.flatnonzero((source == select.PSEUDO) & (true_labels == true) & (labels == label))
  human = np.flatnonzero((source == select.HUMAN) & (true_labels == true))
  wrong, human = wrong[:SHEET_WRONG], human[:SHEET_HUMAN]
  # Each part starts on a row of its own, after blank (white) tiles.
  gap = -len(wrong) % SHEET_COLUMNS
  blank = np.full((gap, *images.shape[1:]), 255, images.dtype)
  return review.contact_sheet(
      np.concatenate([images[wrong], blank, images[human]]),
      [f'{true}->{label}'] * len(wrong) + [''] * gap + [f'human {true}'] * len(human),
      columns=SHEET_COLUMNS, scale=2)


def row(name: str, found: dict) -> str:
  pairs = ', '.join(f'{t} as {l}: {n}' for t, l, n in found['pairs']) or '-'
  humans = ', '.join(f'{t}: {found["human_per_class"][t]}'
                     for t in dict.fromkeys(t for t, _, _ in found['pairs'])) or '-'
  return (f'| {name} | {sum(found["human_per_class"]):,} | {found["pseudo"]:,} | '
          f'{found["wrong"]:,} | {pairs} | {humans} |')


def read_labels(run: str) -> tuple[np.ndarray, np.ndarray]:
  """A run's labels.npz: (labels, source), or a one-line exit."""
  try:
    return sweep.load_labels(run)
  except sweep.LABELS_UNREADABLE as e:
    sweep.fail(SCRIPT, f'{os.path.join(run, "labels.npz")}: no readable labels '
               f'({type(e).__name__})')


def main(argv):
  del argv
  if not FLAGS.run:
    sweep.fail(SCRIPT, '--run is required: the workdirs of finished MNIST runs')
  if FLAGS.top < 1:
    sweep.fail(SCRIPT, f'--top must be at least 1, got {FLAGS.top}')
  runs = {run: read_labels(run) for run in FLAGS.run}
  mnist = data.load_dataset('mnist', FLAGS.data_dir)
  rows = []
  for run, (labels, source) in runs.items():
    if len(labels) != len(mnist.train_labels):
      sweep.fail(SCRIPT, f'{run} is not a run on MNIST\'s training set')
    found = wrong_pairs(labels, source, mnist.train_labels, mnist.num_classes, FLAGS.top)
    name = sweep.run_name(run)
    rows.append(row(name, found))
    print(rows[-1], flush=True)
    if FLAGS.sheets and found['pairs']:
      os.makedirs(FLAGS.sheets, exist_ok=True)
      true, label, _ = found['pairs'][0]
      out = os.path.join(FLAGS.sheets, f'{name}-{true}as{label}.png')
      atomic.write_bytes(out, review.png_bytes(
          sheet(mnist.train_images, labels, source, mnist.train_labels, found['pairs'][0])))
      print(f'{SCRIPT}: wrote {out}')
  command = f'python experiments/{SCRIPT} --run={",".join(FLAGS.run)} --top={FLAGS.top}'
  text = '\n'.join(sweep.table_head(
      'Where the wrong pseudo-labels are (experiments/wrong_labels.py)', command,
      'ORACLE: each run\'s pseudo-labels read against MNIST\'s hidden training labels: how '
      'many are wrong, the commonest wrong pairs (true class as label: count), and how many '
      'human labels the run had of each pair\'s true class.',
      '| run | human labels | pseudo-labels | wrong | commonest wrong | human labels of '
      'the true class |', '|---|---:|---:|---:|---|---|') + rows)
  if FLAGS.benchmarks:
    sweep.replace_section(FLAGS.benchmarks, 'wrong_labels', text)
  print(text)


if __name__ == '__main__':
  app.run(main)
