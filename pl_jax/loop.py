"""Loop: iterative confidence-based pseudo-labeling (self-training) with masks.

    labels <- the human labels; the rest of the training set is the pool
    for iteration = 1 .. iterations:
      train a model on every example with a label in use    (train.fit)
      score the whole training set and the test set         (score.score)
      select pool examples with confidence > threshold      (select.select_confident)
      adopt their predicted class as pseudo-labels          (select.adopt_pseudo_labels)
      save everything; stop when the pool was empty or nothing was selected

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
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from pl_jax import (atomic, augment, checkpoint, data, metrics, models, score, select,
                    sharding, timing, train)
from pl_jax import consistency as consistency_lib

STOP_MAX_ITERATIONS = 'max_iterations'
STOP_NO_NEW_LABELS = 'no_new_labels'
STOP_POOL_EMPTY = 'pool_empty'
SELECTIONS = ('threshold', 'balanced', 'class_share')
# What a run writes into its workdir (and --overwrite removes).
RUN_FILES = ('results.json', 'labels.npz', 'pseudo_labels.csv', 'scores.npz',
             checkpoint.DIRECTORY)


@dataclasses.dataclass(frozen=True)
class Config:
  """Everything that decides a run's numbers (defaults: the seed's recipe)."""
  n_labeled: int = 1000
  threshold: float = 0.99
  iterations: int = 10
  epochs: int = 10
  # Floor on optimizer steps per training run (see train.num_epochs). 160 is what
  # 10 epochs over the seed's 1,000 labels take, so that case is unchanged.
  min_steps: int = 160
  batch_size: int = 64
  # Multiplies the CNN's layer sizes (models.CNN); 1: the reference model.
  width: int = 1
  learning_rate: float = 1e-3
  # Layers that keep their random init; the seed's reference never trains fc1
  # (see train.make_optimizer).
  frozen: tuple[str, ...] = ('fc1',)
  seed: int = 0
  stratified: bool = False
  warm_start: bool = False
  score_chunk_size: int = 1024
  # Augmentation inside the train step (augment.Augmentation); zeros: none.
  max_shift: int = 0
  max_degrees: float = 0.0
  max_scale: float = 0.0
  max_shear: float = 0.0
  # Elastic distortion: the displacement's standard deviation in pixels.
  elastic: float = 0.0
  # 'threshold' (the seed's rule), 'balanced' (at most an equal share of the
  # candidates per predicted class) or 'class_share' (at most a share of the
  # candidates predicted as each class); see select.py.
  selection: str = 'threshold'
  # Iteration k may select a share min(1, k * curriculum_step) of the candidates
  # (spread over the classes); 0: no cap.
  curriculum_step: float = 0.0
  # 'balanced' only: a predicted class may take this fraction more than the
  # equal share (select.curriculum_per_class); 0: exactly equal.
  class_slack: float = 0.0
  # The curriculum's share never exceeds this: the least confident rest of the
  # candidates stays in the pool (select.curriculum_share); 1: all may be taken.
  max_share: float = 1.0
  # Re-label every non-human example each iteration (pseudo-labels can change
  # or return to the pool), instead of keeping them for good.
  revise: bool = False
  # Learning rate over each training run's steps: 'constant' (the seed's) or
  # 'cosine' (annealed towards 0 by the run's end; see train.lr_scale).
  lr_schedule: str = 'constant'
  # Mixup's alpha (augment.mixup_pairs): train on mixed pairs of images against
  # their mixed labels, which makes wrong pseudo-labels harder to memorise; 0: off.
  mixup: float = 0.0
  # Epochs of the last iteration (at least `epochs`): the final model, the one a
  # run leaves, trains longer. The last is iteration `iterations`, or one with no
  # candidate left, as when every example has a human label. 0: as the others.
  final_epochs: int = 0
  # Human-labeled examples added to every batch (drawn at random), so that a
  # few clean labels are not drowned by many pseudo-labels (Arazo et al. 2020).
  human_per_batch: int = 0
  # Score the pool (and test) with a moving average of the weights, of this
  # decay per step (train.ema_update); 0: the weights themselves (the seed).
  ema_decay: float = 0.0
  # The supervised loss: generalized cross-entropy of this q (train.weighted_
  # cross_entropy), under which labels the model finds unlikely, often wrong
  # pseudo-labels, pull less; 0: cross-entropy (the seed's).
  gce_q: float = 0.0
  # Each batch's loss as the sum of this many parts, each its own forward and
  # backward pass (train.train_step): the same gradient up to rounding, and
  # faster on a multi-core CPU, where XLA runs the parts at once.
  batch_splits: int = 1
  # Score the pool for selection by the mean softmax over each image and this
  # many augmented views of it (score.score; the training augmentation): a
  # prediction that a small shift or rotation overturns loses confidence.
  # 0: the image alone (the seed's).
  score_views: int = 0
  # Predict, the test set as run.py --predict, by the mean softmax over each
  # image and this many augmented views of it (the same rule as score_views, with
  # views fixed for the run), so the run's predictor is the one that labels the
  # pool; the plain model's test accuracy is recorded beside it. 0: the image alone.
  predict_views: int = 0
  # FixMatch's consistency term inside each training run (consistency.py):
  # its weight (0: off), the confidence a weak view needs, unlabeled images per
  # labeled one, and the strong augmentation.
  consistency_weight: float = 0.0
  consistency_threshold: float = 0.95
  unlabeled_ratio: int = 1
  strong_max_shift: int = 0
  strong_max_degrees: float = 0.0
  strong_max_scale: float = 0.0
  strong_cutout: int = 0
  # Models the run ends with: the last iteration's, and final_models - 1 more,
  # each trained from a fresh start on the labels the run ends with (its last
  # selection) for the last iteration's epochs. The run predicts (the test set,
  # and run.py --predict) by their mean softmax (models.Ensemble): averaging
  # models of other random draws cancels part of each one's errors. 1: the last
  # model alone (the seed's).
  final_models: int = 1

  def __post_init__(self):
    if self.final_models < 1:
      raise ValueError(f'final_models must be >= 1, got {self.final_models}')
    if self.selection not in SELECTIONS:
      raise ValueError(f'selection must be one of {SELECTIONS}, got {self.selection!r}')
    if self.lr_schedule not in train.SCHEDULES:
      raise ValueError(f'lr_schedule must be one of {train.SCHEDULES}, '
                       f'got {self.lr_schedule!r}')

  @property
  def augmentation(self) -> augment.Augmentation:
    return augment.Augmentation(self.max_shift, self.max_degrees, self.max_scale,
                                max_shear=self.max_shear, elastic=self.elastic)

  @property
  def consistency(self) -> consistency_lib.Consistency:
    return consistency_lib.Consistency(
        self.consistency_weight, self.consistency_threshold, self.unlabeled_ratio,
        augment.Augmentation(self.strong_max_shift, self.strong_max_degrees,
                             self.strong_max_scale, self.strong_cutout))


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
    return models.apply_fn(self.model, self.record['recipe'].get('final_models', 1))


class WorkdirError(Exception):
  """The workdir holds a different run; the message is one line for the user."""


def run_name(dataset: str, config: Config) -> str:
  """The default run directory name, without the time stamp."""
  return f'{dataset}-n{config.n_labeled}-t{config.threshold:g}-s{config.seed}'


def initial_label_state(dataset: data.Dataset, config: Config,
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
  if dataset.is_benchmark:
    human = data.split_labeled(dataset.train_labels, config.n_labeled, config.seed,
                               config.stratified, dataset.num_classes)
    labels = np.where(human, dataset.train_labels, data.UNLABELED)
  else:
    labels = dataset.train_labels
  if manual_labels is not None:
    labels = np.where(manual_labels != data.UNLABELED, manual_labels, labels)
  state = select.LabelState.from_human(labels, labels != data.UNLABELED)
  if previous is not None:
    keep = (np.asarray(previous.source) == select.PSEUDO) & np.asarray(state.in_pool)
    state = select.LabelState(**{
        f.name: np.where(keep, getattr(previous, f.name), getattr(state, f.name))
        for f in dataclasses.fields(state)})
  return state


def recipe(dataset: data.Dataset, config: Config, initial: select.LabelState) -> dict:
  """What must match for a workdir's run to be resumed: the config, the data set
  and the starting labels."""
  digest = hashlib.sha256()
  for field in dataclasses.fields(initial):
    digest.update(np.ascontiguousarray(getattr(initial, field.name)).tobytes())
  return {**dataclasses.asdict(config), 'frozen': list(config.frozen),
          'dataset': dataset.name, 'initial_labels_sha256': digest.hexdigest()}


def config_of(recipe_record: dict) -> Config:
  """The Config a run recorded with recipe(); settings a run of an older version
  did not record take their defaults."""
  names = {field.name for field in dataclasses.fields(Config)} & set(recipe_record)
  return Config(**{name: tuple(recipe_record[name]) if name == 'frozen' else recipe_record[name]
                   for name in names})


def self_train(dataset: data.Dataset, config: Config, workdir: str | None = None, *,
               initial: select.LabelState | None = None, run_config: dict | None = None,
               overwrite: bool = False, progress: bool = True,
               log: Callable[[str], None] = print) -> Result:
  """Runs the loop (resuming a workdir's unfinished run) and returns its result.

  With a workdir, after every iteration: a checkpoint, then results.json,
  labels.npz, pseudo_labels.csv and scores.npz, each written atomically.

  Args:
    dataset: the data, whole (see data.load_dataset).
    config: the recipe.
    workdir: where to save results, or None.
    initial: the starting labels; default initial_label_state(dataset, config).
    run_config: what to record as `config` (e.g. every flag); default: config.
    overwrite: replace a workdir's run made with another recipe (else refuse).
    progress: show a progress bar while training.
    log: receives one line per iteration (and notes on resuming).

  Raises:
    WorkdirError: the workdir holds a run of another recipe and not overwrite.
  """
  if initial is None:
    initial = initial_label_state(dataset, config)
  model = models.CNN(num_classes=dataset.num_classes, width=config.width,
                     pixel_mean=dataset.pixel_mean, pixel_std=dataset.pixel_std)
  optimizer = train.make_optimizer(config.learning_rate, config.frozen)
  init_key, shuffle_key = jax.random.split(jax.random.PRNGKey(config.seed))
  # The final models beyond the last iteration's draw from a stream of their own.
  member_init_key, member_shuffle_key = jax.random.split(
      jax.random.fold_in(jax.random.PRNGKey(config.seed), 0xE45))
  view_key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 0x51E)  # score_views
  test_view_key = predict_view_key(config.seed)
  # Data parallel over every device (one device: the same code, no-op); the
  # model state is replicated, whole on every device of every host.
  mesh = sharding.data_mesh()
  on_mesh = lambda state: jax.device_put(state, sharding.replicated(mesh))
  new_model = lambda key: on_mesh(train.create_train_state(
      key, model, dataset.train_images.shape[1:], optimizer, config.frozen,
      config.ema_decay))
  true_labels = dataset.train_labels if dataset.is_benchmark else None

  record = {
      'config': run_config if run_config is not None else dataclasses.asdict(config),
      'recipe': recipe(dataset, config, initial),
      'dataset': dataset.name,
      'data_source': dataset.source,
      # Where it ran: the batch is split over these (pl_jax/sharding.py).
      'devices': {'platform': jax.default_backend(), 'count': jax.device_count(),
                  'kind': jax.devices()[0].device_kind},
      'model': {'num_classes': dataset.num_classes, 'width': config.width,
                'image_shape': list(dataset.train_images.shape[1:]),
                'pixel_mean': list(dataset.pixel_mean), 'pixel_std': list(dataset.pixel_std),
                'class_names': list(dataset.class_names or [])},
      'stop_reason': None,
      'final_test_accuracy': None,
      'iterations': [],
  }
  label_state, train_state, first = initial, None, 1
  if workdir is not None:
    resumed = _resume(workdir, record, new_model(jax.random.fold_in(init_key, 0)), initial,
                      overwrite, log)
    if resumed is not None:
      done, train_state, label_state, record = resumed
      train_state = on_mesh(train_state)
      if record['stop_reason'] is not None:
        return Result(record, model,
                      checkpoint.restore_params(workdir, ensemble=True)
                      if config.final_models > 1 else train.evaluation_params(train_state),
                      label_state)
      first = done + 1
  if not dataset.has_test and first == 1:
    log('warning: no test split, so no reality check: test metrics are absent')

  sharding.check_divisible(config.batch_size, mesh, 'batch_size')
  sharding.check_divisible(config.batch_size + config.human_per_batch, mesh,
                           'batch_size + human_per_batch')
  sharding.check_divisible(config.score_chunk_size, mesh, 'score_chunk_size')
  batches = sharding.batch_sharding(mesh)
  images = jax.device_put(dataset.train_images, sharding.replicated(mesh))
  test_images = (jax.device_put(dataset.test_images, sharding.replicated(mesh))
                 if dataset.has_test else None)
  final_epochs = max(config.epochs, config.final_epochs)
  ensemble_params = None  # Set where the run ends, with config.final_models > 1.

  def fit(train_state, key, label_state, epochs, description):
    """train.fit with the recipe's settings on the labels in use."""
    train_state, losses = train.fit(
        train_state, key, images, label_state.labels, label_state.train_mask,
        epochs=epochs, batch_size=config.batch_size, min_steps=config.min_steps,
        augmentation=config.augmentation, sharding=batches,
        lr_schedule=config.lr_schedule, consistency=config.consistency,
        mixup=config.mixup, human_per_batch=config.human_per_batch, gce_q=config.gce_q,
        splits=config.batch_splits, human_mask=label_state.source == select.HUMAN,
        progress=progress, description=description)
    jax.block_until_ready(train_state.params)
    return train_state, losses

  def score_test(apply_fn, params):
    """The test set's scores by the run's predictor rule (over predict_views),
    and without views where there are views; None without a test split."""
    if not dataset.has_test:
      return None, None
    test_scores = score.score(apply_fn, params, test_images, config.score_chunk_size,
                              batches, config.augmentation, config.predict_views,
                              test_view_key)
    plain = (score.score(apply_fn, params, test_images, config.score_chunk_size, batches)
             if config.predict_views else None)
    return test_scores, plain

  def test_metrics(test_scores, plain_test_scores) -> dict:
    """The row's test figures from score_test's scores (read to the host)."""
    confidence, predicted, _ = test_scores or (None, None, None)
    plain = ({'test_accuracy_plain': metrics.accuracy(plain_test_scores[1],
                                                      dataset.test_labels)}
             if plain_test_scores is not None else {})
    return {**metrics.test_metrics(dataset.test_labels, confidence, predicted), **plain}

  for iteration in range(first, config.iterations + 1):
    if train_state is None or not config.warm_start:
      train_state = new_model(jax.random.fold_in(init_key, iteration))
    last = iteration == config.iterations or not bool(candidates_of(label_state, config).any())
    start = time.perf_counter()
    with timing.CompileClock() as train_compiling:
      train_state, losses = fit(train_state, jax.random.fold_in(shuffle_key, iteration),
                                label_state, final_epochs if last else config.epochs,
                                f'iteration {iteration}')
    train_seconds = time.perf_counter() - start

    start = time.perf_counter()
    with timing.CompileClock() as score_compiling:
      scoring_params = train.evaluation_params(train_state)
      scores = score.score(model.apply, scoring_params, images, config.score_chunk_size,
                           batches, config.augmentation, config.score_views,
                           jax.random.fold_in(view_key, iteration))
      test_scores, plain_test_scores = score_test(model.apply, scoring_params)
      candidates = candidates_of(label_state, config)
      selected = choose(config, scores, candidates, dataset.num_classes, iteration)
      ((confidence, predicted, margin), test_scores, plain_test_scores, selected,
       candidates) = jax.device_get(
           (scores, test_scores, plain_test_scores, selected, candidates))
    score_seconds = time.perf_counter() - start

    test_confidence, test_predicted, _ = test_scores or (None, None, None)
    row = {'iteration': iteration,
           **metrics.iteration_metrics(
               label_state=label_state, candidates=candidates, true_labels=true_labels,
               confidence=confidence, predicted=predicted, selected=selected,
               test_labels=dataset.test_labels,
               test_confidence=test_confidence, test_predicted=test_predicted),
           **test_metrics(test_scores, plain_test_scores),
           'epochs': len(losses),
           'final_loss': losses[-1],
           # Wall seconds of each phase, compilation apart (a split that adds up).
           'train_seconds': round(train_seconds - train_compiling.seconds, 3),
           'score_seconds': round(score_seconds - score_compiling.seconds, 3),
           'compile_seconds': round(train_compiling.seconds + score_compiling.seconds, 3)}
    update = select.relabel if config.revise else select.adopt_pseudo_labels
    label_state = update(label_state, selected, predicted, confidence, iteration)
    record['stop_reason'] = stop_reason(row, iteration, config.iterations)
    if record['stop_reason'] is not None and config.final_models > 1:
      # The run ends here: train the other final models on the labels it leaves,
      # and let the row's test figures be their ensemble's.
      start = time.perf_counter()
      members = [scoring_params]
      for member in range(1, config.final_models):
        member_state, _ = fit(new_model(jax.random.fold_in(member_init_key, member)),
                              jax.random.fold_in(member_shuffle_key, member), label_state,
                              final_epochs, f'final model {member + 1}')
        members.append(train.evaluation_params(member_state))
      ensemble_params = models.stack_params(members)
      ensemble_test = jax.device_get(score_test(models.Ensemble(model.apply), ensemble_params))
      # The last model's is in the row already; score only the others.
      each = [row['test_accuracy'], *(
          test_metrics(*jax.device_get(score_test(model.apply, params)))['test_accuracy']
          for params in members[1:])]
      row.update({**test_metrics(*ensemble_test),
                  'test_accuracy_last_model': row['test_accuracy'],
                  'test_accuracy_final_models': each,
                  'final_models_seconds': round(time.perf_counter() - start, 3)})
    record['iterations'].append(row)
    record['final_test_accuracy'] = row['test_accuracy']
    if workdir is not None:
      checkpoint.save(workdir, iteration, train_state, label_state, record,  # Every host.
                      ensemble_params)
      if sharding.is_primary():
        save(workdir, record, label_state, dataset,
             {'confidence': confidence, 'predicted': predicted, 'margin': margin})
    log(format_iteration(row))
    if record['stop_reason'] is not None:
      break
  return Result(record, model,
                train.evaluation_params(train_state) if ensemble_params is None
                else ensemble_params,
                jax.device_get(label_state))


def predict_view_key(seed: int) -> jax.Array:
  """The key of a run's predictor's views (Config.predict_views): one for the
  whole run, so the views do not change with the iteration (or the command,
  run.py --predict) that predicts."""
  return jax.random.fold_in(jax.random.PRNGKey(seed), 0x7E57)


def candidates_of(label_state: select.LabelState, config: Config) -> jax.Array:
  """bool[N]: who an iteration may pseudo-label: the pool, or with config.revise
  every example without a human label."""
  return (label_state.source != select.HUMAN) if config.revise else label_state.in_pool


def choose(config: Config, scores, candidates: jax.Array, num_classes: int,
           iteration: int) -> jax.Array:
  """The examples this iteration pseudo-labels, by the config's selection rule.

  scores: (confidence, predicted, margin) of every training example;
  candidates: bool[N], who may be selected. Returns bool[N].
  """
  confidence, predicted, _ = scores
  uncapped = config.curriculum_step <= 0 and config.max_share >= 1
  if config.selection == 'threshold' and uncapped:
    return select.select_confident(confidence, candidates, config.threshold)
  if config.selection == 'class_share':
    share = select.curriculum_share(iteration, config.curriculum_step, config.max_share)
    return select.select_class_share(confidence, predicted, candidates, config.threshold,
                                     share, num_classes)
  n_candidates = int(candidates.sum())
  if config.selection == 'threshold':  # A capped threshold rule: a share of the whole.
    per_class = select.curriculum_per_class(n_candidates, num_classes, iteration,
                                            config.curriculum_step, ceiling=config.max_share)
    return select.select_balanced(confidence, jnp.zeros_like(predicted), candidates,
                                  config.threshold, per_class * num_classes)
  per_class = select.curriculum_per_class(n_candidates, num_classes, iteration,
                                          config.curriculum_step, config.class_slack,
                                          config.max_share)
  return select.select_balanced(confidence, predicted, candidates, config.threshold,
                                per_class)


def _resume(workdir, record, like_train_state, like_label_state, overwrite, log):
  """The checkpointed state of the workdir's run of this recipe, or None to start.

  Raises WorkdirError if the workdir holds another recipe's run (unless
  overwrite, which removes that run's files).
  """
  previous = None
  if os.path.exists(os.path.join(workdir, 'results.json')):
    try:
      with open(os.path.join(workdir, 'results.json')) as f:
        previous = json.load(f)
    except (OSError, ValueError):
      previous = {}
  if previous is not None and previous.get('recipe') != record['recipe']:
    if not overwrite:
      theirs = previous.get('recipe') or {}
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
    return None
  if checkpoint.latest_iteration(workdir) is None:
    return None
  done, train_state, label_state, saved = checkpoint.restore(
      workdir, like_train_state, like_label_state)
  saved['config'] = record['config']
  if saved['stop_reason'] is not None:
    log(f'{workdir}: finished earlier ({saved["stop_reason"]}); nothing to do')
  else:
    log(f'{workdir}: resuming after iteration {done}')
  return done, train_state, label_state, saved


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
         dataset: data.Dataset, scores: dict[str, np.ndarray]) -> None:
  """Writes results.json, labels.npz, pseudo_labels.csv and scores.npz atomically.

  scores: the last model's confidence, predicted and margin, [N] each.
  """
  label_arrays = {field.name: np.asarray(getattr(label_state, field.name))
                  for field in dataclasses.fields(label_state)}
  atomic.write_npz(os.path.join(workdir, 'labels.npz'),
                   {**label_arrays, 'source_names': np.array(select.SOURCE_NAMES)})
  atomic.write_npz(os.path.join(workdir, 'scores.npz'), scores)
  atomic.write_text(os.path.join(workdir, 'pseudo_labels.csv'),
                    labels_csv(label_arrays, dataset))
  atomic.write_json(os.path.join(workdir, 'results.json'), record)


def labels_csv(label_arrays: dict[str, np.ndarray], dataset: data.Dataset) -> str:
  """One row per training example: index, name, label, source, iteration, confidence."""
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  writer.writerow(['index', 'name', 'label', 'source', 'iteration', 'confidence'])
  names = dataset.example_names
  for i, (label, source, iteration, confidence) in enumerate(zip(
      label_arrays['labels'], label_arrays['source'], label_arrays['iteration'],
      label_arrays['confidence'])):
    known = source != select.NONE
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
  return (f"iter {row['iteration']:2d} | train {row['n_train']:6d} "
          f"({row['n_pseudo']} pseudo, labels {_percent(row['train_label_accuracy'])} "
          f"correct) | test {_percent(row['test_accuracy'])}"
          + (f" (plain {_percent(row['test_accuracy_plain'])})"
             if 'test_accuracy_plain' in row else '')
          + (f" ({len(row['test_accuracy_final_models'])} models; last alone "
             f"{_percent(row['test_accuracy_last_model'])})"
             if 'test_accuracy_final_models' in row else '')
          + f" | pool {row['pool_size']:6d} "
          f"-> selected {row['n_selected']:6d} ({_percent(row['selected_accuracy'])} "
          f"correct) | {row['train_seconds']:.0f}s train, {row['score_seconds']:.1f}s score"
          + (f", {row['compile_seconds']:.1f}s compile" if row.get('compile_seconds') else ''))
