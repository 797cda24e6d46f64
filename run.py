"""pl_jax: iterative confidence-based pseudo-labeling on MNIST-like data.

  python run.py --n_labeled=100 --threshold=0.99

The settings' flags are made from pl_jax/config.py's declaration; the run
options are declared here. The library takes a `config.Config`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import os
import sys

from absl import app, flags, logging

from pl_jax import config as config_lib
from pl_jax import data, data_types, lock, recipes

FLAGS = flags.FLAGS


def define_setting_flags() -> None:
  """A flag per config.Config setting, from its declaration: name, default, help.
  Values are checked by config.check (through recipes.make_config), not here."""
  for field in dataclasses.fields(config_lib.Config):
    default, allowed = field.default, field.metadata['allowed']
    help_text = f'{field.metadata["help"]} ({allowed}.)' if not isinstance(default, bool) \
        else field.metadata['help']
    if isinstance(default, bool):
      flags.DEFINE_bool(field.name, default, help_text)
    elif isinstance(default, int):
      flags.DEFINE_integer(field.name, default, help_text)
    elif isinstance(default, float):
      flags.DEFINE_float(field.name, default, help_text)
    elif isinstance(default, tuple):
      flags.DEFINE_list(field.name, list(default), help_text)
    else:
      flags.DEFINE_string(field.name, default, help_text)


define_setting_flags()
# Run options: how and where a run works, which never change its numbers.
# (how to define it, name, default, help), in the order of docs/flags.md.
RUN_OPTIONS = (
    (flags.DEFINE_string, 'recipe', recipes.DEFAULT, 'Named settings (pl_jax/recipes.py): '
     f'{", ".join(recipes.RECIPES)}; flags given explicitly win.'),
    (flags.DEFINE_string, 'dataset', 'mnist', 'mnist, fashion_mnist, npz:PATH (your images '
     'and labels, -1 for unlabeled) or folder:PATH (a sub-folder per class, unlabeled/, '
     'optional test/).'),
    (flags.DEFINE_string, 'image_size', None, 'HxW to resize folder:PATH images to (default: '
     'they must all have one size).'),
    (flags.DEFINE_string, 'data_dir', None, 'Where data is found and cached (TFDS data_dir); '
     'default $PL_JAX_DATA_DIR or ~/tensorflow_datasets.'),
    (flags.DEFINE_bool, 'offline', False, 'Never download: use only data already under '
     '--data_dir (or installed Debian files).'),
    (flags.DEFINE_bool, 'test_split', True, 'Score the data set\'s test split every '
     'iteration; --notest_split leaves it unread (runs that choose a setting: they see '
     'the validation split only).'),
    (flags.DEFINE_string, 'workdir', None, 'Run directory for results.json and labels.npz; '
     'default runs/<dataset>-n<n_labeled>-t<threshold>-s<seed>-<time>.'),
    (flags.DEFINE_bool, 'progress', True, 'Show a progress bar while training.'),
    (flags.DEFINE_bool, 'overwrite', False, 'Replace a run of other settings in --workdir '
     '(otherwise refused; a run of the same settings is resumed).'),
    (flags.DEFINE_integer, 'export_review', 0, 'After the run, write the K pool images the '
     'model is least sure about to <workdir>/review/ (contact sheet + CSV, and the review '
     'page\'s files: python -m pl_jax.review_server WORKDIR).'),
    (flags.DEFINE_bool, 'export_label_studio', False, 'With --export_review: also write '
     'review/label_studio_tasks.json (Label Studio tasks, the model\'s guess as a '
     'prediction) and its labeling config, review/label_studio_config.xml.'),
    (functools.partial(flags.DEFINE_enum, enum_values=['confidence', 'margin']), 'review_by',
     'confidence', 'Rank review candidates by top confidence or by top-2 margin.'),
    (flags.DEFINE_string, 'manual_labels', None, 'A filled review CSV, or Label Studio\'s JSON '
     'export of the review\'s tasks (.json): its labels join the human labels and the '
     'procedure restarts from them.'),
    (flags.DEFINE_bool, 'keep_pseudo_labels', False, 'With --manual_labels: keep the '
     'pseudo-labels of the run the review sheet came from.'),
    (flags.DEFINE_bool, 'distributed', False, 'Join a multi-host run (jax.distributed): every '
     'process runs this same command; the platform\'s settings are used where it provides '
     'them (Cloud TPU pods, SLURM), else the three flags below.'),
    (flags.DEFINE_string, 'coordinator_address', None, 'With --distributed: host:port of '
     'process 0.'),
    (flags.DEFINE_integer, 'num_processes', None, 'With --distributed: how many processes.'),
    (flags.DEFINE_integer, 'process_id', None, 'With --distributed: this process, 0 to '
     'num_processes - 1.'),
    (flags.DEFINE_integer, 'cpu_devices', 0, 'On a CPU: split the host into this many JAX '
     'devices (data parallel, like chips; faster on small CPUs, but not bit-reproducible run '
     'to run, see docs/devices.md). 0: JAX\'s own choice, one device unless XLA_FLAGS forces '
     'a count.'),
    (flags.DEFINE_string, 'predict', None, 'Label these images (an .npz with images, a '
     'folder or one image file) with the last model of --workdir, and exit.'),
    (flags.DEFINE_bool, 'flags_markdown', False, 'Print the flag reference (docs/flags.md) '
     'and exit.'),
)
for define, name, default, help_text in RUN_OPTIONS:
  define(name=name, default=default, help=help_text)


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
  """What is wrong with the run options, checked before any data is read (the
  settings are checked by make_config)."""
  own_data = FLAGS.dataset.partition(':')[0] in ('npz', 'folder')
  checks = [
      (own_data or FLAGS.dataset in data.DATASETS,
       f'--dataset must be one of {", ".join(data.DATASETS)}, npz:PATH or folder:PATH, '
       f'got {FLAGS.dataset!r}'),
      (own_data or FLAGS.n_labeled + FLAGS.validation <= data.TRAIN_SIZE,
       f'--n_labeled plus --validation must be at most {data.TRAIN_SIZE} on {FLAGS.dataset}, '
       f'got {FLAGS.n_labeled + FLAGS.validation}'),
      (FLAGS.cpu_devices >= 0, f'--cpu_devices must be >= 0, got {FLAGS.cpu_devices}'),
      (FLAGS.cpu_devices <= 0 or (FLAGS.batch_size % FLAGS.cpu_devices == 0
                                  and FLAGS.score_chunk_size % FLAGS.cpu_devices == 0),
       f'--batch_size and --score_chunk_size must split over --cpu_devices='
       f'{FLAGS.cpu_devices}'),
      (FLAGS.export_review >= 0, f'--export_review must be >= 0, got {FLAGS.export_review}'),
      (not FLAGS.export_label_studio or FLAGS.export_review,
       '--export_label_studio needs --export_review'),
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


def make_config() -> config_lib.Config:
  """The recipe's settings, with every flag given on the command line on top.

  Raises:
    config_lib.ConfigError: a recipe or setting value that is not allowed.
  """
  explicit = {name: FLAGS[name].value for name in config_lib.names() if FLAGS[name].present}
  return recipes.make_config(FLAGS.recipe, **explicit)


def flags_markdown() -> str:
  """The flag reference, docs/flags.md: every setting by group, with its default,
  allowed values and each other recipe's value where it differs, then the run options."""
  others = [name for name in recipes.RECIPES if name != recipes.DEFAULT]
  lines = ['# Flags of run.py', '',
           'Generated from `pl_jax/config.py` and `run.py` by `python run.py --flags_markdown`'
           ' (tests/test_run.py keeps it current). The defaults are the default recipe\'s '
           f'(`{recipes.DEFAULT}`); '
           + ', '.join(f'`--recipe={name}`' for name in others)
           + ' change the settings their columns name.', '']
  show = lambda value: (','.join(value) or 'none') if isinstance(value, tuple) else str(value)
  for group in config_lib.GROUPS:
    lines += [f'## Settings: {group}', '',
              '| flag | default | allowed | ' + ' | '.join(others) + ' | what |',
              '|---|---|---|' + '---|' * len(others) + '---|']
    for field in config_lib.fields_of(group):
      allowed = '' if isinstance(field.default, bool) else str(field.metadata['allowed'])
      recipe_cells = ''.join(
          f'{show(recipes.RECIPES[name].get(field.name, ""))} | ' for name in others)
      lines.append(f'| `--{field.name}` | `{show(field.default)}` | {allowed} | '
                   f'{recipe_cells}{field.metadata["help"]} |')
    lines.append('')
  lines += ['## Run options (they never change a run\'s numbers)', '', '| flag | default | what |',
            '|---|---|---|']
  for _, name, _, _ in RUN_OPTIONS:
    lines.append(f'| `--{name}` | `{FLAGS[name].default}` | {FLAGS[name].help} |')
  return '\n'.join(lines) + '\n'


def predict_images() -> None:
  from pl_jax import predict  # pylint: disable=g-import-not-at-top
  try:
    shape = predict.image_shape(FLAGS.workdir)
    with hold_workdir(FLAGS.workdir, 'run.py --predict'):  # Its CSV goes into the workdir.
      images, names = predict.load_images(FLAGS.predict, shape)
      confidence, predicted, class_names = predict.predict(FLAGS.workdir, images,
                                                           FLAGS.score_chunk_size)
      stem = os.path.splitext(os.path.basename(os.path.normpath(FLAGS.predict)))[0]
      out = os.path.join(FLAGS.workdir, f'predictions-{stem}.csv')
      predict.write_predictions(out, names, confidence, predicted, class_names)
  except predict.PredictError as e:
    fail(str(e))
  except OSError as e:
    fail(f'could not write predictions: {data_types.one_line(e)}')
  print(f'pl_jax: labeled {len(names)} image(s) with the model of {FLAGS.workdir}; '
        f'wrote {out}')


def hold_workdir(workdir: str, what: str) -> contextlib.AbstractContextManager:
  """Holds the workdir's lock (pl_jax/lock.py), or exits with one line naming
  the process that holds it."""
  holding = contextlib.ExitStack()
  try:
    holding.enter_context(lock.hold(workdir, what))
  except lock.LockedError as e:
    fail(str(e))
  except OSError as e:
    fail(f'cannot use --workdir: {data_types.one_line(e)}')
  return holding


def main(argv):
  # JAX's INFO lines (e.g. that no TPU was found) are noise on stderr here.
  logging.set_verbosity(logging.WARNING)
  if len(argv) > 1:
    fail(f'unexpected arguments: {" ".join(argv[1:])}')
  if FLAGS.flags_markdown:
    return print(flags_markdown(), end='')
  errors = flag_errors()
  if errors:
    fail('; '.join(errors))
  try:
    config = make_config()
  except config_lib.ConfigError as e:
    fail(f'--{e}')
  if FLAGS.predict:
    return predict_images()
  from pl_jax import sharding  # pylint: disable=g-import-not-at-top  (JAX: after the checks)
  sharding.split_cpu_host(FLAGS.cpu_devices)
  if FLAGS.distributed:
    try:
      sharding.initialize_distributed(FLAGS.coordinator_address, FLAGS.num_processes,
                                      FLAGS.process_id)
    except (RuntimeError, ValueError) as e:
      fail(f'could not join the multi-host run: {data_types.one_line(e)}')
  workdir = FLAGS.workdir or default_workdir(config)
  problem = workdir_problem(workdir)
  if problem:
    fail(f'cannot use --workdir: {problem}')
  run(config, workdir, primary=sharding.is_primary())


def default_workdir(config: config_lib.Config) -> str:
  from pl_jax import loop  # pylint: disable=g-import-not-at-top
  dataset_name = FLAGS.dataset.replace(':', '-').replace('/', '_')
  return os.path.join('runs', f'{loop.run_name(dataset_name, config)}-'
                      f'{datetime.datetime.now().strftime("%Y%m%d-%H%M%S")}')


def load_data(config: config_lib.Config):
  """The data set and the labels the run starts from (with --manual_labels, a
  person's labels joined in)."""
  from pl_jax import loop, review  # pylint: disable=g-import-not-at-top
  try:
    dataset = data.load_dataset(FLAGS.dataset, FLAGS.data_dir, FLAGS.offline,
                                parse_image_size(FLAGS.image_size))
    manual = previous = None
    if FLAGS.manual_labels:
      manual = review.read_manual_labels(FLAGS.manual_labels, dataset)
      if FLAGS.keep_pseudo_labels:
        previous = review.previous_labels(FLAGS.manual_labels)
    return dataset, loop.initial_label_state(dataset, config, manual, previous)
  except (data_types.DataError, review.ReviewError) as e:
    fail(str(e))


def export_review(workdir: str, dataset, result) -> None:
  """--export_review: the review's files, the final model's top guesses on each image."""
  import jax  # pylint: disable=g-import-not-at-top
  from pl_jax import review  # pylint: disable=g-import-not-at-top
  guesses = None if jax.process_count() > 1 else functools.partial(
      review.model_probabilities, result.apply_fn, result.params)
  files = review.export_review(workdir, dataset, FLAGS.export_review, FLAGS.review_by,
                               guesses, FLAGS.export_label_studio,
                               review.next_command(sys.argv, workdir))
  print(f'pl_jax: review the least sure pool images in the browser: python -m '
        f'pl_jax.review_server {workdir} (or fill the label column of {files.csv}; '
        f'contact sheet {files.sheet}) and pass it back with --manual_labels')
  if files.label_studio:
    print(f'pl_jax: Label Studio tasks in {files.label_studio} (labeling config beside it); '
          'pass its JSON export back with --manual_labels')


def run(config: config_lib.Config, workdir: str, primary: bool) -> None:
  """The data first (bad data touches no workdir), then the run under the
  workdir's lock: one writer per workdir. The other processes of a multi-host
  run write only their part of the checkpoints, in step with the primary one,
  and take no lock."""
  dataset, initial = load_data(config)
  with hold_workdir(workdir, 'run.py') if primary else contextlib.nullcontext():
    train_and_report(config, workdir, primary, dataset, initial)


def train_and_report(config: config_lib.Config, workdir: str, primary: bool,
                     dataset, initial) -> None:
  """The run itself, its report and review sheet; every process computes the
  same, the primary one prints and writes the files."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from pl_jax import loop, report, select  # pylint: disable=g-import-not-at-top
  say = print if primary else lambda *args, **kwargs: None
  if not FLAGS.test_split:
    dataset = dataclasses.replace(dataset, test_images=None, test_labels=None)
  n_human = int((np.asarray(initial.source) == select.HUMAN).sum())
  test = len(dataset.test_labels) if dataset.has_test else 'none'
  say(f'pl_jax: {dataset.name} from {dataset.source} | train {len(dataset.train_labels)} '
      f'({n_human} human-labeled) test {test} | threshold {config.threshold:g} | '
      f'{jax.device_count()} {jax.default_backend()} device(s) | workdir {workdir}',
      flush=True)
  run_config = {**dataclasses.asdict(config), 'frozen': list(config.frozen),
                'recipe': FLAGS.recipe, 'dataset': FLAGS.dataset,
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
      export_review(workdir, dataset, result)
  except (loop.WorkdirError, ValueError) as e:  # ValueError: settings the devices reject.
    fail(str(e))
  except OSError as e:
    fail(f'could not write results to {workdir}: {data_types.one_line(e)}')
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
