"""How well label spreading labels the validation split, by the graph's embedding.

  python experiments/propagation_probe.py --n_labeled=10,20 --seeds=100,101,102

For each label count and tuning seed: the stratified labeled draw a run with
`--validation=10000` makes, label spreading (pl_jax/propagate.py) from those
labels over a graph of all 60,000 MNIST training images, and the share of the
validation split (the last 10,000, unlabeled nodes of the graph) it gets right,
overall and for its worst class. The validation labels only measure; the test
set is never read. Embeddings: `pixels`, the images' principal components;
`deskewed`, the same after propagate.deskew (what a run uses). The table
replaces the `propagation_probe` section of BENCHMARKS.md.

Why a probe: spreading takes a few seconds where a run takes ten minutes, so
the graph is chosen here, on many draws, and the loop checked after.
"""

import time

import numpy as np
from absl import app, flags

from pl_jax import config as config_lib
from pl_jax import data, loop, metrics, propagate, select, sweep

EMBEDDINGS = {
    'pixels': propagate.principal_components,
    'deskewed': propagate.embed,
}
VALIDATION = 10_000

FLAGS = flags.FLAGS
flags.DEFINE_list('n_labeled', ['10', '20'], 'Label counts, drawn stratified.')
flags.DEFINE_list('seeds', [str(seed) for seed in sweep.TUNING_SEEDS],
                  f'Tuning seeds only (of {", ".join(map(str, sweep.TUNING_SEEDS))}).')
flags.DEFINE_list('embeddings', list(EMBEDDINGS), f'Of {", ".join(EMBEDDINGS)}.')
flags.DEFINE_string('benchmarks', 'BENCHMARKS.md', 'Markdown file to write the table into.')

SCRIPT = 'propagation_probe.py'


def probe(dataset, n_labeled: int, seed: int, embedding: str) -> tuple[float, float, int, float]:
  """Spreading from one draw over one embedding: the validation figures and seconds."""
  config = config_lib.make(n_labeled=n_labeled, stratified=True, seed=seed,
                           validation=VALIDATION)
  labels = loop.initial_label_state(dataset, config)
  known = np.asarray(labels.source) == select.HUMAN
  held_out = np.asarray(labels.source) == select.VALIDATION
  everything = np.ones(len(known), bool)  # The validation images are nodes too.
  start = time.perf_counter()
  _, predicted = propagate.propagate(dataset.train_images, np.asarray(labels.labels), known,
                                     everything, dataset.num_classes, EMBEDDINGS[embedding])
  predicted = np.asarray(predicted)
  seconds = time.perf_counter() - start
  true = dataset.train_labels[held_out]
  worst, worst_recall = metrics.worst_class(predicted[held_out], true, dataset.num_classes)
  return metrics.accuracy(predicted[held_out], true), worst_recall, worst, seconds


def main(argv):
  del argv
  seeds = sweep.canonical_seeds(SCRIPT, FLAGS.seeds)
  tuning = ', '.join(map(str, sweep.TUNING_SEEDS))
  if not set(seeds) <= set(tuning.split(', ')):
    sweep.fail(SCRIPT, f'--seeds must be tuning seeds ({tuning}), got {",".join(seeds)}')
  unknown = sorted(set(FLAGS.embeddings) - set(EMBEDDINGS))
  if unknown:
    sweep.fail(SCRIPT, f'unknown --embeddings {unknown}; of {", ".join(EMBEDDINGS)}')
  try:
    counts = [int(n) for n in FLAGS.n_labeled]
  except ValueError:
    sweep.fail(SCRIPT, f'--n_labeled must be integers, got {",".join(FLAGS.n_labeled)}')
  if any(n < 10 or n % 10 for n in counts):
    sweep.fail(SCRIPT, f'--n_labeled must be multiples of 10 (per class), got {counts}')
  dataset = data.load_dataset('mnist')
  rows = []
  for n_labeled in counts:
    for embedding in FLAGS.embeddings:
      cells = []
      for seed in seeds:
        accuracy, worst_recall, worst, seconds = probe(dataset, n_labeled, int(seed), embedding)
        print(f'n{n_labeled} {embedding} seed {seed}: {100 * accuracy:.2f} % '
              f'(worst class {worst}: {100 * worst_recall:.1f} %), {seconds:.0f} s', flush=True)
        cells.append((accuracy, worst_recall, worst))
      rows.append(f'| {n_labeled} | {embedding} | {sweep.mean_std([c[0] for c in cells])} | '
                  + ', '.join(f'{s}: {100 * a:.2f} % (worst {w}: {100 * r:.1f} %)'
                              for s, (a, r, w) in zip(seeds, cells)) + ' |')
  command = (f'python experiments/{SCRIPT} --n_labeled={",".join(map(str, counts))} '
             f'--seeds={",".join(seeds)}')
  text = '\n'.join(sweep.table_head(
      'Label spreading on the validation split (experiments/propagation_probe.py)', command,
      'Label spreading from stratified labels over a nearest-neighbour graph of the 60,000 '
      'MNIST training images (propagate.py: 50 principal components, 10 neighbours); the share '
      'of the validation split (the last 10,000, unlabeled nodes) it gets right, mean +- std '
      'over the seeds, and each seed with its worst class (recall). Tuning seeds only; the '
      'test set is not read.',
      '| labels | embedding | validation accuracy | each seed |', '|---:|---|---:|---|')
      + rows)
  sweep.replace_section(FLAGS.benchmarks, 'propagation_probe', text)
  print(text)


if __name__ == '__main__':
  app.run(main)
