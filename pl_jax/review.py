"""Review: a human in the loop.

After a run, the pool examples the model is least sure about go to a person: a
PNG contact sheet to look at and a CSV to fill in (`export_review`). The filled
CSV comes back as manual labels (`read_manual_labels`); as the case study
advises, the next run starts again from the enlarged set of human labels.
"""

from __future__ import annotations

import csv
import io
import os

import numpy as np

from pl_jax import atomic, data_types, lock, select

REVIEW_DIR = 'review'
REVIEW_COLUMNS = ('index', 'name', 'predicted', 'confidence', 'margin', 'label')
RANKINGS = ('confidence', 'margin')


class ReviewError(Exception):
  """A review sheet cannot be used; the message is one line for the user."""


def least_sure(confidence: np.ndarray, margin: np.ndarray, in_pool: np.ndarray, k: int,
               by: str = 'confidence') -> np.ndarray:
  """Indices of the k pool examples with the lowest confidence (or top-2 margin).

  confidence, margin: float32[N]; in_pool: bool[N] -> int64[min(k, pool size)],
  least sure first. Ties go to the lower index, so the choice is reproducible.
  """
  if by not in RANKINGS:
    raise ValueError(f'rank by one of {RANKINGS}, got {by!r}')
  key = np.where(in_pool, confidence if by == 'confidence' else margin, np.inf)
  order = np.argsort(key, kind='stable')
  return order[:min(k, int(in_pool.sum()))]


def contact_sheet(images: np.ndarray, captions: list[str], columns: int = 10,
                  scale: int = 3):
  """A grid of images with a caption under each, as a PIL image.

  images: uint8[K, H, W, C] with C 1 or 3.
  """
  from PIL import Image, ImageDraw  # pylint: disable=g-import-not-at-top
  count, height, width, channels = images.shape
  rows = max(1, -(-count // columns))
  cell_w, cell_h, caption_h = width * scale + 8, height * scale + 4, 14
  sheet = Image.new('RGB', (columns * cell_w, rows * (cell_h + caption_h)), 'white')
  draw = ImageDraw.Draw(sheet)
  for i, (image, caption) in enumerate(zip(images, captions)):
    tile = Image.fromarray(image[..., 0] if channels == 1 else image)
    tile = tile.convert('RGB').resize((width * scale, height * scale), Image.NEAREST)
    x, y = (i % columns) * cell_w + 4, (i // columns) * (cell_h + caption_h) + 2
    sheet.paste(tile, (x, y))
    draw.text((x, y + height * scale + 1), caption, fill='black')
  return sheet


def export_review(workdir: str, dataset: data_types.Dataset, k: int,
                  by: str = 'confidence') -> tuple[str, str]:
  """Writes review/contact_sheet.png and review/review.csv for the k least sure
  pool examples of the run in workdir; returns their paths.

  The CSV's `label` column is for the person: a class name or number per row,
  or empty to leave the example unlabeled.

  Raises:
    lock.LockedError: another process writes into workdir.
  """
  with np.load(os.path.join(workdir, 'scores.npz')) as scores, \
       np.load(os.path.join(workdir, 'labels.npz')) as labels:
    confidence, margin, predicted = scores['confidence'], scores['margin'], scores['predicted']
    in_pool = labels['source'] == select.NONE
  chosen = least_sure(confidence, margin, in_pool, k, by)
  name = lambda i: dataset.example_names[i] if dataset.example_names else str(i)
  class_name = lambda c: dataset.class_names[c] if dataset.class_names else str(c)

  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  writer.writerow(REVIEW_COLUMNS)
  for i in chosen:
    writer.writerow([int(i), name(i), class_name(predicted[i]), f'{confidence[i]:.6f}',
                     f'{margin[i]:.6f}', ''])
  directory = os.path.join(workdir, REVIEW_DIR)
  csv_path = os.path.join(directory, 'review.csv')
  png_path = os.path.join(directory, 'contact_sheet.png')
  sheet = contact_sheet(dataset.train_images[chosen],
                        [f'#{i} {class_name(predicted[i])}?' for i in chosen])
  buffer = io.BytesIO()
  sheet.save(buffer, format='PNG')
  with lock.hold(workdir, 'export_review'):  # (A run exporting its own sheet holds it.)
    atomic.write_text(csv_path, out.getvalue())
    atomic.write_bytes(png_path, buffer.getvalue())
  return png_path, csv_path


def read_manual_labels(path: str, dataset: data_types.Dataset) -> np.ndarray:
  """Reads a filled review CSV into int32[N] labels (-1 where none was given).

  Rows are matched by `index`; a `name`, when present, must match the example's
  name, so a sheet from another data set is caught. Labels are class names or
  class numbers.
  """
  try:
    with open(path, newline='') as f:
      rows = list(csv.DictReader(f))
  except (OSError, UnicodeDecodeError, csv.Error) as e:
    raise ReviewError(f'{path}: cannot read ({type(e).__name__})') from None
  if not rows or not {'index', 'label'} <= set(rows[0]):
    raise ReviewError(f'{path}: want a CSV with columns index and label (and name)')
  n = len(dataset.train_labels)
  names = dataset.class_names or tuple(str(c) for c in range(dataset.num_classes))
  manual = np.full(n, data_types.UNLABELED, np.int32)
  for line, row in enumerate(rows, start=2):
    label = (row.get('label') or '').strip()
    if not label:
      continue
    try:
      index = int(row['index'])
    except (TypeError, ValueError):
      raise ReviewError(f'{path} line {line}: index {row["index"]!r} is not a number') from None
    if not 0 <= index < n:
      raise ReviewError(f'{path} line {line}: index {index} is outside 0..{n - 1}')
    expected = dataset.example_names[index] if dataset.example_names else str(index)
    if row.get('name') and row['name'] != expected:
      raise ReviewError(f'{path} line {line}: index {index} is {expected}, not {row["name"]}')
    if label in names:
      manual[index] = names.index(label)
    elif label.lstrip('-').isdigit() and 0 <= int(label) < dataset.num_classes:
      manual[index] = int(label)
    else:
      raise ReviewError(f'{path} line {line}: label {label!r} is not a class '
                        f'({", ".join(names)})')
  if not (manual != data_types.UNLABELED).any():
    raise ReviewError(f'{path}: no labels filled in (the label column is empty)')
  return manual


def previous_labels(review_csv: str) -> select.LabelState:
  """The labels of the run a review sheet came from (<workdir>/review/review.csv)."""
  workdir = os.path.dirname(os.path.dirname(os.path.abspath(review_csv)))
  path = os.path.join(workdir, 'labels.npz')
  try:
    with np.load(path) as f:
      return select.LabelState(labels=f['labels'], source=f['source'],
                               iteration=f['iteration'], confidence=f['confidence'])
  except (OSError, KeyError, ValueError) as e:
    raise ReviewError(f'--keep_pseudo_labels: no readable {path} beside the review sheet '
                      f'({type(e).__name__})') from None
