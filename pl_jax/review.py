"""Review: a human in the loop.

After a run, the pool examples the model is least sure about go to a person
(`export_review`): a PNG contact sheet and a CSV to fill in by hand, each image
as a PNG with the model's top guesses for the review page
(`python -m pl_jax.review_server WORKDIR`), and on request a Label Studio
import file. The page saves every answer into the CSV (`record_answer`). The
filled CSV, or Label Studio's JSON export of the tasks, comes back as manual
labels (`read_manual_labels`); as the case study advises, the next run starts
again from the enlarged set of human labels.

Nothing here imports JAX until a function needs it, so the review page starts
fast and light.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
from typing import Callable, NamedTuple
from xml.sax import saxutils

import numpy as np

from pl_jax import atomic, data_types, lock

REVIEW_DIR = 'review'
REVIEW_CSV = 'review.csv'
CONTACT_SHEET = 'contact_sheet.png'
PAGE_JSON = 'review.json'  # What the review page shows: the items, guesses, next run.
IMAGES_DIR = 'images'
LABEL_STUDIO_TASKS = 'label_studio_tasks.json'
LABEL_STUDIO_CONFIG = 'label_studio_config.xml'
# `label`: a class, for the person to fill in. `status`: the page's record of an
# answer without a class; rows with a label are labeled whatever it says.
REVIEW_COLUMNS = ('index', 'name', 'predicted', 'confidence', 'margin', 'label', 'status')
SKIPPED, NONE_OF_THESE = 'skipped', 'none of these'
STATUSES = (SKIPPED, NONE_OF_THESE)
RANKINGS = ('confidence', 'margin')
GUESSES = 3  # Top guesses shown per image.
# Names in the Label Studio labeling config (label_studio_config.xml) that the
# tasks' predictions and the export's annotations refer to.
LS_IMAGE, LS_CHOICES = 'image', 'label'


class ReviewError(Exception):
  """A review sheet cannot be used; the message is one line for the user."""


class ReviewFiles(NamedTuple):
  """What export_review wrote (label_studio: None unless asked for)."""
  sheet: str
  csv: str
  page: str
  label_studio: str | None


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


def png_bytes(image) -> bytes:
  """A PIL image, or a uint8[H, W, C] array with C 1 or 3, as PNG bytes."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  if isinstance(image, np.ndarray):
    image = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
  buffer = io.BytesIO()
  image.save(buffer, format='PNG')
  return buffer.getvalue()


def class_names_of(dataset: data_types.Dataset) -> tuple[str, ...]:
  return dataset.class_names or tuple(str(c) for c in range(dataset.num_classes))


def example_name(dataset: data_types.Dataset, index: int) -> str:
  return dataset.example_names[index] if dataset.example_names else str(index)


def top_guesses(probabilities: np.ndarray, classes: tuple[str, ...],
                k: int = GUESSES) -> list[list]:
  """float[C] -> [[class name, probability], ...], the k likeliest first."""
  order = np.argsort(-probabilities, kind='stable')[:k]
  return [[classes[c], round(float(probabilities[c]), 6)] for c in order]


def model_probabilities(apply_fn, params, images: np.ndarray) -> np.ndarray:
  """float32[K, C]: how the model (apply_fn, params; a run's loop.Result) sees images."""
  import jax  # pylint: disable=g-import-not-at-top
  from pl_jax import score  # pylint: disable=g-import-not-at-top
  return np.asarray(jax.device_get(score.probabilities(
      apply_fn, jax.device_get(params), jax.device_put(images), min(1024, len(images)))))


def export_review(workdir: str, dataset: data_types.Dataset, k: int, by: str = 'confidence',
                  probabilities: Callable[[np.ndarray], np.ndarray] | None = None,
                  label_studio: bool = False,
                  next_run: dict | None = None) -> ReviewFiles:
  """Writes the review of the k least sure pool examples of the run in workdir:
  review/contact_sheet.png, review/review.csv (its `label` column for the
  person), review/images/<index>.png and review/review.json for the review page
  and, with label_studio, review/label_studio_tasks.json and
  label_studio_config.xml.

  The ranking is the run's last scoring (scores.npz, as the CSV's predicted,
  confidence and margin columns say). probabilities(images) -> float[K, C], the
  run's final predictor (model_probabilities), gives each image's top guesses;
  without it the guess is the scoring's top class alone. next_run: {'cwd',
  'argv'}, the follow-up command the page offers (next_command).

  Raises:
    lock.LockedError: another process writes into workdir.
  """
  from pl_jax import select  # pylint: disable=g-import-not-at-top  (imports JAX)
  with np.load(os.path.join(workdir, 'scores.npz')) as scores, \
       np.load(os.path.join(workdir, 'labels.npz')) as labels:
    confidence, margin, predicted = scores['confidence'], scores['margin'], scores['predicted']
    in_pool = labels['source'] == select.NONE
  chosen = least_sure(confidence, margin, in_pool, k, by)
  classes = class_names_of(dataset)
  images = dataset.train_images[chosen]
  if probabilities is not None and len(chosen):
    guesses = [top_guesses(p, classes) for p in probabilities(images)]
  else:
    guesses = [[[classes[predicted[i]], round(float(confidence[i]), 6)]] for i in chosen]

  rows = [[int(i), example_name(dataset, i), classes[predicted[i]], f'{confidence[i]:.6f}',
           f'{margin[i]:.6f}', '', ''] for i in chosen]
  with lock.hold(workdir, 'export_review'):  # (A run exporting its review holds it.)
    directory = os.path.join(workdir, REVIEW_DIR)
    csv_path = os.path.join(directory, REVIEW_CSV)
    png_path = os.path.join(directory, CONTACT_SHEET)
    atomic.write_text(csv_path, csv_text(REVIEW_COLUMNS, rows))
    atomic.write_bytes(png_path, png_bytes(contact_sheet(
        images, [f'#{i} {classes[predicted[i]]}?' for i in chosen])))
    items = [{'index': int(i), 'name': example_name(dataset, i),
              'image': write_image(directory, int(i), image),
              'confidence': round(float(confidence[i]), 6),
              'margin': round(float(margin[i]), 6), 'guesses': guess}
             for i, image, guess in zip(chosen, images, guesses)]
    page_path = os.path.join(directory, PAGE_JSON)
    atomic.write_json(page_path, {
        'run': os.path.abspath(workdir), 'dataset': dataset.name, 'ranked_by': by,
        'classes': list(classes), 'image_shape': list(dataset.train_images.shape[1:]),
        'guesses_from': 'final predictor' if probabilities is not None else 'scoring',
        'next_run': next_run, 'items': items})
    tasks_path = None
    if label_studio:
      tasks_path = os.path.join(directory, LABEL_STUDIO_TASKS)
      atomic.write_json(tasks_path, label_studio_tasks(workdir, items, images))
      atomic.write_text(os.path.join(directory, LABEL_STUDIO_CONFIG),
                        label_studio_config(classes))
    return ReviewFiles(png_path, csv_path, page_path, tasks_path)


def csv_text(columns: tuple[str, ...], rows: list[list]) -> str:
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  writer.writerow(columns)
  writer.writerows(rows)
  return out.getvalue()


def write_image(directory: str, index: int, image: np.ndarray) -> str:
  """Writes a review image as PNG; returns its path relative to the review folder."""
  file = f'{IMAGES_DIR}/{index}.png'
  atomic.write_bytes(os.path.join(directory, file), png_bytes(image))
  return file


def next_command(argv: list[str], workdir: str) -> dict:
  """The follow-up run of a run started as `argv` (run.py's sys.argv) in
  workdir: the same settings, the review's CSV as --manual_labels, a workdir
  beside this one. {'cwd': where to run it, 'argv': run.py and its flags}."""
  dropped_with_value = ('workdir', 'export_review', 'review_by', 'manual_labels')
  dropped_bool = ('export_label_studio', 'keep_pseudo_labels', 'overwrite')
  kept, skip_next = [], False
  for arg in argv[1:]:
    if skip_next:
      skip_next = False
      continue
    name = arg.lstrip('-').partition('=')[0]
    if name in dropped_with_value:
      skip_next = '=' not in arg
      continue
    if name in dropped_bool or (name.startswith('no') and name[2:] in dropped_bool):
      continue
    kept.append(arg)
  workdir = os.path.normpath(workdir)
  return {'cwd': os.getcwd(), 'argv': [argv[0], *kept, f'--manual_labels='
                                       f'{os.path.join(workdir, REVIEW_DIR, REVIEW_CSV)}',
                                       f'--workdir={workdir}-reviewed']}


# --- Label Studio ------------------------------------------------------------


def label_studio_config(classes: tuple[str, ...]) -> str:
  """The labeling config of a Label Studio project for the tasks: the image and
  one choice of class."""
  choices = '\n'.join(f'    <Choice value={saxutils.quoteattr(c)}/>' for c in classes)
  return (f'<View>\n  <Image name="{LS_IMAGE}" value="${LS_IMAGE}" zoom="true"/>\n'
          f'  <Choices name="{LS_CHOICES}" toName="{LS_IMAGE}" choice="single-radio" '
          f'showInLine="true">\n{choices}\n  </Choices>\n</View>\n')


def label_studio_tasks(workdir: str, items: list[dict], images: np.ndarray) -> list[dict]:
  """Label Studio tasks (its basic JSON import format) for the review's items:
  the image inline as a data: URI (no storage to set up), pl_jax's own fields
  to find the example again, and the model's top guess as a prediction
  (pre-annotation) whose score is its probability."""
  run = os.path.abspath(workdir)
  version = f'pl_jax {os.path.basename(os.path.normpath(workdir))}'
  tasks = []
  for item, image in zip(items, images):
    label, probability = item['guesses'][0]
    tasks.append({
        'data': {LS_IMAGE: 'data:image/png;base64,' + base64.b64encode(
                     png_bytes(image)).decode(),
                 'pl_jax_index': item['index'], 'pl_jax_name': item['name'],
                 'pl_jax_run': run},
        'predictions': [{
            'model_version': version, 'score': probability,
            'result': [{'id': f'pl_jax_{item["index"]}', 'from_name': LS_CHOICES,
                        'to_name': LS_IMAGE, 'type': 'choices',
                        'value': {'choices': [label]}}]}]})
  return tasks


def _load_json(path: str):
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, UnicodeDecodeError, ValueError) as e:
    raise ReviewError(f'{path}: cannot read ({type(e).__name__})') from None


def _label_studio_choice(path: str, where: str, annotations) -> str:
  """The class a person chose in a task's annotations: the latest one not
  cancelled (skipped); '' if there is none. Predictions are never read."""
  if not isinstance(annotations, list):
    raise ReviewError(f'{path} {where}: annotations is not a list')
  done = [(a.get('updated_at') or a.get('created_at') or '', n, a)
          for n, a in enumerate(annotations)
          if isinstance(a, dict) and not a.get('was_cancelled')]
  if not done:
    return ''
  result = max(done, key=lambda t: t[:2])[2].get('result') or []
  chosen = [r['value']['choices'] for r in result if isinstance(r, dict)
            and r.get('type') == 'choices' and r.get('from_name') == LS_CHOICES
            and isinstance(r.get('value'), dict) and 'choices' in r['value']]
  if not chosen:
    return ''
  if len(chosen) > 1 or not isinstance(chosen[0], list) or len(chosen[0]) != 1:
    raise ReviewError(f'{path} {where}: want one choice of class, got {chosen}')
  return str(chosen[0][0])


def _label_studio_entries(path: str) -> list[tuple[str, object, str | None, str]]:
  """(where, index, name, label) of every task in a Label Studio JSON export."""
  tasks = _load_json(path)
  if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
    raise ReviewError(f'{path}: want Label Studio\'s JSON export (a list of tasks)')
  entries = []
  for n, task in enumerate(tasks, start=1):
    where = f'task {task.get("id", n)}'
    data = task.get('data')
    if not isinstance(data, dict) or 'pl_jax_index' not in data:
      raise ReviewError(f'{path} {where}: no data.pl_jax_index (want the export of tasks '
                        f'from {LABEL_STUDIO_TASKS}, in Label Studio\'s JSON format)')
    entries.append((where, data['pl_jax_index'], data.get('pl_jax_name'),
                    _label_studio_choice(path, where, task.get('annotations', []))))
  return entries


# --- Reading labels back -----------------------------------------------------


def _read_rows(path: str) -> tuple[list[str], list[dict]]:
  """A review CSV's columns and rows."""
  try:
    with open(path, newline='') as f:
      reader = csv.DictReader(f)
      rows = list(reader)
      return list(reader.fieldnames or []), rows
  except (OSError, UnicodeDecodeError, csv.Error) as e:
    raise ReviewError(f'{path}: cannot read ({type(e).__name__})') from None


def _csv_entries(path: str) -> list[tuple[str, object, str | None, str]]:
  """(where, index, name, label) of every row of a review CSV."""
  columns, rows = _read_rows(path)
  if not {'index', 'label'} <= set(columns):
    raise ReviewError(f'{path}: want a CSV with columns index and label (and name)')
  return [(f'line {line}', row['index'], row.get('name'), (row.get('label') or '').strip())
          for line, row in enumerate(rows, start=2)]


def class_number(label: str, classes: tuple[str, ...]) -> int | None:
  """A class name or number -> its number; None if it is neither."""
  if label in classes:
    return classes.index(label)
  if label.lstrip('-').isdigit() and 0 <= int(label) < len(classes):
    return int(label)
  return None


def read_manual_labels(path: str, dataset: data_types.Dataset) -> np.ndarray:
  """Reads a filled review CSV, or Label Studio's JSON export of the review's
  tasks (a .json path), into int32[N] labels (-1 where none was given).

  Examples are matched by index; a name, when present, must match the
  example's name, so a sheet from another data set is caught. Labels are class
  names or class numbers.
  """
  entries = (_label_studio_entries(path) if path.lower().endswith('.json')
             else _csv_entries(path))
  n = len(dataset.train_labels)
  classes = class_names_of(dataset)
  manual = np.full(n, data_types.UNLABELED, np.int32)
  for where, index, name, label in entries:
    if not label:
      continue
    try:
      index = int(index)
    except (TypeError, ValueError):
      raise ReviewError(f'{path} {where}: index {index!r} is not a number') from None
    if not 0 <= index < n:
      raise ReviewError(f'{path} {where}: index {index} is outside 0..{n - 1}')
    expected = example_name(dataset, index)
    if name and name != expected:
      raise ReviewError(f'{path} {where}: index {index} is {expected}, not {name}')
    number = class_number(label, classes)
    if number is None:
      raise ReviewError(f'{path} {where}: label {label!r} is not a class '
                        f'({", ".join(classes)})')
    manual[index] = number
  if not (manual != data_types.UNLABELED).any():
    raise ReviewError(f'{path}: no labels filled in (' + (
        'no task has an annotation with a class)' if path.lower().endswith('.json')
        else 'the label column is empty)'))
  return manual


def review_workdir(path: str) -> str:
  """The run a review sheet came from: <workdir>/review/review.csv, or the
  pl_jax_run of a Label Studio export's tasks."""
  if path.lower().endswith('.json'):
    tasks = _load_json(path)
    runs = {t['data'].get('pl_jax_run') for t in tasks if isinstance(t, dict)
            and isinstance(t.get('data'), dict)} if isinstance(tasks, list) else set()
    if len(runs) != 1 or None in runs:
      raise ReviewError(f'{path}: its tasks do not name one run (data.pl_jax_run)')
    return runs.pop()
  return os.path.dirname(os.path.dirname(os.path.abspath(path)))


def previous_labels(review_path: str):
  """The labels (select.LabelState) of the run a review sheet came from."""
  from pl_jax import select  # pylint: disable=g-import-not-at-top  (imports JAX)
  path = os.path.join(review_workdir(review_path), 'labels.npz')
  try:
    with np.load(path) as f:
      return select.LabelState(labels=f['labels'], source=f['source'],
                               iteration=f['iteration'], confidence=f['confidence'])
  except (OSError, KeyError, ValueError) as e:
    raise ReviewError(f'--keep_pseudo_labels: no readable {path} of the run the review '
                      f'came from ({type(e).__name__})') from None


# --- The review page's state ---------------------------------------------------


def load_page(workdir: str) -> dict:
  """review/review.json of a run (what export_review wrote for the page)."""
  path = os.path.join(workdir, REVIEW_DIR, PAGE_JSON)
  if not os.path.exists(path):
    raise ReviewError(f'{workdir}: no {REVIEW_DIR}/{PAGE_JSON}; write the review with '
                      'run.py --export_review=K first')
  page = _load_json(path)
  if not isinstance(page, dict) or not {'classes', 'items'} <= set(page):
    raise ReviewError(f'{path}: not a review page (want classes and items)')
  return page


def answers(csv_path: str) -> dict[int, tuple[str, str]]:
  """{index: (label, status)} of a review CSV's rows."""
  columns, rows = _read_rows(csv_path)
  if not {'index', 'label'} <= set(columns):
    raise ReviewError(f'{csv_path}: want a CSV with columns index and label (and name)')
  found = {}
  for row in rows:
    try:
      found[int(row['index'])] = ((row.get('label') or '').strip(),
                                  (row.get('status') or '').strip())
    except (TypeError, ValueError):
      continue  # A row the person broke; read_manual_labels names it.
  return found


def record_answer(csv_path: str, index: int, label: str = '', status: str = '',
                  classes: tuple[str, ...] | None = None) -> None:
  """Sets one row's answer in a review CSV and rewrites it atomically: a label
  (a class), or a status (skipped, none of these), or neither to clear it.
  Every other row and column stays as it is on disk.

  Raises:
    ReviewError: a label outside the classes, an unknown status or index, or a
      CSV that cannot be read; the file is then left untouched.
  """
  if label and status:
    raise ReviewError('an answer is a label or a status, not both')
  if label and classes is not None and label not in classes:
    raise ReviewError(f'label {label!r} is not a class ({", ".join(classes)})')
  if status and status not in STATUSES:
    raise ReviewError(f'status {status!r} is not one of {", ".join(STATUSES)}')
  columns, rows = _read_rows(csv_path)
  if not {'index', 'label'} <= set(columns):
    raise ReviewError(f'{csv_path}: want a CSV with columns index and label (and name)')
  if 'status' not in columns:
    columns.append('status')
  hits = [row for row in rows if (row.get('index') or '').strip() == str(index)]
  if not hits:
    raise ReviewError(f'index {index} is not in {csv_path}')
  for row in hits:
    row['label'], row['status'] = label, status
  out = io.StringIO()
  writer = csv.DictWriter(out, fieldnames=columns, lineterminator='\n', restval='',
                          extrasaction='ignore')
  writer.writeheader()
  writer.writerows(rows)
  atomic.write_text(csv_path, out.getvalue())
