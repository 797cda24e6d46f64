import numpy as np

from pl_jax import metrics, select


def test_accuracy():
  assert metrics.accuracy(np.array([1, 2, 3]), np.array([1, 2, 0])) == 2 / 3
  assert metrics.accuracy(np.array([1, 2]), np.array([1, 0]), np.array([False, True])) == 0
  assert metrics.accuracy(np.array([1]), np.array([1]), np.array([False])) is None


def test_iteration_metrics_on_a_hand_made_case():
  true_labels = np.array([0, 1, 2, 3, 4, 5])
  state = select.LabelState.from_human(true_labels, np.array([1, 1, 0, 0, 0, 0], bool))
  # Example 2 got a wrong pseudo-label earlier.
  state = select.adopt_pseudo_labels(state, np.array([0, 0, 1, 0, 0, 0], bool),
                                     np.array([0, 0, 9, 0, 0, 0]), np.ones(6), 1)
  predicted = np.array([0, 7, 9, 3, 4, 0])
  selected = np.array([0, 0, 0, 1, 1, 1], bool)
  row = metrics.iteration_metrics(
      label_state=state, true_labels=true_labels, predicted=predicted, selected=selected,
      test_labels=np.array([1, 1, 1, 1]), test_predicted=np.array([1, 1, 1, 0]))
  assert row == {
      'n_train': 3, 'n_human': 2, 'n_pseudo': 1,
      'train_label_accuracy': 2 / 3,   # The pseudo-label 9 is wrong.
      'train_accuracy': 2 / 3,         # Fits 0 and 9, misses 1 (predicted 7).
      'test_accuracy': 3 / 4,
      'pool_size': 3, 'pool_accuracy': 2 / 3,
      'n_selected': 3, 'selected_accuracy': 2 / 3,
      'n_rejected': 0, 'rejected_accuracy': None,
  }
