"""Checkpoint: the loop's state after each finished iteration, with orbax.

What is saved: the label state, the last model (parameters, optimizer state,
step) and the run's record so far; where a run ends with several final models
(config.Config.final_models), their parameters too, stacked. The random keys need
no saving: each iteration's keys are folded in from the seed and the iteration
number, so a run resumed after iteration k draws exactly what an uninterrupted
one would.
"""

from __future__ import annotations

import dataclasses
import os

import jax
import numpy as np
import orbax.checkpoint as ocp

from pl_jax import select, train

DIRECTORY = 'checkpoints'
ENSEMBLE = 'ensemble'  # The checkpoint item of the final models' parameters.


def _manager(workdir: str) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), DIRECTORY),
      options=ocp.CheckpointManagerOptions(
          # The newest is enough to resume; one more survives a crash while saving.
          max_to_keep=2, enable_async_checkpointing=False, create=True))


def _tree(train_state: train.TrainState, label_state: select.LabelState) -> dict:
  tree = {'params': train_state.params, 'opt_state': train_state.opt_state,
          'step': train_state.step,
          'labels': {f.name: np.asarray(getattr(label_state, f.name))
                     for f in dataclasses.fields(label_state)}}
  if train_state.ema_params is not None:
    tree['ema_params'] = train_state.ema_params
  return tree


def save(workdir: str, iteration: int, train_state: train.TrainState,
         label_state: select.LabelState, record: dict, ensemble_params=None) -> None:
  """Saves the state after `iteration` (orbax writes it atomically).

  ensemble_params: the final models' parameters, stacked (models.stack_params),
  or None: an item of their own, which only a predictor restores.

  Raises OSError whatever orbax raised: a failed save is an I/O problem (a
  full disk, say), and the previous checkpoint stays the newest.
  """
  try:
    with _manager(workdir) as manager:
      items = dict(state=ocp.args.StandardSave(_tree(train_state, label_state)),
                   record=ocp.args.JsonSave(record))
      if ensemble_params is not None:
        items[ENSEMBLE] = ocp.args.StandardSave(ensemble_params)
      manager.save(iteration, args=ocp.args.Composite(**items))
      manager.wait_until_finished()
  except OSError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise OSError(f'checkpoint of iteration {iteration} failed: {type(e).__name__}: {e}') from e


def latest_iteration(workdir: str) -> int | None:
  if not os.path.isdir(os.path.join(workdir, DIRECTORY)):
    return None
  with _manager(workdir) as manager:
    return manager.latest_step()


def restore(workdir: str, like_train_state: train.TrainState,
            like_label_state: select.LabelState):
  """The newest checkpoint as (iteration, train_state, label_state, record).

  like_*: states of the right structure and shapes (e.g. freshly made).
  """
  iteration = latest_iteration(workdir)
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct,
                          _tree(like_train_state, like_label_state))
  with _manager(workdir) as manager:
    restored = manager.restore(iteration, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), record=ocp.args.JsonRestore()))
  tree = restored['state']
  train_state = like_train_state.replace(params=tree['params'], opt_state=tree['opt_state'],
                                         step=tree['step'],
                                         ema_params=tree.get('ema_params'))
  label_state = select.LabelState(**{k: np.asarray(v) for k, v in tree['labels'].items()})
  return iteration, train_state, label_state, restored['record']


def restore_params(workdir: str, ensemble: bool = False):
  """Only the parameters that predict, as saved: the last model's (the moving
  average where the run kept one, train.evaluation_params), or with ensemble
  the final models', stacked.

  Raises FileNotFoundError: no checkpoint, or none of the final models.
  """
  iteration = latest_iteration(workdir)
  if iteration is None:
    raise FileNotFoundError(f'no checkpoint in {workdir}')
  item = ENSEMBLE if ensemble else 'state'
  # Orbax keeps each item of a step in a folder of its name.
  if not os.path.isdir(os.path.join(workdir, DIRECTORY, str(iteration), item)):
    raise FileNotFoundError(f'no {item} in the checkpoint of {workdir}')
  with _manager(workdir) as manager:
    # Without a target, orbax restores the saved tree as it is (dicts of arrays).
    restored = manager.restore(iteration, args=ocp.args.Composite(
        **{item: ocp.args.StandardRestore()}))
  if ensemble:
    return restored[ENSEMBLE]
  return restored['state'].get('ema_params', restored['state']['params'])
