"""The Python API, for notebooks: `pl_jax.self_train(images, labels, ...)`."""

from __future__ import annotations

import numpy as np

from pl_jax import lock, loop, recipes, user_data


def self_train(images: np.ndarray, labels: np.ndarray, test_images: np.ndarray | None = None,
               test_labels: np.ndarray | None = None, *,
               class_names: tuple[str, ...] | None = None,
               manual_labels: np.ndarray | None = None, workdir: str | None = None,
               recipe: str = recipes.DEFAULT, progress: bool = True, log=print,
               **config) -> loop.Result:
  """Pseudo-labels `images` whose label is -1, from those that have one.

  Args:
    images: uint8[N, H, W, C] (or [N, H, W]); any size from 10x10, 1 or 3 channels.
    labels: int[N], a class in 0..K-1, or -1 for unlabeled.
    test_images, test_labels: an optional test split, the run's reality check.
    class_names: a name per class, optional.
    manual_labels: int[N], labels a person gave since (e.g. review.read_manual_labels),
      -1 where none: they join the human labels.
    workdir: where to save results and checkpoints (and resume from), or None.
    recipe: named settings (recipes.RECIPES) that **config overrides.
    **config: any field of config.Config, e.g. threshold=0.95, iterations=5.

  Raises:
    config.ConfigError: an unknown recipe or setting, or a value not allowed (one
      line naming it).
    lock.LockedError: another process writes into workdir (one line naming it).

  Returns:
    loop.Result: `record` (as results.json), `params` of the last model (with
    final_models > 1, of every final model, stacked; `apply_fn` applies them
    either way) and `labels`, a LabelState with every example's label, source,
    iteration and confidence.
  """
  run_config = recipes.make_config(recipe, **config)  # Checked before the data is.
  dataset = user_data.from_arrays(
      'arrays', images, labels, test_images, test_labels, class_names)
  initial = loop.initial_label_state(
      dataset, run_config, None if manual_labels is None else np.asarray(manual_labels))
  if workdir is None:
    return loop.self_train(dataset, run_config, initial=initial, progress=progress, log=log)
  with lock.hold(workdir, 'pl_jax.self_train'):  # One writer per workdir.
    return loop.self_train(dataset, run_config, workdir, initial=initial, progress=progress,
                           log=log)

