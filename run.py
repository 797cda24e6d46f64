"""pl_jax: iterative confidence-based pseudo-labeling on MNIST-like data.

  python run.py --n_labeled=100 --threshold=0.99

Flags live here only; the library takes a `loop.Config`.
"""

import datetime
import os
import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string('dataset', 'mnist', 'Data set: mnist or fashion_mnist.')
flags.DEFINE_string('data_dir', None, 'Where data is found and cached (TFDS data_dir); '
                    'default $PL_JAX_DATA_DIR or ~/tensorflow_datasets.')
flags.DEFINE_bool('offline', False, 'Never download: use only data already under '
                  '--data_dir (or installed Debian files).')
flags.DEFINE_string('workdir', None, 'Run directory for results.json and labels.npz; '
                    'default runs/<dataset>-n<n_labeled>-t<threshold>-s<seed>-<time>.')
flags.DEFINE_integer('n_labeled', 1000, 'Number of human-labeled training examples.')
flags.DEFINE_float('threshold', 0.99, 'Adopt a prediction when its confidence is above this.')
flags.DEFINE_integer('iterations', 10, 'Maximum number of train / score / select rounds.')
flags.DEFINE_integer('epochs', 10, 'Epochs over the current training set per iteration.')
flags.DEFINE_integer('min_steps', 160, 'At least this many optimizer steps per iteration '
                     '(more epochs when the training set is small).')
flags.DEFINE_integer('batch_size', 64, 'Training batch size.')
flags.DEFINE_float('learning_rate', 1e-3, 'Adam learning rate.')
flags.DEFINE_list('freeze', ['fc1'], 'Layers kept at their random init. The seed\'s '
                  'reference code never trains fc1 (it replaces the layer after building '
                  'its optimizer); --freeze= trains every layer.')
flags.DEFINE_integer('seed', 0, 'Seeds the labeled split, the model init and the shuffling.')
flags.DEFINE_bool('stratified', False, 'Label n_labeled / num_classes examples per class.')
flags.DEFINE_bool('warm_start', False, "Start each iteration from the previous "
                  "iteration's model instead of a fresh one.")
flags.DEFINE_integer('score_chunk_size', 1024, 'Images per chunk when scoring.')
flags.DEFINE_bool('progress', True, 'Show a progress bar while training.')


def fail(message: str, code: int = 2):
  print(f'run.py: error: {message}', file=sys.stderr)
  sys.exit(code)


def parse_flags(argv):
  try:
    return FLAGS(argv)
  except flags.Error as e:
    fail(str(e).splitlines()[0])


def flag_errors() -> list[str]:
  """What is wrong with the flags, checked before any data is read."""
  from pl_jax import data, models  # pylint: disable=g-import-not-at-top
  checks = [
      (set(FLAGS.freeze) <= set(models.LAYERS),
       f'--freeze takes layers of {", ".join(models.LAYERS)}, got {",".join(FLAGS.freeze)}'),
      (FLAGS.dataset in data.DATASETS,
       f'--dataset must be one of {", ".join(data.DATASETS)}, got {FLAGS.dataset!r}'),
      (0 < FLAGS.threshold < 1, f'--threshold must be in (0, 1), got {FLAGS.threshold}'),
      (1 <= FLAGS.n_labeled <= data.TRAIN_SIZE,
       f'--n_labeled must be in [1, {data.TRAIN_SIZE}], got {FLAGS.n_labeled}'),
      (FLAGS.iterations >= 1, f'--iterations must be >= 1, got {FLAGS.iterations}'),
      (FLAGS.epochs >= 1, f'--epochs must be >= 1, got {FLAGS.epochs}'),
      (FLAGS.min_steps >= 0, f'--min_steps must be >= 0, got {FLAGS.min_steps}'),
      (FLAGS.batch_size >= 1, f'--batch_size must be >= 1, got {FLAGS.batch_size}'),
      (FLAGS.learning_rate > 0, f'--learning_rate must be > 0, got {FLAGS.learning_rate}'),
      (FLAGS.seed >= 0, f'--seed must be >= 0, got {FLAGS.seed}'),
      (FLAGS.score_chunk_size >= 1,
       f'--score_chunk_size must be >= 1, got {FLAGS.score_chunk_size}'),
  ]
  return [message for ok, message in checks if not ok]


def main(argv):
  if len(argv) > 1:
    fail(f'unexpected arguments: {" ".join(argv[1:])}')
  errors = flag_errors()
  if errors:
    fail('; '.join(errors))

  from pl_jax import data, loop  # pylint: disable=g-import-not-at-top
  config = loop.Config(
      n_labeled=FLAGS.n_labeled, threshold=FLAGS.threshold, iterations=FLAGS.iterations,
      epochs=FLAGS.epochs, min_steps=FLAGS.min_steps, batch_size=FLAGS.batch_size,
      learning_rate=FLAGS.learning_rate, seed=FLAGS.seed, stratified=FLAGS.stratified,
      frozen=tuple(FLAGS.freeze), warm_start=FLAGS.warm_start,
      score_chunk_size=FLAGS.score_chunk_size)
  workdir = FLAGS.workdir or os.path.join(
      'runs', f'{loop.run_name(FLAGS.dataset, config)}-'
      f'{datetime.datetime.now().strftime("%Y%m%d-%H%M%S")}')
  try:
    os.makedirs(workdir, exist_ok=True)
    if not os.access(workdir, os.W_OK):
      raise PermissionError(f'{workdir} is not writable')
  except OSError as e:
    fail(f'cannot use --workdir {workdir}: {e}')

  try:
    dataset = data.load_dataset(FLAGS.dataset, FLAGS.data_dir, FLAGS.offline)
  except data.DataError as e:
    fail(str(e))
  print(f'pl_jax: {dataset.name} from {dataset.source} | train {len(dataset.train_labels)} '
        f'test {len(dataset.test_labels)} | n_labeled {config.n_labeled} threshold '
        f'{config.threshold:g} | workdir {workdir}', flush=True)
  run_config = {**config.__dict__, 'dataset': FLAGS.dataset,
                'data_dir': FLAGS.data_dir or data.default_data_dir(), 'workdir': workdir}
  try:
    record = loop.self_train(dataset, config, workdir, run_config=run_config,
                             progress=FLAGS.progress)
  except OSError as e:
    fail(f'could not write results to {workdir}: {e}')
  except KeyboardInterrupt:
    fail(f'interrupted; finished iterations are saved in {workdir}', code=130)
  print(f"pl_jax: final test accuracy {100 * record['final_test_accuracy']:.2f}% after "
        f"{len(record['iterations'])} iteration(s), stop reason {record['stop_reason']}; "
        f"results in {workdir}/results.json", flush=True)


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
