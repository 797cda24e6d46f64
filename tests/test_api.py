import chex
import numpy as np
import pytest

import pl_jax
from pl_jax import config as config_lib
from pl_jax import select

from conftest import own_arrays


@pytest.mark.slow
def test_self_train_on_arrays(mnist, tmp_path):
  arrays, true_labels = own_arrays(mnist, n_train=400, n_labeled=60, n_test=100)
  result = pl_jax.self_train(
      arrays['images'], arrays['labels'], arrays['test_images'], arrays['test_labels'],
      class_names=arrays['class_names'], workdir=str(tmp_path), progress=False,
      log=lambda _: None, threshold=0.9, iterations=2, epochs=1, min_steps=30, frozen=())
  record, labels = result.record, result.labels
  assert [row['iteration'] for row in record['iterations']] == [1, 2]
  assert record['iterations'][0]['test_accuracy'] > 0.8  # Three easy digits.
  # No hidden labels for a user's data: oracle metrics are absent, not invented.
  assert record['iterations'][0]['pool_accuracy'] is None
  assert record['iterations'][0]['pool_confidence_histogram']['correct'] is None
  chex.assert_shape([labels.labels, labels.source, labels.iteration, labels.confidence],
                    (400,))
  human = np.asarray(labels.source) == select.HUMAN
  np.testing.assert_array_equal(human, arrays['labels'] >= 0)
  pseudo = np.asarray(labels.source) == select.PSEUDO
  assert pseudo.sum() > 100
  # The study's own check: the pseudo-labels are mostly right.
  assert (np.asarray(labels.labels)[pseudo] == true_labels[pseudo]).mean() > 0.9
  assert set(result.params) == {'conv1', 'conv2', 'fc1', 'fc2'}
  csv_lines = (tmp_path / 'pseudo_labels.csv').read_text().splitlines()
  assert csv_lines[0] == 'index,name,label,source,iteration,confidence'
  assert len(csv_lines) == 401 and csv_lines[1].split(',')[2].startswith('digit')


@pytest.mark.slow
def test_without_test_split_warns(mnist):
  arrays, _ = own_arrays(mnist, n_train=200, n_labeled=30)
  lines = []
  result = pl_jax.self_train(arrays['images'], arrays['labels'], progress=False,
                             log=lines.append, iterations=1, epochs=1, min_steps=5)
  assert 'no test split' in lines[0]
  assert result.record['final_test_accuracy'] is None
  assert result.record['iterations'][0]['test_calibration'] is None


@pytest.mark.slow
def test_manual_labels_join_the_human_ones(mnist):
  arrays, true_labels = own_arrays(mnist, n_train=200, n_labeled=30)
  manual = np.full(200, -1)
  manual[50:60] = true_labels[50:60]
  result = pl_jax.self_train(arrays['images'], arrays['labels'], manual_labels=manual,
                             progress=False, log=lambda _: None, iterations=1, epochs=1,
                             min_steps=5)
  assert result.record['iterations'][0]['n_human'] == 40


def test_unknown_setting_or_bad_value_is_refused_before_the_data_is_read():
  images, labels = np.zeros((4, 12, 12), np.uint8), np.array([0, 1, -1, -1])
  with pytest.raises(config_lib.ConfigError, match='unknown setting tresh'):
    pl_jax.self_train(images, labels, tresh=0.9)
  with pytest.raises(config_lib.ConfigError, match=r'threshold must be in \(0, 1\), got 1.5'):
    pl_jax.self_train(images, labels, threshold=1.5)
