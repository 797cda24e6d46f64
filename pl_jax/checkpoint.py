"""Checkpoint: the loop's state after each finished iteration, with orbax.

What is saved: the label state, the last model (parameters, optimizer state,
step), the last model's scores (scores.npz) and the run's record so far; where a
run ends with several final models (config.Config.final_models), their
parameters too, stacked. The random keys need no saving: each iteration's keys
are folded in from the seed and the iteration number, so a run resumed after
iteration k draws exactly what an uninterrupted one would.

Beside the record, every checkpoint keeps a sha256 of each of its items. Orbax
notices a file cut short, but not every changed byte; the digests do, so a
checkpoint that restores is the one that was saved. A damaged checkpoint is
passed over for the newest one that reads back whole (`restore`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
from typing import Any, NamedTuple

import jax
import numpy as np
import orbax.checkpoint as ocp

from pl_jax import data_types, select, sharding, train

DIRECTORY = 'checkpoints'
ENSEMBLE = 'ensemble'  # The checkpoint item of the final models' parameters.
SCORES = 'scores'  # The item of the last model's scores, as scores.npz holds them.
RECORD = 'record'  # The item of the record and the items' digests (JSON).


class Damaged(Exception):
  """No checkpoint of a workdir reads back whole; the message is one line."""


class Restored(NamedTuple):
  """A checkpoint read back whole (its items match their digests).

  scores: confidence, predicted and margin, [N] each (None in checkpoints
  written before they were kept); ensemble: the final models' parameters,
  stacked, or None; damaged: why each newer checkpoint was passed over
  ('iteration 3: ...'), newest first.
  """
  iteration: int
  train_state: train.TrainState
  label_state: select.LabelState
  record: dict
  scores: dict[str, np.ndarray] | None
  ensemble: Any
  damaged: tuple[str, ...]


@contextlib.contextmanager
def _quiet():
  """Orbax logs what it cannot read as errors, several lines a file; a damaged
  checkpoint is reported here instead, in one line."""
  loggers = [logging.getLogger(name) for name in ('absl', 'asyncio')]
  levels = [logger.level for logger in loggers]
  for logger in loggers:
    logger.setLevel(logging.CRITICAL)
  try:
    yield
  finally:
    for logger, level in zip(loggers, levels):
      logger.setLevel(level)


def _manager(workdir: str, clean: bool = False) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), DIRECTORY),
      options=ocp.CheckpointManagerOptions(
          # The newest is enough to resume; one more survives a crash while saving
          # and a damaged newest checkpoint.
          max_to_keep=2, enable_async_checkpointing=False, create=True,
          # Only the workdir's writer cleans: a save that died leaves a temporary folder.
          cleanup_tmp_directories=clean))


def _tree(train_state: train.TrainState, label_state: select.LabelState) -> dict:
  tree = {'params': train_state.params, 'opt_state': train_state.opt_state,
          'step': train_state.step,
          'labels': {f.name: np.asarray(getattr(label_state, f.name))
                     for f in dataclasses.fields(label_state)}}
  if train_state.ema_params is not None:
    tree['ema_params'] = train_state.ema_params
  return tree


def _leaf_sha256(leaf) -> str:
  # A replicated array holds all of itself on each device, also on many hosts.
  array = np.asarray(leaf.addressable_data(0) if isinstance(leaf, jax.Array) else leaf)
  digest = hashlib.sha256(f'{array.dtype.str}{array.shape}'.encode())
  digest.update(np.ascontiguousarray(array).tobytes())
  return digest.hexdigest()


def sha256(tree) -> str:
  """A digest of a tree's arrays, whatever holds them: a tree restored without
  a target has dicts where the saved one had dataclasses and tuples."""
  return hashlib.sha256(''.join(sorted(map(_leaf_sha256, jax.tree.leaves(tree))))
                        .encode()).hexdigest()


def _json_sha256(record: dict) -> str:
  return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def save(workdir: str, iteration: int, train_state: train.TrainState,
         label_state: select.LabelState, record: dict, ensemble_params=None,
         scores: dict[str, np.ndarray] | None = None) -> None:
  """Saves the state after `iteration` (orbax writes it atomically).

  ensemble_params: the final models' parameters, stacked (models.stack_params),
  or None: an item of their own, which only a predictor restores.
  scores: the last model's confidence, predicted and margin ([N] each).

  Raises OSError whatever orbax raised: a failed save is an I/O problem (a
  full disk, say), and the previous checkpoint stays the newest.
  """
  items = {'state': _tree(train_state, label_state)}
  if ensemble_params is not None:
    items[ENSEMBLE] = ensemble_params
  if scores is not None:
    items[SCORES] = {name: np.asarray(value) for name, value in scores.items()}
  digests = {name: sha256(tree) for name, tree in items.items()}
  digests[RECORD] = _json_sha256(record)
  try:
    with _manager(workdir) as manager:
      manager.save(iteration, args=ocp.args.Composite(
          **{name: ocp.args.StandardSave(tree) for name, tree in items.items()},
          **{RECORD: ocp.args.JsonSave({'record': record, 'sha256': digests})}))
      manager.wait_until_finished()
  except OSError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise OSError(f'checkpoint of iteration {iteration} failed: {type(e).__name__}: '
                  f'{data_types.one_line(e)}') from e


def steps(workdir: str) -> list[int]:
  """The iterations with a checkpoint, newest first (read back or not)."""
  if not os.path.isdir(os.path.join(workdir, DIRECTORY)):
    return []
  with _quiet(), _manager(workdir) as manager:
    return sorted(manager.all_steps(), reverse=True)


def latest_iteration(workdir: str) -> int | None:
  return next(iter(steps(workdir)), None)


def _has_item(workdir: str, iteration: int, item: str) -> bool:
  # Orbax keeps each item of a step in a folder of its name.
  return os.path.isdir(os.path.join(workdir, DIRECTORY, str(iteration), item))


def _unwrap(saved: dict) -> tuple[dict, dict | None]:
  """The record item as (record, digests); checkpoints of before the digests
  hold the record alone, and get (record, None)."""
  if set(saved) == {'record', 'sha256'}:
    return saved['record'], saved['sha256']
  return saved, None


def _check(name: str, value, digests: dict | None) -> None:
  if digests is None:
    return
  got = _json_sha256(value) if name == RECORD else sha256(value)
  if digests.get(name) != got:
    raise Damaged(f'its {name} does not match its sha256')


def _why(error: Exception) -> str:
  if isinstance(error, Damaged):
    return str(error)
  return f'{type(error).__name__}: {data_types.one_line(error, 120)}'


def _restore_step(workdir: str, iteration: int, abstract) -> dict:
  """The items of one checkpoint, each checked against its digest."""
  optional = [item for item in (SCORES, ENSEMBLE) if _has_item(workdir, iteration, item)]
  with _quiet(), _manager(workdir) as manager:
    restored = manager.restore(iteration, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), **{RECORD: ocp.args.JsonRestore()},
        # Without a target, orbax restores the saved tree as it is (dicts of arrays).
        **{item: ocp.args.StandardRestore() for item in optional}))
  items = {name: restored[name] for name in ('state', *optional)}
  items[RECORD], digests = _unwrap(restored[RECORD])
  missing = sorted(set(digests or ()) - set(items))
  if missing:
    raise Damaged(f'its {", ".join(missing)} is missing')
  for name, value in items.items():
    _check(name, value, digests)
  return items


def restore(workdir: str, like_train_state: train.TrainState,
            like_label_state: select.LabelState) -> Restored | None:
  """The newest checkpoint that reads back whole; None if there is none.

  like_*: states of the right structure and shapes (e.g. freshly made).

  Raises:
    Damaged: there are checkpoints, but none reads back whole.
  """
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct,
                          _tree(like_train_state, like_label_state))
  damaged = []
  for iteration in steps(workdir):
    try:
      items = _restore_step(workdir, iteration, abstract)
    except Exception as e:  # pylint: disable=broad-except  (orbax and tensorstore raise many kinds)
      damaged.append(f'iteration {iteration}: {_why(e)}')
      continue
    tree = items['state']
    train_state = like_train_state.replace(params=tree['params'], opt_state=tree['opt_state'],
                                           step=tree['step'], ema_params=tree.get('ema_params'))
    label_state = select.LabelState(**{k: np.asarray(v) for k, v in tree['labels'].items()})
    scores = items.get(SCORES)
    return Restored(iteration, train_state, label_state, items[RECORD],
                    None if scores is None else {k: np.asarray(v) for k, v in scores.items()},
                    items.get(ENSEMBLE), tuple(damaged))
  if damaged:
    raise Damaged(f'no checkpoint in {os.path.join(workdir, DIRECTORY)} reads back '
                  f'({"; ".join(damaged)})')
  return None


def clean(workdir: str, keep_through: int) -> None:
  """The workdir's writer, before it goes on after iteration `keep_through`:
  removes the checkpoints after it (damaged ones, passed over) and what saves
  that died left. Every process calls it (orbax's managers are collective);
  the primary one removes."""
  newer = [iteration for iteration in steps(workdir) if iteration > keep_through]
  if sharding.is_primary():
    for iteration in newer:
      shutil.rmtree(os.path.join(workdir, DIRECTORY, str(iteration)))
  sharding.barrier('checkpoint.clean')
  with _manager(workdir, clean=True):
    pass


def restore_params(workdir: str, ensemble: bool = False):
  """Only the parameters that predict, as saved in the newest checkpoint: the
  last model's (the moving average where the run kept one,
  train.evaluation_params), or with ensemble the final models', stacked.

  Raises:
    FileNotFoundError: no checkpoint, or none of the final models.
    Damaged: the newest checkpoint does not read back whole (an older one holds
      another model, so it is not used).
  """
  iteration = latest_iteration(workdir)
  if iteration is None:
    raise FileNotFoundError(f'no checkpoint in {workdir}')
  item = ENSEMBLE if ensemble else 'state'
  if not _has_item(workdir, iteration, item):
    raise FileNotFoundError(f'no {item} in the checkpoint of {workdir}')
  try:
    with _quiet(), _manager(workdir) as manager:
      restored = manager.restore(iteration, args=ocp.args.Composite(
          **{item: ocp.args.StandardRestore(), RECORD: ocp.args.JsonRestore()}))
    _check(item, restored[item], _unwrap(restored[RECORD])[1])
  except Exception as e:  # pylint: disable=broad-except
    raise Damaged(f'the checkpoint of iteration {iteration} in {workdir} is damaged '
                  f'({_why(e)})') from None
  if ensemble:
    return restored[ENSEMBLE]
  return restored['state'].get('ema_params', restored['state']['params'])
