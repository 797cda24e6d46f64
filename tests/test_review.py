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
