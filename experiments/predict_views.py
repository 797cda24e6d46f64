"""Predicting over views: would the runs' test accuracy gain if their last model
predicted by the mean over each test image and K augmented views of it
(run.py --predict_views=K), as the pool is scored (--score_views)? The views
change only the prediction, never the training, so finished runs answer it:

  python experiments/predict_views.py --runs=runs/tune/n1000_default-s100,runs/tune/n1000_default-s101

Each run's model predicts the MNIST test set with K = each of --views (0: the
plain model; the views as run.py --predict_views draws them). Only tuning-seed
runs belong here: the test accuracies decide a setting. The table replaces the
`predict_views` section of BENCHMARKS.md.
"""

import numpy as np
from absl import app, flags

from pl_jax import data, predict, sweep

FLAGS = flags.FLAGS
flags.DEFINE_list('runs', [], 'Workdirs of finished MNIST runs on tuning seeds.')
flags.DEFINE_list('views', ['0', '4', '8', '16'], 'Numbers of views to predict over.')
flags.DEFINE_string('data_dir', None, 'Where MNIST is cached (run.py\'s --data_dir).')
flags.DEFINE_string('benchmarks', 'BENCHMARKS.md', 'Markdown file to write the table into.')


def test_accuracies(run: str, dataset: data.Dataset, views: list[int]) -> list[float]:
  """The run's test accuracy predicting over each number of views."""
  predictor = predict.load_predictor(run)
  return [float(np.mean(predict.predict_with(predictor, dataset.test_images, views=k)[1]
                        == dataset.test_labels)) for k in views]


def summary(accuracies: dict[str, list[float]], views: list[int]) -> str:
  lines = ['## Predicting over views (experiments/predict_views.py)', '',
           f'    python experiments/predict_views.py --runs={",".join(accuracies)} '
           f'--views={",".join(map(str, views))}', '',
           f'Machine: {sweep.machine()}. Table written {sweep.today()}. MNIST test accuracy of '
           'each run\'s last model, predicting over the image and K augmented views of it (the '
           'training augmentation; K = 0: the image alone), and the mean +- std over the runs.',
           '', '| run | ' + ' | '.join(f'K = {k}' for k in views) + ' |',
           '|---|' + '---:|' * len(views)]
  for run, values in accuracies.items():
    lines.append(f'| {sweep.run_name(run)} | '
                 + ' | '.join(f'{100 * v:.2f} %' for v in values) + ' |')
  columns = list(zip(*accuracies.values()))
  lines.append('| mean | ' + ' | '.join(sweep.mean_std(c) for c in columns) + ' |')
  return '\n'.join(lines)


def main(argv):
  del argv
  try:
    views = [int(k) for k in FLAGS.views]
  except ValueError:
    views = [-1]
  if not FLAGS.runs or min(views) < 0:
    sweep.fail('predict_views.py', '--runs must name finished runs and --views numbers >= 0')
  try:
    dataset = data.load_dataset('mnist', FLAGS.data_dir, offline=True)
    accuracies = {run: test_accuracies(run, dataset, views) for run in FLAGS.runs}
  except (data.DataError, predict.PredictError) as e:
    sweep.fail('predict_views.py', str(e))
  for run, values in accuracies.items():
    print(run, ' '.join(f'K={k}: {100 * v:.2f} %' for k, v in zip(views, values)))
  sweep.replace_section(FLAGS.benchmarks, 'predict_views', summary(accuracies, views))


if __name__ == '__main__':
  app.run(main)
