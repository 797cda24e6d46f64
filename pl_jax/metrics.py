"""Metrics: the per-iteration figures of a run, each defined once.

Metrics whose name starts with an entry of ORACLE_METRICS use the hidden true
labels of pseudo-labeled or pool examples. A real user does not have those; they
are diagnostics of the experiment, recorded for study, and nothing in training
or selection ever reads them.
"""

import numpy as np

from pl_jax import select

ORACLE_METRICS = ('train_label_accuracy', 'pool_accuracy', 'selected_accuracy',
                  'rejected_accuracy')


def accuracy(predicted: np.ndarray, labels: np.ndarray, mask: np.ndarray | None = None):
  """Share of predicted == labels where mask is set; None when mask is empty.

  predicted, labels: int[N]; mask: bool[N] or None for all.
  """
  if mask is None:
    mask = np.ones(len(labels), bool)
  n = int(np.sum(mask))
  return float(np.sum((predicted == labels) & mask) / n) if n else None


def iteration_metrics(*, label_state: select.LabelState, true_labels: np.ndarray,
                      predicted: np.ndarray, selected: np.ndarray,
                      test_labels: np.ndarray, test_predicted: np.ndarray) -> dict:
  """What one iteration did: its training set, its model, its selection.

  label_state: the labels the model of this iteration was trained on.
  true_labels: int32[N], hidden truth (oracle metrics only).
  predicted: int32[N], this model's prediction for every training example.
  selected: bool[N], the pool examples it selected.
  test_labels, test_predicted: int32[M].
  """
  source = np.asarray(label_state.source)
  labels_in_use = np.asarray(label_state.labels)
  train = source != select.NONE
  pool = source == select.NONE
  return {
      'n_train': int(train.sum()),
      'n_human': int((source == select.HUMAN).sum()),
      'n_pseudo': int((source == select.PSEUDO).sum()),
      'train_label_accuracy': accuracy(labels_in_use, true_labels, train),
      'train_accuracy': accuracy(predicted, labels_in_use, train),
      'test_accuracy': accuracy(test_predicted, test_labels),
      'pool_size': int(pool.sum()),
      'pool_accuracy': accuracy(predicted, true_labels, pool),
      'n_selected': int(selected.sum()),
      'selected_accuracy': accuracy(predicted, true_labels, selected),
      'n_rejected': int((pool & ~selected).sum()),
      'rejected_accuracy': accuracy(predicted, true_labels, pool & ~selected),
  }
