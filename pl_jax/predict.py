"""Predict: label new images with the last model (or final models) of a run.

It reads the run's newest checkpoint; run.py's --predict, which writes its CSV
into the workdir, holds the workdir's lock (pl_jax/lock.py) while it does.
"""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Any, NamedTuple

import jax
import numpy as np

from pl_jax import atomic, checkpoint, data_types, models, recipes, score, user_data
from pl_jax.config import Config


class PredictError(Exception):
  """Prediction cannot run; the message is one line for the user."""


def load_images(path: str, image_shape: tuple[int, int, int]) -> tuple[np.ndarray, list[str]]:
  """Images to label, fitted to the model's (H, W, C), and a name for each.

  path: an .npz with `images` (uint8[N, H, W(, C)], the model's size), a folder
  of PNG/JPEG files (resized and converted as needed), or one image file.
  """
  height, width, channels = image_shape
  if path.endswith('.npz'):
    try:
      with np.load(path, allow_pickle=False) as f:
        images = f['images']
    except (OSError, KeyError, ValueError) as e:
      raise PredictError(f'{path}: no readable images array ({type(e).__name__})') from None
    try:
      images = user_data.as_images(images, f'{path}: images')
    except data_types.DataError as e:
      raise PredictError(str(e)) from None
    if images.shape[1:] != (height, width, channels):
      raise PredictError(f'{path}: images are {list(images.shape[1:])}; the model takes '
                         f'{[height, width, channels]}')
    return images, [str(i) for i in range(len(images))]
  if os.path.isdir(path):
    root, files = path, sorted(f for f in os.listdir(path)
                               if f.lower().endswith(user_data.IMAGE_SUFFIXES))
  elif os.path.isfile(path):
    root, files = os.path.dirname(path) or '.', [os.path.basename(path)]
  else:
    raise PredictError(f'{path}: no such file or folder')
  if not files:
    raise PredictError(f'{path}: no PNG or JPEG files')
  try:
    images, _ = user_data.read_images(root, files, [], (height, width))
  except data_types.DataError as e:
    raise PredictError(str(e)) from None
  if images.shape[-1] != channels:  # Grey <-> RGB, as the model was trained.
    images = (images.mean(axis=-1, keepdims=True).round().astype(np.uint8) if channels == 1
              else np.repeat(images, 3, axis=-1))
  return images, files


class Predictor(NamedTuple):
  """A finished run's last model (or final models) and how it predicts."""
  model: models.CNN
  params: Any  # With config.final_models > 1, the final models' stacked.
  config: Config
  class_names: list[str]
  deskew: bool  # The run's model saw deskewed images (loop.deskews).

  @property
  def apply_fn(self):
    """How it applies to images as they come (models.apply_fn)."""
    return models.apply_fn(self.model, self.config.final_models, self.deskew)


def load_predictor(workdir: str) -> Predictor:
  """The run's last model, or its final models, from its results.json and checkpoint."""
  try:
    with open(os.path.join(workdir, 'results.json')) as f:
      results = json.load(f)
    spec, config = results['model'], recipes.config_of(results['recipe'])
    params = checkpoint.restore_params(workdir, ensemble=config.final_models > 1)
  except checkpoint.Damaged as e:
    raise PredictError(f'{e}; rerun the run (its command, with this --workdir) to '
                       'recompute it') from None
  except (OSError, ValueError, KeyError, FileNotFoundError) as e:
    raise PredictError(f'{workdir}: no saved model ({type(e).__name__}); run '
                       'run.py with this --workdir first') from None
  model = models.CNN(num_classes=spec['num_classes'], pixel_mean=tuple(spec['pixel_mean']),
                     pixel_std=tuple(spec['pixel_std']))
  class_names = spec['class_names'] or [str(c) for c in range(spec['num_classes'])]
  return Predictor(model, params, config, class_names, spec.get('deskew', False))


def predict_with(predictor: Predictor, images: np.ndarray,
                 chunk_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
  """The predictor on images: (confidence float32[N], predicted int32[N])."""
  confidence, predicted, _ = jax.device_get(score.score(
      predictor.apply_fn, predictor.params, jax.device_put(images),
      min(chunk_size, len(images))))
  return confidence, predicted


def probabilities_with(predictor: Predictor, images: np.ndarray,
                       chunk_size: int = 1024) -> np.ndarray:
  """float32[N, K]: the softmax predict_with takes its prediction from, to average
  over predictors (experiments/ensemble.py)."""
  return jax.device_get(score.probabilities(
      predictor.apply_fn, predictor.params, jax.device_put(images),
      min(chunk_size, len(images))))


def predict(workdir: str, images: np.ndarray, chunk_size: int = 1024):
  """The run's predictor (its last model, or the mean of its final models) on
  images: (confidence float32[N], predicted int32[N], class names)."""
  predictor = load_predictor(workdir)
  return (*predict_with(predictor, images, chunk_size), predictor.class_names)


def image_shape(workdir: str) -> tuple[int, int, int]:
  try:
    with open(os.path.join(workdir, 'results.json')) as f:
      return tuple(json.load(f)['model']['image_shape'])
  except (OSError, ValueError, KeyError) as e:
    raise PredictError(f'{workdir}: no finished run here ({type(e).__name__})') from None


def write_predictions(path: str, names: list[str], confidence: np.ndarray,
                      predicted: np.ndarray, class_names: list[str]) -> None:
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  writer.writerow(['name', 'label', 'confidence'])
  for name, c, p in zip(names, confidence, predicted):
    writer.writerow([name, class_names[p], f'{c:.6f}'])
  atomic.write_text(path, out.getvalue())
