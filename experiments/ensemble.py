"""Averaging models: would a run's accuracy gain if it predicted by the mean
softmax of several models trained on its labels? Finished runs answer it
without training: each group of runs (its members, `+`-joined) predicts its
validation split (the examples its runs held out, --validation) by the mean of
its members' softmax, against each member alone.

  python experiments/ensemble.py --groups=runs/tune/fast-s100+runs/tune/fast_views4-s100

A member can be a run of the loop or a model trained on a run's labels
(experiments/label_noise.py's `as_labeled`: the shape of a last iteration that
trains a second model on the same labels). The accuracies decide a setting, so
they are read on the validation split only: a group's members must all have
held out the same examples, and the test set is never read. The table replaces
the `ensemble` section of BENCHMARKS.md.
"""

import os

import numpy as np
from absl import app, flags

from pl_jax import data, data_types, predict, select, sweep

FLAGS = flags.FLAGS
flags.DEFINE_list('groups', [], 'Groups of finished MNIST runs with a validation split, '
                  'each its members joined by "+".')
flags.DEFINE_string('data_dir', None, 'Where MNIST is cached (run.py\'s --data_dir).')
flags.DEFINE_string('benchmarks', 'BENCHMARKS.md', 'Markdown file to write the table into.')


def held_out(members: list[str]) -> np.ndarray:
  """bool[N]: the validation split the members' runs all held out."""
  masks = []
  for run in members:
    try:
      masks.append(sweep.load_labels(run)[1] == select.VALIDATION)
    except sweep.LABELS_UNREADABLE as e:
      raise predict.PredictError(f'{run}: no readable labels.npz ({type(e).__name__})') from None
  if not masks[0].any() or any(not np.array_equal(mask, masks[0]) for mask in masks):
    raise predict.PredictError(f'{" + ".join(members)}: the runs must hold out the same '
                               'validation split (run.py --validation=N)')
  return masks[0]


def group_accuracies(members: list[str], dataset: data_types.Dataset) -> tuple[list[float], float]:
  """Each member's validation accuracy, and the accuracy of their mean softmax."""
  validation = held_out(members)
  if len(validation) != len(dataset.train_labels):
    raise predict.PredictError(f'{members[0]}: not a run on MNIST\'s training set')
  images, labels = dataset.train_images[validation], dataset.train_labels[validation]
  probabilities = [predict.probabilities_with(predict.load_predictor(run), images)
                   for run in members]
  def accuracy(p):
    return float(np.mean(p.argmax(-1) == labels))
  return [accuracy(p) for p in probabilities], accuracy(np.mean(probabilities, axis=0))


def name(run: str) -> str:
  """A member as the table shows it: its workdir's last two folders."""
  return '/'.join(os.path.normpath(run).split(os.sep)[-2:])


def summary(groups: list[list[str]], results: list[tuple[list[float], float]]) -> str:
  lines = ['## Averaging models (experiments/ensemble.py)', '',
           f'    python experiments/ensemble.py --groups={",".join("+".join(g) for g in groups)}',
           '', f'Machine: {sweep.machine()}. Table written {sweep.today()}. Validation accuracy '
           '(the examples the runs held out) of each member alone, their mean, and of the mean '
           'of their softmax (the ensemble); mean +- std over the groups.', '',
           '| members | each alone | their mean | ensemble | gain |',
           '|---|---:|---:|---:|---:|']
  for members, (alone, together) in zip(groups, results):
    lines.append(f'| {" + ".join(name(m) for m in members)} | '
                 + ' / '.join(f'{100 * a:.2f}' for a in alone)
                 + f' % | {100 * np.mean(alone):.2f} % | {100 * together:.2f} % '
                 f'| {100 * (together - np.mean(alone)):+.2f} points |')
  means = [float(np.mean(alone)) for alone, _ in results]
  ensembles = [together for _, together in results]
  lines.append(f'| mean | | {sweep.mean_std(means)} | {sweep.mean_std(ensembles)} '
               f'| {sweep.mean_std(np.subtract(ensembles, means), " points")} |')
  return '\n'.join(lines)


def main(argv):
  del argv
  groups = [group.split('+') for group in FLAGS.groups]
  if not groups or min(len(members) for members in groups) < 2:
    sweep.fail('ensemble.py',
               '--groups must name groups of two or more finished runs, joined by "+"')
  try:
    dataset = data.load_dataset('mnist', FLAGS.data_dir, offline=True)
    results = [group_accuracies(members, dataset) for members in groups]
  except (data_types.DataError, predict.PredictError) as e:
    sweep.fail('ensemble.py', str(e))
  for members, (alone, together) in zip(groups, results):
    print(' + '.join(members), 'alone', ' '.join(f'{100 * a:.2f} %' for a in alone),
          f'ensemble {100 * together:.2f} %')
  sweep.replace_section(FLAGS.benchmarks, 'ensemble', summary(groups, results))


if __name__ == '__main__':
  app.run(main)
