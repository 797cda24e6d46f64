"""Loop: iterative confidence-based pseudo-labeling (self-training) with masks.

    labels <- the human labels; the rest of the training set is the pool
    optionally, first pseudo-labels by label spreading       (propagated_start)
    for iteration = 1 .. iterations:
      train a model on every example with a label in use    (train_iteration)
      score the whole training set and the test set, and
      select pool examples with confidence > threshold      (score_iteration)
      record the iteration's figures                        (iteration_row)
      adopt their predicted class as pseudo-labels          (adopt)
      where the run ends, train the other final models      (train_final_models)
      checkpoint everything                                 (save_iteration)
      stop when the pool was empty or nothing was selected  (stop_reason)

Arrays keep their full size throughout; `LabelState` masks say what is labeled,
pseudo-labeled or still in the pool, so nothing recompiles between iterations.
With a workdir, every finished iteration is checkpointed, and a rerun resumes
after the last one.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import shutil
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding

from pl_jax import (atomic, augment, checkpoint, data, data_types, metrics, models, propagate,
                    score, select, sharding, streams, timing, train)
from pl_jax import config as config_lib
from pl_jax.config import Config

STOP_MAX_ITERATIONS = 'max_iterations'
STOP_NO_NEW_LABELS = 'no_new_labels'
STOP_POOL_EMPTY = 'pool_empty'
# What a run writes into its workdir (and --overwrite removes).
RUN_FILES = ('results.json', 'labels.npz', 'pseudo_labels.csv', 'scores.npz',
             checkpoint.DIRECTORY)


@dataclasses.dataclass(frozen=True)
class Result:
  """What a run leaves: its record, the last model and every label's provenance."""
  record: dict
  model: models.CNN
  # The last model's train.evaluation_params (what scored the pool); with
  # Config.final_models > 1, every final model's, stacked (models.stack_params).
  params: Any
  labels: select.LabelState

  @property
  def apply_fn(self) -> Callable[..., jax.Array]:
    """How `params` predict: apply_fn({'params': params}, images) -> logits."""
    return models.apply_fn(self.model, self.record['recipe'].get('final_models', 1),
                           self.record['model'].get('deskew', False))


class WorkdirError(Exception):
  """The workdir holds a different run; the message is one line for the user."""


class Graph(NamedTuple):
  """Label spreading from the human labels (spread_human_labels), for every
  training example: its class, int32[N] (held-out ones: -1), and a score to
  rank by within a class, float32[N] in [0, 1]; the seconds it took."""
  classes: np.ndarray
  score: np.ndarray
  seconds: float


@dataclasses.dataclass(frozen=True)
class Run:
  """What stays fixed while a run iterates: its settings, model and random
  streams, and its data on the devices (replicated; the batch is split)."""
  dataset: data_types.Dataset
  config: Config
  model: models.CNN
  # The layers kept at their init (frozen_layers), and the optimizer that keeps them.
  frozen: tuple[str, ...]
  optimizer: optax.GradientTransformation
  streams: streams.Streams
  options: train.TrainOptions
  replicated: NamedSharding
  # What the model sees: the images, deskewed where the run deskews (deskews).
  images: jax.Array  # uint8[N, H, W, C]
  test_images: jax.Array | None  # uint8[M, H, W, C]
  # The held-out examples (config.validation), uint8[V, H, W, C] and int[V].
  validation_images: jax.Array | None
  validation_labels: np.ndarray | None
  # With config.graph_check (and a pool), what pseudo-labels must agree with.
  graph: Graph | None
  progress: bool

  @property
  def true_labels(self) -> np.ndarray | None:
    """int[N], hidden truth for the oracle metrics (benchmarks only)."""
    return self.dataset.train_labels if self.dataset.is_benchmark else None


class Training(NamedTuple):
  """What train_iteration reports: each epoch's mean loss, the images trained on
  (examples times epochs), and its wall seconds with the part spent compiling."""
  losses: list[float]
  images: int
  seconds: float
  compile_seconds: float


class Scoring(NamedTuple):
  """What score_iteration reports, on the host. params: the model that scored;
  confidence, predicted, margin: [N] each; figures: the test and validation
  figures (predictor_figures); candidates, selected: bool[N]; images: how many
  it scored (views counted)."""
  params: Any
  confidence: np.ndarray
  predicted: np.ndarray
  margin: np.ndarray
  figures: dict
  candidates: np.ndarray
  selected: np.ndarray
  images: int
  seconds: float
  compile_seconds: float


def run_name(dataset: str, config: Config) -> str:
  """The default run directory name, without the time stamp."""
  return f'{dataset}-n{config.n_labeled}-t{config.threshold:g}-s{config.seed}'


def initial_label_state(dataset: data_types.Dataset, config: Config,
                        manual_labels: np.ndarray | None = None,
                        previous: select.LabelState | None = None) -> select.LabelState:
  """The labels a run starts from.

  Benchmarks draw n_labeled human labels from the known ones (data.split_labeled);
  a user's data brings its own (label -1 marks the pool). Then:

  Args:
    manual_labels: int32[N], labels a person gave (e.g. from a review sheet),
      -1 where none; they join the human labels.
    previous: a finished run's labels; its pseudo-labels are kept (else the
      procedure restarts from the human labels alone, as the case study advises).
  """
  held_out = data.split_validation(dataset.train_labels, config.validation,
                                   dataset.is_benchmark, config.seed)
  if dataset.is_benchmark:
    # The labeled draw comes from what the validation split leaves (the first
    # N - validation), so validation=0 draws as before it existed.
    kept = len(held_out) - config.validation
    human = np.zeros(len(held_out), bool)
    try:
      human[:kept] = data.split_labeled(dataset.train_labels[:kept], config.n_labeled,
                                        config.seed, config.stratified, dataset.num_classes)
    except ValueError as e:
      raise data_types.DataError(f'--n_labeled: {e}') from None
    labels = np.where(human, dataset.train_labels, data_types.UNLABELED)
  else:
    labels = dataset.train_labels
  if manual_labels is not None:
    labels = np.where(manual_labels != data_types.UNLABELED, manual_labels, labels)
  state = select.LabelState.from_human(labels, labels != data_types.UNLABELED,
                                       held_out if config.validation else None)
  if previous is not None:
    keep = (np.asarray(previous.source) == select.PSEUDO) & np.asarray(state.in_pool)
    state = select.LabelState(**{
        f.name: np.where(keep, getattr(previous, f.name), getattr(state, f.name))
        for f in dataclasses.fields(state)})
  return state


def recipe(dataset: data_types.Dataset, config: Config, initial: select.LabelState) -> dict:
  """What must match for a workdir's run to be resumed: the config, the data set
  and the starting labels."""
  digest = hashlib.sha256()
  for field in dataclasses.fields(initial):
    digest.update(np.ascontiguousarray(getattr(initial, field.name)).tobytes())
  return {**dataclasses.asdict(config), 'frozen': list(config.frozen),
          'dataset': dataset.name, 'initial_labels_sha256': digest.hexdigest()}


def applies(where: str, dataset: data_types.Dataset) -> bool:
  """Whether a setting of config.APPLIES (digits, always, never) applies to the
  data set: `digits` where it is handwritten digits."""
  return where == 'always' or (where == 'digits' and dataset.handwritten_digits)


def deskews(config: Config, dataset: data_types.Dataset) -> bool:
  """Whether a run deskews every image before its model sees it (config.deskew)."""
  return applies(config.deskew, dataset)


def prepare(dataset: data_types.Dataset, config: Config, initial: select.LabelState,
            progress: bool) -> Run:
  """The run's fixed parts: data parallel over every device (one device: the
  same code, no-op), the model state replicated on every device of every host."""
  held_out = np.asarray(initial.source) == select.VALIDATION
  mesh = sharding.data_mesh()
  sharding.check_divisible(config.batch_size, mesh, 'batch_size')
  sharding.check_divisible(config.score_chunk_size, mesh, 'score_chunk_size')
  replicated = sharding.replicated(mesh)
  # Once here, so that the train step augments deskewed images (a predictor on
  # new images deskews them itself: models.apply_fn).
  inputs = augment.deskewed if deskews(config, dataset) else lambda images: images
  frozen = frozen_layers(config, initial)
  return Run(
      dataset=dataset, config=config,
      model=models.CNN(num_classes=dataset.num_classes, pixel_mean=dataset.pixel_mean,
                       pixel_std=dataset.pixel_std),
      frozen=frozen,
      optimizer=train.make_optimizer(config.learning_rate, frozen),
      streams=streams.Streams(config.seed),
      options=train.TrainOptions(config.batch_size, config.augmentation, batch_parts(config),
                                 sharding.batch_sharding(mesh)),
      replicated=replicated,
      images=jax.device_put(inputs(dataset.train_images), replicated),
      test_images=(jax.device_put(inputs(dataset.test_images), replicated)
                   if dataset.has_test else None),
      validation_images=(jax.device_put(inputs(dataset.train_images[held_out]), replicated)
                         if held_out.any() else None),
      validation_labels=dataset.train_labels[held_out] if held_out.any() else None,
      graph=(spread_human_labels(dataset, initial)
             if applies(config.graph_check, dataset) and np.asarray(initial.revisable).any()
             else None),
      progress=progress)


def batch_parts(config: Config) -> int:
  """How many parts the train step splits each batch into: config.batch_splits
  on a CPU, whose cores then run the parts at once; one on a GPU or TPU, where
  a batch is already one parallel computation (on an H200 the default command
  took 50 s in one part against 60 s in 8: BENCHMARKS.md, "On a GPU")."""
  return config.batch_splits if jax.default_backend() == 'cpu' else 1


def frozen_layers(config: Config, initial: select.LabelState) -> tuple[str, ...]:
  """The layers a run keeps at their init: config.frozen, in a run with fewer
  human labels than config.frozen_below (or any run, where that is 0)."""
  n_human = int(np.sum(np.asarray(initial.source) == select.HUMAN))
  return config.frozen if not config.frozen_below or n_human < config.frozen_below else ()


def spread_human_labels(dataset: data_types.Dataset, initial: select.LabelState) -> Graph:
  """Label spreading from the human labels over a nearest-neighbour graph of
  every training image not held out (propagate.py): a second opinion that errs
  elsewhere than the model, computed once, from what the run starts with."""
  start = time.perf_counter()
  source = np.asarray(initial.source)
  nodes = source != select.VALIDATION
  score, classes = jax.device_get(propagate.propagate(
      dataset.train_images, np.asarray(initial.labels), source == select.HUMAN, nodes,
      dataset.num_classes))
  return Graph(np.where(nodes, classes, -1).astype(np.int32), score,
               time.perf_counter() - start)


def new_record(run: Run, initial: select.LabelState, run_config: dict | None) -> dict:
  """results.json before the first iteration."""
  dataset, config = run.dataset, run.config
  return {
      'config': run_config if run_config is not None else dataclasses.asdict(config),
      'recipe': recipe(dataset, config, initial),
      'dataset': dataset.name,
      'data_source': dataset.source,
      # Where it ran: the batch is split over these (pl_jax/sharding.py).
      'devices': {'platform': jax.default_backend(), 'count': jax.device_count(),
                  'kind': jax.devices()[0].device_kind,
                  # How fast they were when it started (timing.matmul_flops).
                  'matmul_gflops': round(timing.matmul_flops() / 1e9, 1),
                  # Each batch's parts there (batch_parts).
                  'batch_parts': run.options.splits},
      'model': {'num_classes': dataset.num_classes,
                'image_shape': list(dataset.train_images.shape[1:]),
                'pixel_mean': list(dataset.pixel_mean), 'pixel_std': list(dataset.pixel_std),
                # Its predictor deskews images as they come (models.apply_fn).
                'deskew': deskews(config, dataset),
                # Layers at their random init (frozen_layers).
                'frozen': list(run.frozen),
                'class_names': list(dataset.class_names or [])},
      **({} if run.graph is None else {'graph_check': graph_entry(run)}),
      'stop_reason': None,
      'final_test_accuracy': None,
      'iterations': [],
  }


def graph_entry(run: Run) -> dict:
  """The record's `graph_check` entry: its seconds, and (an oracle diagnostic)
  the share of the graph's images, human-labeled ones among them, whose true
  class label spreading gives."""
  nodes = run.graph.classes >= 0
  correct = (None if run.true_labels is None else
             round(float(np.mean(run.graph.classes[nodes] == run.true_labels[nodes])), 6))
  return {'seconds': round(run.graph.seconds, 3), 'pool_correct': correct}


def self_train(dataset: data_types.Dataset, config: Config, workdir: str | None = None, *,
               initial: select.LabelState | None = None, run_config: dict | None = None,
               overwrite: bool = False, progress: bool = True,
               log: Callable[[str], None] = print) -> Result:
  """Runs the loop (resuming a workdir's unfinished run) and returns its result.

  With a workdir, after every iteration: a checkpoint, then results.json,
  labels.npz, pseudo_labels.csv and scores.npz, each written atomically.
  initial: the starting labels (default initial_label_state(dataset, config));
  run_config: what to record as `config` (e.g. every flag; default: config);
  overwrite: replace a workdir's run of another recipe (else WorkdirError);
  log: receives one line per iteration (and notes on resuming).
  """
  initial = initial_label_state(dataset, config) if initial is None else initial
  start = time.perf_counter()
  run = prepare(dataset, config, initial, progress)
  record = new_record(run, initial, run_config)
  label_state, train_state, first = initial, None, 1
  if workdir is not None:
    resumed = _resume(workdir, run, record, new_model(run, run.streams.init(0)), initial,
                      overwrite, log)
    if resumed is not None:
      done, label_state, record = resumed.iteration, resumed.label_state, resumed.record
      train_state = jax.device_put(resumed.train_state, run.replicated)
      if record['stop_reason'] is not None:
        return finished_result(run, train_state, label_state, record, resumed.ensemble)
      first = done + 1
  if not dataset.has_test and first == 1:
    log('note: no test split: the validation split is the only check' if config.validation
        else 'warning: no test split, so no reality check: test metrics are absent')
  # Wall seconds since the run began, over every resumption.
  clock_offset = record['iterations'][-1].get('wall_seconds', 0) if record['iterations'] else 0

  if first == 1 and run.graph is not None:
    log(format_graph_check(record['graph_check']))
  if first == 1 and config.propagate:
    if (np.asarray(label_state.source) == select.PSEUDO).any():  # A follow-up's kept ones.
      log('note: no propagated start: the run starts from pseudo-labels it was given')
    else:
      label_state, record['propagation'] = propagated_start(run, label_state)
      log(format_propagation(record['propagation']))
  ensemble_params = None  # Set where the run ends, with config.final_models > 1.
  for iteration in range(first, config.iterations + 1):
    train_state, training = train_iteration(run, train_state, label_state, iteration)
    scoring = score_iteration(run, train_state, label_state, iteration)
    row = iteration_row(run, iteration, label_state, training, scoring)
    label_state = adopt(config, label_state, scoring.selected, scoring.predicted,
                        scoring.confidence, iteration)
    record['stop_reason'] = stop_reason(row, iteration, config.iterations)
    if record['stop_reason'] is not None and config.final_models > 1:
      ensemble_params, ensemble_figures = train_final_models(run, label_state, scoring)
      row.update(ensemble_figures)
    row['wall_seconds'] = round(clock_offset + time.perf_counter() - start, 3)
    record['iterations'].append(row)
    record['final_test_accuracy'] = row['test_accuracy']
    if workdir is not None:
      save_iteration(workdir, run, iteration, train_state, label_state, record, scoring,
                     ensemble_params)
    log(format_iteration(row))
    if record['stop_reason'] is not None:
      break
  return Result(record, run.model,
                train.evaluation_params(train_state) if ensemble_params is None
                else ensemble_params,
                jax.device_get(label_state))


def propagated_start(run: Run, label_state: select.LabelState) -> tuple[select.LabelState, dict]:
  """The first pseudo-labels by label spreading from the human labels
  (spread_human_labels; with config.graph_check, the run's). Each class takes the share
  iteration 1 would select (the curriculum's), best-ranked first; they are
  stamped iteration 0, and with config.revise the first model may revise them.

  Returns the new labels and the record's `propagation` entry: how many per
  class, how many of them right (oracle) and the seconds it took.
  """
  config, num_classes = run.config, run.dataset.num_classes
  start = time.perf_counter()
  graph = run.graph if run.graph is not None else spread_human_labels(run.dataset, label_state)
  candidates = np.asarray(candidates_of(label_state, config))
  per_class = select.curriculum_per_class(int(candidates.sum()), num_classes, 1,
                                          config.curriculum_step)
  # No threshold: spreading scores are not a model's probabilities; only their
  # rank within a class decides.
  selected = select.select_balanced(graph.score, graph.classes, jnp.asarray(candidates), -1.0,
                                    per_class)
  label_state = adopt(config, label_state, selected, graph.classes, graph.score, 0)
  return label_state, {
      **metrics.selection_per_class(graph.classes, jax.device_get(selected), run.true_labels,
                                    num_classes),
      'seconds': round(time.perf_counter() - start, 3)}


def format_graph_check(entry: dict) -> str:
  """The log line of the graph check's label spreading."""
  right = '' if entry['pool_correct'] is None else f' ({100 * entry["pool_correct"]:.2f}% correct)'
  return (f'iter  0 | graph check: label spreading from the human labels{right} | '
          f'{entry["seconds"]:.0f}s')


def format_propagation(entry: dict) -> str:
  """The log line of a propagated start."""
  n, correct = sum(entry['n_selected_per_class']), entry['selected_correct_per_class']
  right = '' if correct is None else f' ({100 * sum(correct) / max(n, 1):.2f}% correct)'
  return f'iter  0 | propagated {n} pseudo-labels{right} | {entry["seconds"]:.0f}s'


def new_model(run: Run, key: jax.Array) -> train.TrainState:
  """A freshly initialised model, replicated over the devices."""
  config = run.config
  return jax.device_put(
      train.create_train_state(key, run.model, run.dataset.train_images.shape[1:],
                               run.optimizer, run.frozen, config.ema_decay),
      run.replicated)


def last_epochs(config: Config) -> int:
  """Epochs of the last iteration (and of the other final models)."""
  return max(config.epochs, config.final_epochs)


def iteration_epochs(config: Config, iteration: int, last: bool, n_train: int) -> int:
  """Epochs iteration `iteration` trains over its n_train examples (at least
  config.min_steps steps, train.fit): config.epochs, the last iteration
  last_epochs. With config.full_budget, a last iteration that ends the run
  early (no candidates left, as when every training example is labeled) also
  trains the epochs of the iterations it skips. Why: otherwise a run's
  training shrinks as its labeled set grows; with 60,000 labels, to under a
  third of a 100-label run's."""
  if not last:
    return config.epochs
  skipped = config.iterations - iteration if config.full_budget else 0
  return last_epochs(config) + skipped * train.num_epochs(
      n_train, config.batch_size, config.epochs, config.min_steps)


def train_model(run: Run, train_state: train.TrainState, label_state: select.LabelState,
                epochs: int, key: jax.Array,
                description: str) -> tuple[train.TrainState, list[float]]:
  """train.fit with the run's settings on the labels in use."""
  train_state, losses = train.fit(
      train_state, key, run.images, label_state.labels, label_state.train_mask,
      epochs=epochs, options=run.options, min_steps=run.config.min_steps,
      progress=run.progress, description=description)
  jax.block_until_ready(train_state.params)
  return train_state, losses


def train_iteration(run: Run, train_state: train.TrainState | None,
                    label_state: select.LabelState,
                    iteration: int) -> tuple[train.TrainState, Training]:
  """Train: the iteration's model (a fresh one, or the last one trained on) on
  every example with a label in use; the last iteration trains longer."""
  config = run.config
  if train_state is None or not config.warm_start:
    train_state = new_model(run, run.streams.init(iteration))
  last = iteration == config.iterations or not bool(candidates_of(label_state, config).any())
  n_train = int(np.sum(label_state.train_mask))
  start = time.perf_counter()
  with timing.CompileClock() as compiling:
    train_state, losses = train_model(
        run, train_state, label_state, iteration_epochs(config, iteration, last, n_train),
        run.streams.shuffle(iteration), f'iteration {iteration}')
  images = len(losses) * n_train
  return train_state, Training(losses, images, time.perf_counter() - start, compiling.seconds)


def score_iteration(run: Run, train_state: train.TrainState, label_state: select.LabelState,
                    iteration: int) -> Scoring:
  """Score and select: the model's confidence on every training example, its
  test and validation figures, and the candidates the selection rule takes."""
  config = run.config
  start = time.perf_counter()
  with timing.CompileClock() as compiling:
    params = train.evaluation_params(train_state)
    scores = score.score(run.model.apply, params, run.images, config.score_chunk_size,
                         run.options.sharding, config.augmentation, config.score_views,
                         run.streams.views(iteration))
    figures = predictor_figures(run, run.model.apply, params)
    candidates = candidates_of(label_state, config)
    selected = choose(config, scores, agreeing(run, candidates, scores[1]),
                      run.dataset.num_classes, iteration)
    (confidence, predicted, margin), selected, candidates = jax.device_get(
        (scores, selected, candidates))
  images = len(confidence) * (1 + config.score_views) + held_out_images(run)
  return Scoring(params, confidence, predicted, margin, figures, candidates, selected, images,
                 time.perf_counter() - start, compiling.seconds)


def held_out_images(run: Run) -> int:
  """How many images a predictor's figures score: the test and validation sets."""
  return sum(len(images) for images in (run.test_images, run.validation_images)
             if images is not None)


def predictor_figures(run: Run, apply_fn: Callable[..., jax.Array], params: Any) -> dict:
  """A predictor's test accuracy and calibration (metrics.test_metrics) and its
  validation accuracy (None without those splits), each image scored alone."""
  def predicted(images):
    if images is None:
      return None, None
    confidence, predicted, _ = score.score(apply_fn, params, images,
                                           run.config.score_chunk_size, run.options.sharding)
    return confidence, predicted
  (test_confidence, test_predicted), (_, validation_predicted) = jax.device_get(
      (predicted(run.test_images), predicted(run.validation_images)))
  return {**metrics.test_metrics(run.dataset.test_labels, test_confidence, test_predicted),
          'validation_accuracy': (None if run.validation_labels is None else
                                  metrics.accuracy(validation_predicted, run.validation_labels))}


def iteration_row(run: Run, iteration: int, label_state: select.LabelState,
                  training: Training, scoring: Scoring) -> dict:
  """Record: an iteration's figures (results.json), from the labels its model
  was trained on, its training and its scoring."""
  return {'iteration': iteration,
          **metrics.iteration_metrics(
              label_state=label_state, candidates=scoring.candidates,
              true_labels=run.true_labels, num_classes=run.dataset.num_classes,
              confidence=scoring.confidence,
              predicted=scoring.predicted, selected=scoring.selected),
          **scoring.figures,
          'epochs': len(training.losses),
          'final_loss': training.losses[-1],
          **({} if run.graph is None else {
              # Candidates whose prediction label spreading does not share.
              'graph_disagreements': int(np.sum(scoring.candidates & (
                  scoring.predicted != run.graph.classes)))}),
          'images_trained': training.images,
          'images_scored': scoring.images,
          # Wall seconds of each phase, compilation apart (a split that adds up).
          'train_seconds': round(training.seconds - training.compile_seconds, 3),
          'score_seconds': round(scoring.seconds - scoring.compile_seconds, 3),
          'compile_seconds': round(training.compile_seconds + scoring.compile_seconds, 3)}


def adopt(config: Config, label_state: select.LabelState, selected: jax.Array,
          predicted: jax.Array, confidence: jax.Array, iteration: int) -> select.LabelState:
  """Adopt: the selected candidates' predictions become pseudo-labels (with
  config.revise, every candidate's verdict replaces its old one). selected:
  bool[N]; predicted: int32[N]; confidence: float32[N]."""
  update = select.relabel if config.revise else select.adopt_pseudo_labels
  return update(label_state, selected, predicted, confidence, iteration)


def train_final_models(run: Run, label_state: select.LabelState,
                       last: Scoring) -> tuple[Any, dict]:
  """Where the run ends: final_models - 1 more models from fresh starts on the
  labels it leaves. Returns their stacked params with the last model's, and
  the row's test and validation figures as the ensemble's (the last model's
  and each model's test accuracy beside them)."""
  start = time.perf_counter()
  members, images = [last.params], 0
  for member in range(1, run.config.final_models):
    member_state, losses = train_model(
        run, new_model(run, run.streams.final_init(member)), label_state,
        last_epochs(run.config), run.streams.final_shuffle(member), f'final model {member + 1}')
    members.append(train.evaluation_params(member_state))
    images += len(losses) * int(np.sum(label_state.train_mask))
  ensemble_params = models.stack_params(members)
  each = [last.figures['test_accuracy'], *(
      predictor_figures(run, run.model.apply, params)['test_accuracy']
      for params in members[1:])]
  return ensemble_params, {
      **predictor_figures(run, models.Ensemble(run.model.apply), ensemble_params),
      'test_accuracy_last_model': last.figures['test_accuracy'],
      'validation_accuracy_last_model': last.figures['validation_accuracy'],
      'test_accuracy_final_models': each,
      'images_trained_final_models': images,
      'final_models_seconds': round(time.perf_counter() - start, 3)}


def save_iteration(workdir: str, run: Run, iteration: int, train_state: train.TrainState,
                   label_state: select.LabelState, record: dict, scoring: Scoring,
                   ensemble_params: Any) -> None:
  """Checkpoint the iteration (every host), then write the run's files (one host)."""
  scores = {'confidence': scoring.confidence, 'predicted': scoring.predicted,
            'margin': scoring.margin}
  checkpoint.save(workdir, iteration, train_state, label_state, record, ensemble_params,
                  scores)
  if sharding.is_primary():
    save(workdir, record, label_state, run.dataset, scores)


def finished_result(run: Run, train_state: train.TrainState, label_state: select.LabelState,
                    record: dict, ensemble_params: Any) -> Result:
  """The Result of a workdir's finished run, from its checkpoint."""
  params = (ensemble_params if run.config.final_models > 1
            else train.evaluation_params(train_state))
  return Result(record, run.model, params, label_state)


def candidates_of(label_state: select.LabelState, config: Config) -> jax.Array:
  """bool[N]: who an iteration may pseudo-label: the pool, or with config.revise
  every example without a human label (held-out ones never)."""
  return label_state.revisable if config.revise else label_state.in_pool


def agreeing(run: Run, candidates: jax.Array, predicted: jax.Array) -> jax.Array:
  """bool[N]: the candidates a model may pseudo-label: with config.graph_check,
  those whose prediction (int32[N]) label spreading agrees with."""
  if run.graph is None:
    return candidates
  return candidates & (predicted == run.graph.classes)


def choose(config: Config, scores, candidates: jax.Array, num_classes: int,
           iteration: int) -> jax.Array:
  """The examples this iteration pseudo-labels, by the config's selection rule.

  scores: (confidence, predicted, margin) of every training example;
  candidates: bool[N], who may be selected. Returns bool[N].
  """
  confidence, predicted, _ = scores
  if config.selection == 'threshold' and config.curriculum_step <= 0:
    return select.select_confident(confidence, candidates, config.threshold)
  per_class = select.curriculum_per_class(int(candidates.sum()), num_classes, iteration,
                                          config.curriculum_step)
  if config.selection == 'threshold':  # A capped threshold rule: a share of the whole.
    return select.select_balanced(confidence, jnp.zeros_like(predicted), candidates,
                                  config.threshold, per_class * num_classes)
  return select.select_balanced(confidence, predicted, candidates, config.threshold,
                                per_class)


def _resume(workdir: str, run: Run, record: dict, like_train_state: train.TrainState,
            like_label_state: select.LabelState, overwrite: bool,
            log: Callable[[str], None]) -> checkpoint.Restored | None:
  """The checkpoint to go on from: the newest of the workdir's run of this recipe
  that reads back whole, or None to start.

  Newer checkpoints that do not read back are named in one line and removed: the
  iterations after the one resumed are recomputed, to the same results. Run files
  that disagree with the checkpoint are rewritten from it (the checkpoint wins).

  Raises WorkdirError if the workdir holds another recipe's run, or a run of
  which nothing reads back (unless overwrite, which removes that run's files).
  """
  held = _read_back(workdir, like_train_state, like_label_state)
  if held is None:
    return None  # A new run.
  restored, theirs, problem = held
  if theirs is not None:
    theirs = config_lib.without_removed(theirs)
  if problem is not None or theirs != record['recipe']:
    _start_over(workdir, record, theirs, problem, overwrite)
    return None
  if restored is None:  # This recipe's results.json without a checkpoint: start over.
    return None
  return _go_on(workdir, run, record, restored, log)


def _read_back(workdir: str, like_train_state: train.TrainState,
               like_label_state: select.LabelState):
  """What the workdir holds: None if nothing; else (the newest checkpoint that
  reads back whole, or None; the recipe its run recorded; why nothing reads
  back, or None)."""
  results_path = os.path.join(workdir, 'results.json')
  try:
    restored = checkpoint.restore(workdir, like_train_state, like_label_state)
  except checkpoint.Damaged as e:
    return None, None, str(e)
  if restored is not None:
    return restored, restored.record.get('recipe'), None
  if not os.path.exists(results_path):  # No checkpoint and no results: nothing.
    return None
  try:  # Only results.json tells of a run.
    with open(results_path) as f:
      return None, json.load(f).get('recipe'), None
  except (OSError, ValueError, AttributeError):
    return None, None, f'{results_path} cannot be read and there is no checkpoint'


def _start_over(workdir: str, record: dict, theirs: dict | None, problem: str | None,
                overwrite: bool) -> None:
  """Removes the run files of another recipe's run (or of one nothing of which
  reads back) with overwrite; else raises WorkdirError saying why."""
  if not overwrite:
    if problem is not None:
      raise WorkdirError(f'{problem}; pass --overwrite to start over, or choose another '
                         '--workdir')
    theirs = theirs or {}
    differ = sorted(k for k in set(theirs) | set(record['recipe'])
                    if theirs.get(k) != record['recipe'].get(k))
    raise WorkdirError(f'{workdir} holds another run (differs in: {", ".join(differ)}); '
                       'pass --overwrite to replace it, or choose another --workdir')
  if sharding.is_primary():
    for name in RUN_FILES:
      path = os.path.join(workdir, name)
      if os.path.isdir(path):
        shutil.rmtree(path)
      elif os.path.exists(path):
        os.remove(path)
  sharding.barrier('overwrite')  # No process may read what is being removed.


def _go_on(workdir: str, run: Run, record: dict, restored: checkpoint.Restored,
           log: Callable[[str], None]) -> checkpoint.Restored:
  """Resumes from a checkpoint that read back: newer ones and leftovers of
  killed writes removed, run files that disagree rewritten, one line said."""
  done = restored.iteration
  checkpoint.clean(workdir, done)
  restored = restored._replace(record={**restored.record, 'config': record['config']})
  if sharding.is_primary():
    atomic.remove_leftovers(workdir)
    rewritten = _rewrite_disagreeing(workdir, run, restored)
    if rewritten and not restored.damaged:  # (Passing over one, they disagree anyway.)
      log(f'{workdir}: {", ".join(rewritten)} disagreed with the checkpoint of iteration '
          f'{done}; rewrote them from it')
  if restored.damaged:
    log(f'{workdir}: passed over a damaged checkpoint ({"; ".join(restored.damaged)}); '
        f'resuming after iteration {done}, the iterations after it are recomputed')
  elif restored.record['stop_reason'] is not None:
    log(f'{workdir}: finished earlier ({restored.record["stop_reason"]}); nothing to do')
  else:
    log(f'{workdir}: resuming after iteration {done}')
  return restored


def _rewrite_disagreeing(workdir: str, run: Run, restored: checkpoint.Restored) -> list[str]:
  """Rewrites the run's files from the checkpoint if any of them is missing,
  unreadable or holds something else; returns the names of those."""
  label_arrays = _label_arrays(restored.label_state)
  wanted = {'results.json': restored.record, 'labels.npz': label_arrays,
            'pseudo_labels.csv': labels_csv(label_arrays, run.dataset)}
  if restored.scores is not None:  # (Older checkpoints do not keep them.)
    wanted['scores.npz'] = restored.scores
  disagree = [name for name, content in wanted.items()
              if not _holds(os.path.join(workdir, name), content)]
  if disagree:
    save(workdir, restored.record, restored.label_state, run.dataset, restored.scores)
  return disagree


def _holds(path: str, content) -> bool:
  """Whether the file at path holds content: a results record (the config
  aside, which a resumed run takes from its command), a dict of arrays or text."""
  try:
    if path.endswith('.json'):
      with open(path) as f:
        saved = json.load(f)
      without_config = lambda r: {k: v for k, v in r.items() if k != 'config'}
      return without_config(saved) == without_config(json.loads(json.dumps(content)))
    if path.endswith('.npz'):
      with np.load(path, allow_pickle=False) as saved:
        return all(name in saved.files and np.array_equal(saved[name], np.asarray(array),
                                                           equal_nan=saved[name].dtype.kind == 'f')
                   for name, array in content.items())
    with open(path) as f:
      return f.read() == content
  except Exception:  # pylint: disable=broad-except  (whatever a damaged file raises)
    return False


def stop_reason(row: dict, iteration: int, iterations: int) -> str | None:
  """Why the loop ends after this iteration, or None to go on."""
  if row['pool_size'] == 0:
    return STOP_POOL_EMPTY
  if row['n_selected'] == 0:
    return STOP_NO_NEW_LABELS
  if iteration == iterations:
    return STOP_MAX_ITERATIONS
  return None


def save(workdir: str, record: dict, label_state: select.LabelState,
         dataset: data_types.Dataset, scores: dict[str, np.ndarray] | None) -> None:
  """Writes labels.npz, scores.npz, pseudo_labels.csv and results.json atomically,
  results.json last.

  scores: the last model's confidence, predicted and margin, [N] each; None
  leaves scores.npz as it is.
  """
  label_arrays = _label_arrays(label_state)
  atomic.write_npz(os.path.join(workdir, 'labels.npz'), label_arrays)
  if scores is not None:
    atomic.write_npz(os.path.join(workdir, 'scores.npz'), scores)
  atomic.write_text(os.path.join(workdir, 'pseudo_labels.csv'),
                    labels_csv(label_arrays, dataset))
  atomic.write_json(os.path.join(workdir, 'results.json'), record)


def _label_arrays(label_state: select.LabelState) -> dict[str, np.ndarray]:
  """labels.npz: every field of the label state, and the names of the sources."""
  return {**{field.name: np.asarray(getattr(label_state, field.name))
             for field in dataclasses.fields(label_state)},
          'source_names': np.array(select.SOURCE_NAMES)}


def labels_csv(label_arrays: dict[str, np.ndarray], dataset: data_types.Dataset) -> str:
  """One row per training example: index, name, label, source, iteration, confidence."""
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  writer.writerow(['index', 'name', 'label', 'source', 'iteration', 'confidence'])
  names = dataset.example_names
  for i, (label, source, iteration, confidence) in enumerate(zip(
      label_arrays['labels'], label_arrays['source'], label_arrays['iteration'],
      label_arrays['confidence'])):
    known = source in (select.HUMAN, select.PSEUDO)
    writer.writerow([
        i, names[i] if names else i,
        (dataset.class_names[label] if dataset.class_names else int(label)) if known else '',
        select.SOURCE_NAMES[source], int(iteration) if known else '',
        f'{confidence:.6f}' if source == select.PSEUDO else ''])
  return out.getvalue()


def _percent(value: float | None) -> str:
  return '   -   ' if value is None else f'{100 * value:6.2f}%'


def format_iteration(row: dict) -> str:
  """One line of the main figures of an iteration."""
  # With final models, the last model's own figure: test, or validation without a test split.
  last_alone = row.get('test_accuracy_last_model')
  if last_alone is None:
    last_alone = row.get('validation_accuracy_last_model')
  return (f"iter {row['iteration']:2d} | train {row['n_train']:6d} "
          f"({row['n_pseudo']} pseudo, labels {_percent(row['train_label_accuracy'])} "
          f"correct) | test {_percent(row['test_accuracy'])}"
          + (f" validation {_percent(row['validation_accuracy'])}"
             if row.get('validation_accuracy') is not None else '')
          + (f" ({len(row['test_accuracy_final_models'])} models; last alone "
             f"{_percent(last_alone)})" if 'test_accuracy_final_models' in row else '')
          + f" | pool {row['pool_size']:6d} "
          f"-> selected {row['n_selected']:6d} ({_percent(row['selected_accuracy'])} "
          f"correct) | {row['train_seconds']:.0f}s train, {row['score_seconds']:.1f}s score"
          + (f", {row['compile_seconds']:.1f}s compile" if row.get('compile_seconds') else '')
          + f" | {row['wall_seconds']:.0f}s so far")
