import numpy as np

from pl_jax import metrics, select


def test_accuracy():
  assert metrics.accuracy(np.array([1, 2, 3]), np.array([1, 2, 0])) == 2 / 3
  assert metrics.accuracy(np.array([1, 2]), np.array([1, 0]), np.array([False, True])) == 0
  assert metrics.accuracy(np.array([1]), np.array([1]), np.array([False])) is None



def test_worst_class_is_the_least_recalled():
  labels = np.array([0, 0, 1, 1, 2, 2, 2, 2])
  predicted = np.array([0, 0, 1, 0, 2, 2, 2, 1])
  assert metrics.worst_class(predicted, labels, 3) == (1, 0.5)
  # A class with no examples misses nothing.
  assert metrics.worst_class(labels, labels, 4) == (0, 1.0)


def test_iteration_metrics_on_a_hand_made_case():
  true_labels = np.array([0, 1, 2, 3, 4, 5])
  state = select.LabelState.from_human(true_labels, np.array([1, 1, 0, 0, 0, 0], bool))
  # Example 2 got a wrong pseudo-label earlier.
  state = select.adopt_pseudo_labels(state, np.array([0, 0, 1, 0, 0, 0], bool),
                                     np.array([0, 0, 9, 0, 0, 0]), np.ones(6), 1)
  predicted = np.array([0, 7, 9, 3, 4, 0])
  confidence = np.array([0.9, 0.9, 0.9, 0.995, 0.9995, 0.99995])
  selected = np.array([0, 0, 0, 1, 1, 1], bool)
  row = metrics.iteration_metrics(
      label_state=state, true_labels=true_labels, num_classes=10, confidence=confidence,
      predicted=predicted, selected=selected)
  row.update(metrics.test_metrics(np.array([1, 1, 1, 1]), np.array([0.95, 0.95, 0.95, 0.95]),
                                  np.array([1, 1, 1, 0])))
  histogram = row.pop('pool_confidence_histogram')
  # Pool: 0.995 right (2.3 nines), 0.9995 right (3.3), 0.99995 wrong (4.3).
  edges = histogram['nines_edges']
  assert sum(histogram['correct']) == 2 and sum(histogram['wrong']) == 1
  assert histogram['wrong'][edges.index(4.25)] == 1
  assert histogram['correct'][edges.index(3.25)] == 1
  assert histogram['correct'][edges.index(2.25)] == 1
  calibration = row.pop('test_calibration')
  assert calibration['count'][9] == 4 and sum(calibration['count']) == 4
  np.testing.assert_allclose(calibration['ece'], 0.2)  # |0.75 - 0.95|.
  assert row == {
      'n_train': 3, 'n_human': 2, 'n_pseudo': 1,
      'train_label_accuracy': 2 / 3,   # The pseudo-label 9 is wrong.
      # Rows: true class; columns: label. 0 and 1 right, the true 2 labeled 9.
      'train_label_confusion': [[1 if (t, l) in ((0, 0), (1, 1), (2, 9)) else 0
                                 for l in range(10)] for t in range(10)],
      'train_accuracy': 2 / 3,         # Fits 0 and 9, misses 1 (predicted 7).
      'test_accuracy': 3 / 4,
      'pool_size': 3, 'pool_accuracy': 2 / 3,
      'n_selected': 3, 'selected_accuracy': 2 / 3,
      # Selected: 3 (right), 4 (right), 0 (wrong, truly 5).
      'n_selected_per_class': [1, 0, 0, 1, 1, 0, 0, 0, 0, 0],
      'selected_correct_per_class': [0, 0, 0, 1, 1, 0, 0, 0, 0, 0],
      'n_rejected': 0, 'rejected_accuracy': None,
  }


def test_commonest_mistakes_are_the_largest_off_diagonal_cells():
  true_labels = np.array([1, 1, 1, 1, 7, 7, 4, 4, 4, 0])
  labels = np.array([2, 2, 2, 1, 2, 1, 9, 9, 4, 0])
  matrix = metrics.confusion(true_labels, labels, np.ones(10, bool), 10)
  assert sum(map(sum, matrix)) == 10 and matrix[1][2] == 3 and matrix[1][1] == 1
  assert metrics.commonest_mistakes(matrix) == [(1, 2, 3), (4, 9, 2), (7, 1, 1), (7, 2, 1)]
  assert metrics.commonest_mistakes(matrix, top=1) == [(1, 2, 3)]
  # The mask leaves examples out; a clean set has no mistakes.
  assert metrics.commonest_mistakes(
      metrics.confusion(true_labels, labels, labels == true_labels, 10)) == []


def test_calibration_of_a_perfectly_calibrated_scorer():
  confidence = np.array([0.55] * 20 + [0.85] * 20)
  correct = np.array([1] * 11 + [0] * 9 + [1] * 17 + [0] * 3, bool)
  result = metrics.calibration(confidence, correct)
  assert result['count'][5] == 20 and result['count'][8] == 20
  np.testing.assert_allclose([result['accuracy'][5], result['accuracy'][8]], [0.55, 0.85])
  assert result['accuracy'][0] is None
  np.testing.assert_allclose(result['ece'], 0, atol=1e-12)


def test_nines():
  np.testing.assert_allclose(metrics.nines(np.array([0.0, 0.9, 0.99, 1.0])),
                             [0, 1, 2, metrics.NINES_EDGES[-1]])


def test_per_class_counts_without_hidden_labels():
  state = select.LabelState.from_human(np.array([0, -1, -1, -1]),
                                       np.array([1, 0, 0, 0], bool))
  row = metrics.iteration_metrics(
      label_state=state, true_labels=None, num_classes=3,
      confidence=np.full(4, 0.999), predicted=np.array([0, 2, 2, 1]),
      selected=np.array([0, 1, 1, 0], bool))
  assert row['n_selected_per_class'] == [0, 0, 2]
  assert row['selected_correct_per_class'] is None  # Oracle: needs hidden labels.
