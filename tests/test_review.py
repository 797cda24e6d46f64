import csv

import chex
import numpy as np
import pytest

from pl_jax import review, user_data


def test_least_sure_ranks_the_pool_only():
  confidence = np.array([0.1, 0.9, 0.3, 0.2, 0.3, 0.99])
  margin = np.array([0.5, 0.0, 0.1, 0.4, 0.05, 0.9])
  in_pool = np.array([0, 1, 1, 1, 1, 1], bool)
  np.testing.assert_array_equal(review.least_sure(confidence, margin, in_pool, 3),
                                [3, 2, 4])  # 0 is labeled; the tie 2/4 goes to 2.
  np.testing.assert_array_equal(review.least_sure(confidence, margin, in_pool, 2, 'margin'),
                                [1, 4])
  assert len(review.least_sure(confidence, margin, in_pool, 100)) == 5
  with pytest.raises(ValueError):
    review.least_sure(confidence, margin, in_pool, 2, 'entropy')


def test_contact_sheet_size():
  sheet = review.contact_sheet(np.zeros((13, 12, 12, 1), np.uint8), ['x'] * 13, columns=5)
  assert sheet.size == (5 * (12 * 3 + 8), 3 * (12 * 3 + 4 + 14))


def _dataset():
  images = np.zeros((5, 12, 12, 1), np.uint8)
  return user_data.from_arrays('arrays', images, np.array([0, 1, -1, -1, -1]),
                               class_names=('cat', 'dog'))


def _write(tmp_path, rows):
  path = tmp_path / 'review.csv'
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(review.REVIEW_COLUMNS)
    writer.writerows(rows)
  return str(path)


def test_read_manual_labels(tmp_path):
  path = _write(tmp_path, [[2, '2', 'cat', 0.5, 0.1, 'dog'], [3, '3', 'dog', 0.5, 0.1, ''],
                           [4, '4', 'dog', 0.6, 0.2, '0']])
  manual = review.read_manual_labels(path, _dataset())
  chex.assert_type(manual, np.int32)
  np.testing.assert_array_equal(manual, [-1, -1, 1, -1, 0])


@pytest.mark.parametrize('row,message', [
    ([9, '9', 'cat', 0.5, 0.1, 'dog'], 'index 9 is outside 0..4'),
    (['x', 'x', 'cat', 0.5, 0.1, 'dog'], "index 'x' is not a number"),
    ([2, 'other.png', 'cat', 0.5, 0.1, 'dog'], 'index 2 is 2, not other.png'),
    ([2, '2', 'cat', 0.5, 0.1, 'horse'], "label 'horse' is not a class (cat, dog)"),
    ([2, '2', 'cat', 0.5, 0.1, '7'], "label '7' is not a class"),
    ([2, '2', 'cat', 0.5, 0.1, ''], 'no labels filled in'),
])
def test_bad_review_sheets(tmp_path, row, message):
  with pytest.raises(review.ReviewError) as error:
    review.read_manual_labels(_write(tmp_path, [row]), _dataset())
  assert message in str(error.value) and 'line 2' in str(error.value) or 'no labels' in message


def test_unreadable_review_sheet(tmp_path):
  with pytest.raises(review.ReviewError, match='cannot read'):
    review.read_manual_labels(str(tmp_path / 'missing.csv'), _dataset())
  (tmp_path / 'other.csv').write_text('a,b\n1,2\n')
  with pytest.raises(review.ReviewError, match='columns index and label'):
    review.read_manual_labels(str(tmp_path / 'other.csv'), _dataset())


# --- The review's files, the page's answers, Label Studio in and out --------------


def test_export_review_writes_the_page_and_label_studio_files(tmp_path):
  import base64
  import io
  import json
  import xml.etree.ElementTree as ET
  from PIL import Image
  from reviews import CLASSES, make_review, probabilities
  files = make_review(tmp_path / 'run', k=8)
  page = json.loads(open(files.page).read())
  assert page['classes'] == list(CLASSES) and len(page['items']) == 8
  with np.load(tmp_path / 'run' / 'scores.npz') as scores:
    confidences = [scores['confidence'][item['index']] for item in page['items']]
  assert confidences == sorted(confidences)  # Least sure first, as the CSV.
  assert all(item['index'] >= 8 for item in page['items'])  # Pool only (not human/pseudo).
  first = page['items'][0]
  image = np.asarray(Image.open(tmp_path / 'run' / 'review' / first['image']))
  assert image.shape == (12, 12)
  expected = probabilities(image[None, ..., None])[0]
  assert first['guesses'][0] == [CLASSES[expected.argmax()], round(float(expected.max()), 6)]
  assert len(first['guesses']) == 3
  with open(files.csv) as f:
    rows = list(csv.DictReader(f))
  assert [int(r['index']) for r in rows] == [item['index'] for item in page['items']]
  assert all(r['label'] == '' and r['status'] == '' for r in rows)

  tasks = json.loads(open(files.label_studio).read())
  assert len(tasks) == 8
  task = tasks[0]
  assert task['data']['pl_jax_index'] == first['index']
  assert task['data']['pl_jax_run'] == str(tmp_path / 'run')
  header, _, encoded = task['data']['image'].partition(',')
  assert header == 'data:image/png;base64'
  np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded)))),
                                image)
  prediction, = task['predictions']
  assert prediction['score'] == first['guesses'][0][1]
  assert prediction['result'] == [{'id': f'pl_jax_{first["index"]}', 'from_name': 'label',
                                   'to_name': 'image', 'type': 'choices',
                                   'value': {'choices': [first['guesses'][0][0]]}}]
  config = ET.fromstring(open(tmp_path / 'run' / 'review' / 'label_studio_config.xml').read())
  assert config.find('Image').get('name') == 'image'
  choices = config.find('Choices')
  assert (choices.get('name'), choices.get('toName')) == ('label', 'image')
  assert [c.get('value') for c in choices] == list(CLASSES)


def label_studio_export(tasks, choose):
  """Label Studio's JSON export of imported tasks (its documented shape), with
  the annotations choose(task) -> [(choice or None, was_cancelled, updated_at)]."""
  exported = []
  for n, task in enumerate(tasks, start=1):
    annotations = [{
        'id': 1000 * n + m, 'completed_by': 1, 'was_cancelled': cancelled,
        'ground_truth': False, 'created_at': '2026-12-03T10:00:00.000000Z',
        'updated_at': updated, 'lead_time': 2.5, 'task': n, 'project': 1,
        'result': [] if choice is None else [{
            'id': f'r{n}{m}', 'type': 'choices', 'from_name': 'label', 'to_name': 'image',
            'origin': 'manual', 'value': {'choices': [choice]}}]}
        for m, (choice, cancelled, updated) in enumerate(choose(task))]
    exported.append({'id': n, 'data': task['data'], 'annotations': annotations,
                     'predictions': task['predictions'], 'project': 1,
                     'created_at': '2026-12-03T09:00:00.000000Z',
                     'updated_at': '2026-12-03T10:00:00.000000Z'})
  return exported


def test_label_studio_round_trip(tmp_path):
  import json
  from reviews import CLASSES, dataset, make_review
  files = make_review(tmp_path / 'run', k=6)
  tasks = json.loads(open(files.label_studio).read())
  indices = [t['data']['pl_jax_index'] for t in tasks]
  late, early = '2026-12-03T11:00:00Z', '2026-12-03T10:30:00Z'
  plans = {
      indices[0]: [('dog', False, early)],
      indices[1]: [('cat', False, early), ('bird', False, late)],  # Corrected later.
      indices[2]: [('bird', False, late), ('cat', False, early)],  # Order is not time.
      indices[3]: [('dog', True, late)],                           # Skipped in Label Studio.
      indices[4]: [],                                               # Not annotated.
      indices[5]: [(None, False, late)],                            # Submitted empty.
  }
  path = tmp_path / 'project-1-at-2026-12-03.json'
  path.write_text(json.dumps(label_studio_export(tasks, lambda t: plans[
      t['data']['pl_jax_index']])))
  manual = review.read_manual_labels(str(path), dataset())
  expected = np.full(len(manual), -1)
  expected[indices[0]], expected[indices[1]], expected[indices[2]] = 1, 2, 2
  np.testing.assert_array_equal(manual, expected)
  # The predictions (the model's guesses) are never read as labels.
  assert (manual != -1).sum() == 3 and CLASSES[1] == 'dog'
  # --keep_pseudo_labels finds the run through the tasks' pl_jax_run.
  previous = review.previous_labels(str(path))
  assert int((np.asarray(previous.source) == 2).sum()) == 3


@pytest.mark.parametrize('edit,message', [
    (lambda tasks: {'tasks': tasks}, 'want Label Studio\'s JSON export'),
    (lambda tasks: [{'id': 7, 'data': {'image': 'x.png'}, 'annotations': []}],
     'task 7: no data.pl_jax_index'),
    (lambda tasks: [{**tasks[0], 'annotations': [{'result': [{
        'type': 'choices', 'from_name': 'label', 'value': {'choices': ['horse']}}]}]}],
     "label 'horse' is not a class (cat, dog, bird)"),
    (lambda tasks: [{**tasks[0], 'annotations': [{'result': [{
        'type': 'choices', 'from_name': 'label', 'value': {'choices': ['cat', 'dog']}}]}]}],
     'want one choice of class'),
    (lambda tasks: [{**tasks[0], 'data': {**tasks[0]['data'], 'pl_jax_name': 'other.png'},
                     'annotations': [{'result': [{'type': 'choices', 'from_name': 'label',
                                                  'value': {'choices': ['cat']}}]}]}],
     ', not other.png'),
    (lambda tasks: tasks, 'no task has an annotation with a class'),
])
def test_bad_label_studio_exports(tmp_path, edit, message):
  import json
  from reviews import dataset, make_review
  files = make_review(tmp_path / 'run', k=3)
  path = tmp_path / 'export.json'
  path.write_text(json.dumps(edit(json.loads(open(files.label_studio).read()))))
  with pytest.raises(review.ReviewError) as error:
    review.read_manual_labels(str(path), dataset())
  assert message in str(error.value) and '\n' not in str(error.value)
  path.write_text('[{"data": ')
  with pytest.raises(review.ReviewError, match='cannot read'):
    review.read_manual_labels(str(path), dataset())


def test_record_answer_rewrites_one_row_or_nothing(tmp_path):
  from reviews import CLASSES, make_review
  files = make_review(tmp_path / 'run', k=4, label_studio=False)
  first, second = list(review.answers(files.csv))[:2]
  review.record_answer(files.csv, first, label='dog', classes=CLASSES)
  review.record_answer(files.csv, second, status=review.NONE_OF_THESE, classes=CLASSES)
  found = review.answers(files.csv)
  assert found[first] == ('dog', '') and found[second] == ('', 'none of these')
  review.record_answer(files.csv, first, classes=CLASSES)  # Clear.
  assert review.answers(files.csv)[first] == ('', '')
  before = open(files.csv, 'rb').read()
  for kwargs, message in [({'label': 'horse'}, "label 'horse' is not a class"),
                          ({'status': 'maybe'}, "status 'maybe' is not one of"),
                          ({'label': 'dog', 'status': 'skipped'}, 'not both')]:
    with pytest.raises(review.ReviewError, match=message):
      review.record_answer(files.csv, first, classes=CLASSES, **kwargs)
  with pytest.raises(review.ReviewError, match='index 3 is not in'):
    review.record_answer(files.csv, 3, label='dog', classes=CLASSES)
  assert open(files.csv, 'rb').read() == before


def test_record_answer_keeps_a_hand_edited_sheet(tmp_path):
  """A sheet from before the status column, with a column of the person's own."""
  path = tmp_path / 'review.csv'
  path.write_text('index,name,label,note\n2,2,,blurry\n3,3,cat,\n')
  review.record_answer(str(path), 2, label='dog')
  assert path.read_text() == 'index,name,label,note,status\n2,2,dog,blurry,\n3,3,cat,,\n'
  np.testing.assert_array_equal(review.read_manual_labels(str(path), _dataset()),
                                [-1, -1, 1, 0, -1])


def test_next_command_keeps_the_settings_and_names_the_review():
  command = review.next_command(
      ['run.py', '--dataset=npz:own.npz', '--workdir', 'runs/a', '--export_review=200',
       '--export_label_studio', '--review_by=margin', '--seed=3', '--nooverwrite',
       '--threshold', '0.95'], 'runs/a/')
  assert command['argv'] == ['run.py', '--dataset=npz:own.npz', '--seed=3', '--threshold',
                             '0.95', '--manual_labels=runs/a/review/review.csv',
                             '--workdir=runs/a-reviewed']


def test_export_label_studio_needs_export_review():
  from conftest import assert_one_line_error, run_script
  assert_one_line_error(run_script('run.py', '--export_label_studio'),
                        '--export_label_studio needs --export_review')
