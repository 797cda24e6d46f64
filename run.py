"""pl_jax: iterative confidence-based pseudo-labeling on MNIST-like data.

  python run.py --n_labeled=100 --threshold=0.99

Flags live here only; the library takes a `loop.Config`.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import sys

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_string('dataset', 'mnist', 'mnist, fashion_mnist, npz:PATH (your images and '
                    'labels, -1 for unlabeled) or folder:PATH (a sub-folder per class, '
                    'unlabeled/, optional test/).')
flags.DEFINE_string('image_size', None, 'HxW to resize folder:PATH images to (default: '
                    'they must all have one size).')
flags.DEFINE_string('data_dir', None, 'Where data is found and cached (TFDS data_dir); '
                    'default $PL_JAX_DATA_DIR or ~/tensorflow_datasets.')
flags.DEFINE_bool('offline', False, 'Never download: use only data already under '
                  '--data_dir (or installed Debian files).')
flags.DEFINE_string('workdir', None, 'Run directory for results.json and labels.npz; '
                    'default runs/<dataset>-n<n_labeled>-t<threshold>-s<seed>-<time>.')
flags.DEFINE_integer('n_labeled', 1000, 'Number of human-labeled training examples '
                     '(benchmarks; your own data brings its labels).')
flags.DEFINE_float('threshold', 0.99, 'Adopt a prediction when its confidence is above this.')
flags.DEFINE_integer('iterations', 10, 'Maximum number of train / score / select rounds.')
flags.DEFINE_integer('epochs', 10, 'Epochs over the current training set per iteration.')
flags.DEFINE_integer('min_steps', 160, 'At least this many optimizer steps per iteration '
                     '(more epochs when the training set is small).')
flags.DEFINE_integer('batch_size', 64, 'Training batch size.')
flags.DEFINE_integer('width', 1, 'Multiplies the CNN\'s layer sizes (1: the case study\'s '
                     '32-64-128 model; training cost grows about as width squared).')
flags.DEFINE_float('learning_rate', 1e-3, 'Adam learning rate.')
flags.DEFINE_list('freeze', ['fc1'], 'Layers kept at their random init. The seed\'s '
                  'reference code never trains fc1 (it replaces the layer after building '
                  'its optimizer); --freeze= trains every layer.')
flags.DEFINE_integer('seed', 0, 'Seeds the labeled split, the model init and the shuffling.')
flags.DEFINE_bool('stratified', False, 'Label n_labeled / num_classes examples per class.')
flags.DEFINE_bool('warm_start', False, "Start each iteration from the previous "
                  "iteration's model instead of a fresh one.")
flags.DEFINE_integer('score_chunk_size', 1024, 'Images per chunk when scoring.')
flags.DEFINE_integer('max_shift', 0, 'Augmentation: random shifts of up to this many pixels.')
flags.DEFINE_float('max_degrees', 0.0, 'Augmentation: random rotations of up to this angle.')
flags.DEFINE_float('max_scale', 0.0, 'Augmentation: random scaling by 1 +- this.')
flags.DEFINE_float('max_shear', 0.0, 'Augmentation: random horizontal shear (slant) of up to '
                   'this angle.')
flags.DEFINE_float('elastic', 0.0, 'Augmentation: elastic distortion (Simard et al. 2003) '
                   'whose displacement has this standard deviation in pixels.')
flags.DEFINE_enum('selection', 'threshold', ['threshold', 'balanced', 'class_share'],
                  'threshold: every candidate above --threshold (the seed); balanced: at most '
                  'an equal share of the candidates per predicted class; class_share: at most '
                  'a share of the candidates predicted as each class.')
flags.DEFINE_float('curriculum_step', 0.0, 'Iteration k selects at most a share '
                   'min(1, k * step) of the candidates; 0: no cap.')
flags.DEFINE_float('class_slack', 0.0, 'With --selection=balanced: a predicted class may '
                   'take this fraction more than the equal share (for classes above the mean '
                   'size); 0: exactly equal.')
flags.DEFINE_float('max_share', 1.0, 'The curriculum\'s share of the candidates never '
                   'exceeds this: the least confident rest stays in the pool, where the '
                   'pseudo-label errors gather; 1: all may be taken.')
flags.DEFINE_bool('revise', False, 'Re-label every non-human example each iteration '
                  '(pseudo-labels may change or return to the pool).')
flags.DEFINE_enum('lr_schedule', 'constant', ['constant', 'cosine'], 'Learning rate over '
                  'each iteration\'s training: constant (the seed) or cosine (annealed to 0).')
flags.DEFINE_float('mixup', 0.0, 'Mixup\'s alpha: train on pairs of images mixed with a '
                   'Beta(alpha, alpha) weight, against both labels; 0: off.')
flags.DEFINE_integer('final_epochs', 0, 'Epochs of the last iteration (at least --epochs), '
                     'which trains the model the run leaves; 0: as the others.')
flags.DEFINE_integer('final_models', 1, 'Models the run ends with: the last iteration\'s and '
                     'this many minus one more, each trained from a fresh start on the final '
                     'labels; they predict by their mean softmax. 1: the last model alone.')
flags.DEFINE_integer('human_per_batch', 0, 'Add this many human-labeled examples, drawn at '
                     'random, to every training batch; 0: none.')
flags.DEFINE_float('ema_decay', 0.0, 'Score the pool and the test set with a moving average '
                   'of the weights, of this decay per step; 0: the weights themselves.')
flags.DEFINE_float('gce_q', 0.0, 'Train with the generalized cross-entropy (1 - p ** q) / q '
                   '(Zhang and Sabuncu 2018), under which labels the model finds unlikely '
                   '(often wrong pseudo-labels) pull less; in [0, 1], 0: cross-entropy.')
flags.DEFINE_integer('batch_splits', 1, 'Compute each batch\'s gradient as the sum of this '
                     'many parts, each its own pass: the same gradient up to rounding, and with 8 '
                     'parts about 1.7x faster training on a 2-core CPU (XLA runs the parts at '
                     'once, across the cores). Not with the consistency term.')
flags.DEFINE_integer('score_views', 0, 'Score the pool for selection by the mean softmax over '
                     'each image and this many augmented views of it (the training '
                     'augmentation): a prediction a small shift or rotation overturns loses '
                     'confidence. 0: the image alone.')
flags.DEFINE_integer('predict_views', 0, 'Predict (the test set, and --predict) by the mean '
                     'softmax over each image and this many augmented views of it, as '
                     '--score_views scores the pool; the plain model\'s test accuracy is '
                     'recorded beside it. 0: the image alone.')
flags.DEFINE_float('consistency_weight', 0.0, 'Weight of FixMatch\'s consistency term '
                   'inside each training run (the prediction on a weak view is the target of '
                   'a strong view when confident enough); 0: off.')
flags.DEFINE_float('consistency_threshold', 0.95, 'Confidence a weak view needs to become '
                   'a target of the consistency term.')
flags.DEFINE_integer('unlabeled_ratio', 1, 'Images for the consistency term per labeled '
                     'image in a step.')
flags.DEFINE_integer('strong_max_shift', 0, 'Strong augmentation: shifts of up to this many '
                     'pixels.')
flags.DEFINE_float('strong_max_degrees', 0.0, 'Strong augmentation: rotations of up to this '
                   'angle.')
flags.DEFINE_float('strong_max_scale', 0.0, 'Strong augmentation: scaling by 1 +- this.')
flags.DEFINE_integer('strong_cutout', 0, 'Strong augmentation: blank a square of this side.')
flags.DEFINE_string('recipe', 'strong', 'Named settings (see pl_jax/recipes.py): strong, '
                    'the default, towards 99 % from 100 labels; seed, the case study exactly. '
                    'Explicit flags win.')
flags.DEFINE_bool('progress', True, 'Show a progress bar while training.')
flags.DEFINE_bool('overwrite', False, 'Replace a run of other settings in --workdir '
                  '(otherwise refused; a run of the same settings is resumed).')
flags.DEFINE_integer('export_review', 0, 'After the run, write the K pool images the model '
                     'is least sure about to <workdir>/review/ (contact sheet + CSV).')
flags.DEFINE_enum('review_by', 'confidence', ['confidence', 'margin'],
                  'Rank review candidates by top confidence or by top-2 margin.')
flags.DEFINE_string('manual_labels', None, 'A filled review CSV: its labels join the human '
                    'labels and the procedure restarts from them.')
flags.DEFINE_bool('keep_pseudo_labels', False, 'With --manual_labels: keep the pseudo-labels '
                  'of the run the review sheet came from.')
flags.DEFINE_bool('distributed', False, 'Join a multi-host run (jax.distributed): every '
                  'process runs this same command; the platform\'s settings are used where '
                  'it provides them (Cloud TPU pods, SLURM), else the three flags below.')
flags.DEFINE_string('coordinator_address', None, 'With --distributed: host:port of process 0.')
flags.DEFINE_integer('num_processes', None, 'With --distributed: how many processes.')
flags.DEFINE_integer('process_id', None, 'With --distributed: this process, 0 to '
                     'num_processes - 1.')
flags.DEFINE_integer('cpu_devices', 0, 'On a CPU: split the host into this many JAX devices '
                     '(data parallel, like chips; faster on small CPUs, but not bit-reproducible '
                     'run to run, see README). 0: JAX\'s own choice, one device unless XLA_FLAGS '
                     'forces a count.')
flags.DEFINE_string('predict', None, 'Label these images (an .npz with images, a folder '
                    'or one image file) with the last model of --workdir, and exit.')


def fail(message: str, code: int = 2):
  print(f'run.py: error: {message}', file=sys.stderr)
  sys.exit(code)


def parse_flags(argv):
  try:
    return FLAGS(argv)
  except flags.Error as e:
    fail(str(e).splitlines()[0])


def parse_image_size(text: str | None) -> tuple[int, int] | None:
  if text is None:
    return None
  height, _, width = text.lower().partition('x')
  if not (height.isdigit() and width.isdigit()):
    raise ValueError(f'--image_size must be HxW, e.g. 32x32, got {text!r}')
  return int(height), int(width)


def flag_errors() -> list[str]:
  """What is wrong with the flags, checked before any data is read."""
  from pl_jax import data, models, recipes  # pylint: disable=g-import-not-at-top
  own_data = FLAGS.dataset.partition(':')[0] in ('npz', 'folder')
  checks = [
      (FLAGS.recipe in recipes.RECIPES,
       f'--recipe must be one of {", ".join(recipes.RECIPES)}, got {FLAGS.recipe!r}'),
      (FLAGS.max_shift >= 0, f'--max_shift must be >= 0, got {FLAGS.max_shift}'),
      (0 <= FLAGS.max_degrees <= 180, f'--max_degrees must be in [0, 180], got {FLAGS.max_degrees}'),
      (0 <= FLAGS.max_scale < 1, f'--max_scale must be in [0, 1), got {FLAGS.max_scale}'),
      (0 <= FLAGS.max_shear < 90, f'--max_shear must be in [0, 90), got {FLAGS.max_shear}'),
      (FLAGS.elastic >= 0, f'--elastic must be >= 0, got {FLAGS.elastic}'),
      (0 <= FLAGS.curriculum_step <= 1,
       f'--curriculum_step must be in [0, 1], got {FLAGS.curriculum_step}'),
      (0 < FLAGS.max_share <= 1, f'--max_share must be in (0, 1], got {FLAGS.max_share}'),
      (FLAGS.class_slack >= 0, f'--class_slack must be >= 0, got {FLAGS.class_slack}'),
      (own_data or FLAGS.dataset in data.DATASETS,
       f'--dataset must be one of {", ".join(data.DATASETS)}, npz:PATH or folder:PATH, '
       f'got {FLAGS.dataset!r}'),
      (set(FLAGS.freeze) <= set(models.LAYERS),
       f'--freeze takes layers of {", ".join(models.LAYERS)}, got {",".join(FLAGS.freeze)}'),
      (0 < FLAGS.threshold < 1, f'--threshold must be in (0, 1), got {FLAGS.threshold}'),
      (own_data or 1 <= FLAGS.n_labeled <= data.TRAIN_SIZE,
       f'--n_labeled must be in [1, {data.TRAIN_SIZE}], got {FLAGS.n_labeled}'),
      (FLAGS.iterations >= 1, f'--iterations must be >= 1, got {FLAGS.iterations}'),
      (FLAGS.epochs >= 1, f'--epochs must be >= 1, got {FLAGS.epochs}'),
      (FLAGS.final_epochs >= 0, f'--final_epochs must be >= 0, got {FLAGS.final_epochs}'),
      (FLAGS.final_models >= 1, f'--final_models must be >= 1, got {FLAGS.final_models}'),
      (FLAGS.min_steps >= 0, f'--min_steps must be >= 0, got {FLAGS.min_steps}'),
      (FLAGS.batch_size >= 1, f'--batch_size must be >= 1, got {FLAGS.batch_size}'),
      (FLAGS.width >= 1, f'--width must be >= 1, got {FLAGS.width}'),
      (FLAGS.learning_rate > 0, f'--learning_rate must be > 0, got {FLAGS.learning_rate}'),
      (FLAGS.seed >= 0, f'--seed must be >= 0, got {FLAGS.seed}'),
      (FLAGS.score_chunk_size >= 1,
       f'--score_chunk_size must be >= 1, got {FLAGS.score_chunk_size}'),
      (FLAGS.human_per_batch >= 0,
       f'--human_per_batch must be >= 0, got {FLAGS.human_per_batch}'),
      (FLAGS.mixup >= 0, f'--mixup must be >= 0, got {FLAGS.mixup}'),
      (0 <= FLAGS.ema_decay < 1, f'--ema_decay must be in [0, 1), got {FLAGS.ema_decay}'),
      (0 <= FLAGS.gce_q <= 1, f'--gce_q must be in [0, 1], got {FLAGS.gce_q}'),
      (FLAGS.score_views >= 0, f'--score_views must be >= 0, got {FLAGS.score_views}'),
      (FLAGS.predict_views >= 0, f'--predict_views must be >= 0, got {FLAGS.predict_views}'),
      (FLAGS.batch_splits >= 1, f'--batch_splits must be >= 1, got {FLAGS.batch_splits}'),
      (FLAGS.batch_splits < 1 or (FLAGS.batch_size + FLAGS.human_per_batch) % FLAGS.batch_splits == 0,
       f'--batch_size (plus --human_per_batch) must split into --batch_splits='
       f'{FLAGS.batch_splits} equal parts'),
      (FLAGS.batch_splits <= 1 or FLAGS.consistency_weight == 0,
       '--batch_splits needs the consistency term off (--consistency_weight=0)'),
      (FLAGS.consistency_weight >= 0,
       f'--consistency_weight must be >= 0, got {FLAGS.consistency_weight}'),
      (0 < FLAGS.consistency_threshold < 1,
       f'--consistency_threshold must be in (0, 1), got {FLAGS.consistency_threshold}'),
      (FLAGS.unlabeled_ratio >= 1,
       f'--unlabeled_ratio must be >= 1, got {FLAGS.unlabeled_ratio}'),
      (FLAGS.strong_max_shift >= 0,
       f'--strong_max_shift must be >= 0, got {FLAGS.strong_max_shift}'),
      (0 <= FLAGS.strong_max_degrees <= 180,
       f'--strong_max_degrees must be in [0, 180], got {FLAGS.strong_max_degrees}'),
      (0 <= FLAGS.strong_max_scale < 1,
       f'--strong_max_scale must be in [0, 1), got {FLAGS.strong_max_scale}'),
      (FLAGS.strong_cutout >= 0, f'--strong_cutout must be >= 0, got {FLAGS.strong_cutout}'),
      (FLAGS.cpu_devices >= 0, f'--cpu_devices must be >= 0, got {FLAGS.cpu_devices}'),
      (FLAGS.cpu_devices <= 0 or (FLAGS.batch_size % FLAGS.cpu_devices == 0
                                  and FLAGS.score_chunk_size % FLAGS.cpu_devices == 0),
       f'--batch_size and --score_chunk_size must split over --cpu_devices='
       f'{FLAGS.cpu_devices}'),
      (FLAGS.export_review >= 0, f'--export_review must be >= 0, got {FLAGS.export_review}'),
      (not FLAGS.keep_pseudo_labels or FLAGS.manual_labels,
       '--keep_pseudo_labels needs --manual_labels'),
      (not FLAGS.predict or FLAGS.workdir, '--predict needs the --workdir of a run'),
      (not FLAGS.distributed or FLAGS.workdir,
       '--distributed needs --workdir (the same for every process)'),
      (FLAGS.distributed or not (FLAGS.coordinator_address or FLAGS.num_processes is not None
                                 or FLAGS.process_id is not None),
       '--coordinator_address, --num_processes and --process_id need --distributed'),
  ]
  try:
    parse_image_size(FLAGS.image_size)
  except ValueError as e:
    checks.append((False, str(e)))
  return [message for ok, message in checks if not ok]


def workdir_problem(workdir: str) -> str | None:
  """Why results could not be written to workdir (checked before any work)."""
  if os.path.exists(workdir):
    if not os.path.isdir(workdir):
      return f'{workdir} is not a directory'
    return None if os.access(workdir, os.W_OK) else f'{workdir} is not writable'
  parent = os.path.dirname(os.path.abspath(workdir))
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
    return f'cannot create {workdir}: {parent} is not a writable directory'
  return None


def make_config():
  """The recipe's settings, with every flag given on the command line on top."""
  from pl_jax import loop, recipes  # pylint: disable=g-import-not-at-top
  flag_of = {field.name: 'freeze' if field.name == 'frozen' else field.name
             for field in dataclasses.fields(loop.Config)}
  recipe = recipes.RECIPES[FLAGS.recipe]
  explicit = {}
  for field, flag in flag_of.items():
    if FLAGS[flag].present or field not in recipe:
      value = FLAGS[flag].value
      explicit[field] = tuple(value) if field == 'frozen' else value
  return recipes.make_config(FLAGS.recipe, **explicit)


def predict_images() -> None:
  from pl_jax import predict  # pylint: disable=g-import-not-at-top
  try:
    images, names = predict.load_images(FLAGS.predict, predict.image_shape(FLAGS.workdir))
    confidence, predicted, class_names = predict.predict(FLAGS.workdir, images,
                                                         FLAGS.score_chunk_size)
    stem = os.path.splitext(os.path.basename(os.path.normpath(FLAGS.predict)))[0]
    out = os.path.join(FLAGS.workdir, f'predictions-{stem}.csv')
    predict.write_predictions(out, names, confidence, predicted, class_names)
  except predict.PredictError as e:
    fail(str(e))
  except OSError as e:
    fail(f'could not write predictions: {e}')
  print(f'pl_jax: labeled {len(names)} image(s) with the model of {FLAGS.workdir}; '
        f'wrote {out}')


def main(argv):
  # JAX's INFO lines (e.g. that no TPU was found) are noise on stderr here.
  logging.set_verbosity(logging.WARNING)
  if len(argv) > 1:
    fail(f'unexpected arguments: {" ".join(argv[1:])}')
  errors = flag_errors()
  if errors:
    fail('; '.join(errors))
  if FLAGS.predict:
    return predict_images()

  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from pl_jax import data, loop, report, review, select, sharding  # pylint: disable=g-import-not-at-top
  config = make_config()
  sharding.split_cpu_host(FLAGS.cpu_devices)
  if FLAGS.distributed:
    try:
      sharding.initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes,
                                      FLAGS.process_id)
    except (RuntimeError, ValueError) as e:
      fail(f'could not join the multi-host run: {data.one_line(e)}')
  # Every process computes the same; one prints and writes the files.
  primary = sharding.is_primary()
  say = print if primary else lambda *args, **kwargs: None
  dataset_name = FLAGS.dataset.replace(':', '-').replace('/', '_')
  workdir = FLAGS.workdir or os.path.join(
      'runs', f'{loop.run_name(dataset_name, config)}-'
      f'{datetime.datetime.now().strftime("%Y%m%d-%H%M%S")}')
  problem = workdir_problem(workdir)
  if problem:
    fail(f'cannot use --workdir: {problem}')

  try:
    dataset = data.load_dataset(FLAGS.dataset, FLAGS.data_dir, FLAGS.offline,
                                parse_image_size(FLAGS.image_size))
    manual = previous = None
    if FLAGS.manual_labels:
      manual = review.read_manual_labels(FLAGS.manual_labels, dataset)
      if FLAGS.keep_pseudo_labels:
        previous = review.previous_labels(FLAGS.manual_labels)
    initial = loop.initial_label_state(dataset, config, manual, previous)
  except (data.DataError, review.ReviewError) as e:
    fail(str(e))
  n_human = int((np.asarray(initial.source) == select.HUMAN).sum())
  test = len(dataset.test_labels) if dataset.has_test else 'none'
  say(f'pl_jax: {dataset.name} from {dataset.source} | train {len(dataset.train_labels)} '
        f'({n_human} human-labeled) test {test} | threshold {config.threshold:g} | '
        f'{jax.device_count()} {jax.default_backend()} device(s) | workdir {workdir}',
        flush=True)
  run_config = {**config.__dict__, 'frozen': list(config.frozen), 'recipe': FLAGS.recipe,
                'dataset': FLAGS.dataset,
                'data_dir': FLAGS.data_dir or data.default_data_dir(), 'workdir': workdir,
                'manual_labels': FLAGS.manual_labels,
                'keep_pseudo_labels': FLAGS.keep_pseudo_labels}
  try:
    os.makedirs(workdir, exist_ok=True)
    result = loop.self_train(dataset, config, workdir, initial=initial,
                             run_config=run_config, overwrite=FLAGS.overwrite,
                             progress=FLAGS.progress and primary, log=say)
    if not primary:
      return
    run_report = report.write_run_report(workdir)
    if FLAGS.export_review:
      sheet, sheet_csv = review.export_review(workdir, dataset, FLAGS.export_review,
                                              FLAGS.review_by)
      print(f'pl_jax: review the least sure pool images in {sheet}; fill the label column '
            f'of {sheet_csv} and pass it back with --manual_labels')
  except (loop.WorkdirError, ValueError) as e:  # ValueError: settings the devices reject.
    fail(str(e))
  except OSError as e:
    fail(f'could not write results to {workdir}: {e}')
  except KeyboardInterrupt:
    fail(f'interrupted; finished iterations are saved in {workdir} (rerun to resume)',
         code=130)
  record = result.record
  accuracy = record['final_test_accuracy']
  print(f"pl_jax: final test accuracy "
        f"{'-' if accuracy is None else f'{100 * accuracy:.2f}%'} after "
        f"{len(record['iterations'])} iteration(s), stop reason {record['stop_reason']}; "
        f"results in {workdir}/results.json, report in {run_report}", flush=True)


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
