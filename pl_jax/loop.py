"""Loop: iterative confidence-based pseudo-labeling (self-training) with masks.

    labels <- the human labels; the rest of the training set is the pool
    for iteration = 1 .. iterations:
      train a model on every example with a label in use    (train.fit)
      score the whole training set and the test set         (score.score)
      select pool examples with confidence > threshold      (select.select_confident)
      adopt their predicted class as pseudo-labels          (select.adopt_pseudo_labels)
      stop when the pool was empty or nothing was selected

Arrays keep their full size throughout; `LabelState` masks say what is labeled,
pseudo-labeled or still in the pool, so nothing recompiles between iterations.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable

import jax
import numpy as np

from pl_jax import atomic, data, metrics, models, score, select, train

STOP_MAX_ITERATIONS = 'max_iterations'
STOP_NO_NEW_LABELS = 'no_new_labels'
STOP_POOL_EMPTY = 'pool_empty'


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
  learning_rate: float = 1e-3
  # Layers that keep their random init; the seed's reference never trains fc1
  # (see train.create_train_state).
  frozen: tuple[str, ...] = ('fc1',)
  seed: int = 0
  stratified: bool = False
  warm_start: bool = False
  score_chunk_size: int = 1024


def run_name(dataset: str, config: Config) -> str:
  """The default run directory name, without the time stamp."""
  return f'{dataset}-n{config.n_labeled}-t{config.threshold:g}-s{config.seed}'


def self_train(dataset: data.Dataset, config: Config, workdir: str | None = None, *,
               run_config: dict | None = None, progress: bool = True,
               log: Callable[[str], None] = print) -> dict:
  """Runs the loop; returns the run's record (also saved under workdir).

  If workdir is given, `results.json` and `labels.npz` are rewritten atomically
  after every iteration, so a crash never loses a finished iteration.

  Args:
    dataset: the data, whole (see data.load_dataset).
    config: the recipe.
    workdir: where to save results, or None.
    run_config: what to record as `config` (e.g. every flag); default: config.
    progress: show a progress bar while training.
    log: receives one line per iteration.
  """
  labeled = data.split_labeled(dataset.train_labels, config.n_labeled, config.seed,
                               config.stratified, dataset.num_classes)
  label_state = select.LabelState.from_human(dataset.train_labels, labeled)
  model = models.CNN(num_classes=dataset.num_classes)
  images = jax.device_put(dataset.train_images)
  test_images = jax.device_put(dataset.test_images)
  optimizer = train.make_optimizer(config.learning_rate, config.frozen)
  init_key, shuffle_key = jax.random.split(jax.random.PRNGKey(config.seed))

  record = {
      'config': run_config if run_config is not None else dataclasses.asdict(config),
      'dataset': dataset.name,
      'data_source': dataset.source,
      'stop_reason': None,
      'final_test_accuracy': None,
      'iterations': [],
  }
  train_state = None
  for iteration in range(1, config.iterations + 1):
    if train_state is None or not config.warm_start:
      train_state = train.create_train_state(jax.random.fold_in(init_key, iteration), model,
                                             dataset.train_images.shape[1:], optimizer,
                                             config.frozen)
    start = time.perf_counter()
    train_state, losses = train.fit(
        train_state, jax.random.fold_in(shuffle_key, iteration), images,
        label_state.labels, label_state.train_mask, epochs=config.epochs,
        batch_size=config.batch_size, min_steps=config.min_steps, progress=progress,
        description=f'iteration {iteration}')
    jax.block_until_ready(train_state.params)
    train_seconds = time.perf_counter() - start

    start = time.perf_counter()
    confidence, predicted = score.score(model.apply, train_state.params, images,
                                        config.score_chunk_size)
    test_confidence, test_predicted = score.score(model.apply, train_state.params,
                                                  test_images, config.score_chunk_size)
    selected = select.select_confident(confidence, label_state.in_pool, config.threshold)
    confidence, predicted, selected, test_confidence, test_predicted = jax.device_get(
        (confidence, predicted, selected, test_confidence, test_predicted))
    score_seconds = time.perf_counter() - start

    row = {'iteration': iteration,
           **metrics.iteration_metrics(
               label_state=label_state, true_labels=dataset.train_labels,
               confidence=confidence, predicted=predicted, selected=selected,
               test_labels=dataset.test_labels, test_confidence=test_confidence,
               test_predicted=test_predicted),
           'epochs': len(losses),
           'final_loss': losses[-1],
           'train_seconds': round(train_seconds, 3),
           'score_seconds': round(score_seconds, 3)}
    label_state = select.adopt_pseudo_labels(label_state, selected, predicted, confidence,
                                             iteration)
    record['iterations'].append(row)
    record['final_test_accuracy'] = row['test_accuracy']
    record['stop_reason'] = stop_reason(row, iteration, config.iterations)
    if workdir is not None:
      save(workdir, record, label_state)
    log(format_iteration(row))
    if record['stop_reason'] is not None:
      break
  return {**record, 'labels': label_state}


def stop_reason(row: dict, iteration: int, iterations: int) -> str | None:
  """Why the loop ends after this iteration, or None to go on."""
  if row['pool_size'] == 0:
    return STOP_POOL_EMPTY
  if row['n_selected'] == 0:
    return STOP_NO_NEW_LABELS
  if iteration == iterations:
    return STOP_MAX_ITERATIONS
  return None


def save(workdir: str, record: dict, label_state: select.LabelState) -> None:
  """Writes results.json and labels.npz atomically."""
  label_arrays = {field.name: np.asarray(getattr(label_state, field.name))
                  for field in dataclasses.fields(label_state)}
  atomic.write_npz(os.path.join(workdir, 'labels.npz'),
                   {**label_arrays, 'source_names': np.array(select.SOURCE_NAMES)})
  atomic.write_json(os.path.join(workdir, 'results.json'), record)


def _percent(value: float | None) -> str:
  return '   -   ' if value is None else f'{100 * value:6.2f}%'


def format_iteration(row: dict) -> str:
  """One line of the main figures of an iteration."""
  return (f"iter {row['iteration']:2d} | train {row['n_train']:6d} "
          f"({row['n_pseudo']} pseudo, labels {_percent(row['train_label_accuracy'])} "
          f"correct) | test {_percent(row['test_accuracy'])} | pool {row['pool_size']:6d} "
          f"-> selected {row['n_selected']:6d} ({_percent(row['selected_accuracy'])} "
          f"correct) | {row['train_seconds']:.0f}s train, {row['score_seconds']:.1f}s score")
