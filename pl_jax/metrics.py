"""Metrics: the per-iteration figures of a run, each defined once.

Metrics whose name starts with an entry of ORACLE_METRICS use the hidden true
labels of pseudo-labeled or pool examples. A real user does not have those; they
are diagnostics of the experiment, recorded for study, and nothing in training
or selection ever reads them.
"""

import numpy as np

from pl_jax import select

ORACLE_METRICS = ('train_label_accuracy', 'train_label_confusion', 'pool_accuracy',
                  'selected_accuracy', 'selected_correct_per_class', 'rejected_accuracy',
                  'pool_confidence_histogram')


def accuracy(predicted: np.ndarray, labels: np.ndarray, mask: np.ndarray | None = None):
  """Share of predicted == labels where mask is set; None when mask is empty.

  predicted, labels: int[N]; mask: bool[N] or None for all.
  """
  if mask is None:
    mask = np.ones(len(labels), bool)
  n = int(np.sum(mask))
  return float(np.sum((predicted == labels) & mask) / n) if n else None


def worst_class(predicted: np.ndarray, labels: np.ndarray,
                num_classes: int) -> tuple[int, float]:
  """The class whose examples are least often predicted right, and that share
  (its recall). predicted, labels: int[N]. Why: a mean accuracy hides a class
  handed to another."""
  recall = [accuracy(predicted, labels, labels == c) for c in range(num_classes)]
  recall = [1.0 if r is None else r for r in recall]  # No examples: nothing missed.
  worst = int(np.argmin(recall))
  return worst, recall[worst]


# Confidence histograms bin "nines", -log10(1 - confidence): 0.9 -> 1, 0.99 -> 2,
# 0.999 -> 3. Equal-width bins in confidence would put everything that matters
# for a threshold like 0.99 into the last bin.
NINES_EDGES = tuple(np.round(np.arange(0, 6.01, 0.25), 2).tolist())
CALIBRATION_BINS = 10


def nines(confidence: np.ndarray) -> np.ndarray:
  """-log10(1 - confidence), capped at the last histogram edge. float[N] -> float[N]."""
  gap = np.maximum(1.0 - np.asarray(confidence, np.float64), 10.0 ** -NINES_EDGES[-1])
  return -np.log10(gap)


def confidence_histogram(confidence: np.ndarray, correct: np.ndarray | None) -> dict:
  """Counts of predictions per bin of nines(confidence): all of them, and the
  correct and wrong ones apart (None without hidden labels).

  confidence: float[N]; correct: bool[N] (oracle: it uses hidden labels) or None.
  """
  x = nines(confidence)
  count = lambda mask: np.histogram(x[mask], bins=NINES_EDGES)[0].tolist()
  everything = np.ones(len(x), bool)
  return {'nines_edges': list(NINES_EDGES), 'all': count(everything),
          'correct': None if correct is None else count(correct),
          'wrong': None if correct is None else count(~correct)}


def calibration(confidence: np.ndarray, correct: np.ndarray,
                bins: int = CALIBRATION_BINS) -> dict:
  """Reliability diagram data and expected calibration error (ECE).

  confidence: float[N]; correct: bool[N]. Per equal-width confidence bin: the
  number of predictions, their accuracy and mean confidence (None when empty).
  """
  edges = np.linspace(0, 1, bins + 1)
  which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
  count = np.bincount(which, minlength=bins)
  mean = lambda values: [float(np.mean(values[which == b])) if count[b] else None
                         for b in range(bins)]
  accuracy, mean_confidence = mean(correct.astype(np.float64)), mean(confidence)
  ece = sum(count[b] * abs(accuracy[b] - mean_confidence[b])
            for b in range(bins) if count[b]) / max(len(confidence), 1)
  return {'bin_edges': edges.tolist(), 'count': count.tolist(), 'accuracy': accuracy,
          'confidence': mean_confidence, 'ece': float(ece)}


def test_metrics(test_labels: np.ndarray | None, test_confidence: np.ndarray | None,
                 test_predicted: np.ndarray | None) -> dict:
  """A predictor on the test set: its accuracy and calibration, None without
  test labels. test_labels, test_predicted: int32[M]; test_confidence: float32[M]."""
  if test_labels is None:
    return {'test_accuracy': None, 'test_calibration': None}
  return {'test_accuracy': accuracy(test_predicted, test_labels),
          'test_calibration': calibration(test_confidence, test_predicted == test_labels)}


def per_class(predicted: np.ndarray, mask: np.ndarray, num_classes: int) -> list[int]:
  """How many examples `mask` marks, by predicted class: K counts.
  predicted: int[N]; mask: bool[N]."""
  return np.bincount(predicted[mask], minlength=num_classes).tolist()


def confusion(true_labels: np.ndarray, labels: np.ndarray, mask: np.ndarray,
              num_classes: int) -> list[list[int]]:
  """How many examples of each true class carry each label, where mask is set:
  K x K counts, [true][label]. true_labels, labels: int[N]; mask: bool[N]. Why:
  a pseudo-label's mistakes are systematic (from 100 labels, 1s with a foot
  taken for 2s), and the largest off-diagonal cells name them."""
  counts = np.bincount(true_labels[mask] * num_classes + labels[mask],
                       minlength=num_classes * num_classes)
  return counts.reshape(num_classes, num_classes).tolist()


def mistakes(matrix: list[list[int]]) -> int:
  """How many examples a confusion matrix (confusion) holds off its diagonal."""
  return int(np.sum(matrix) - np.trace(matrix))


def commonest_mistakes(matrix: list[list[int]], top: int = 5) -> list[tuple[int, int, int]]:
  """The `top` largest off-diagonal cells of a confusion matrix (confusion), as
  (true class, label, count), largest first (ties: lower classes first); no
  empty cells."""
  cells = [(-count, true, label) for true, row in enumerate(matrix)
           for label, count in enumerate(row) if true != label and count]
  return [(true, label, -negative) for negative, true, label in sorted(cells)[:top]]


def selection_per_class(predicted: np.ndarray, selected: np.ndarray,
                        true_labels: np.ndarray | None, num_classes: int) -> dict:
  """A selection by predicted class: how many it took (`n_selected_per_class`)
  and how many of those are right (`selected_correct_per_class`, oracle: None
  without hidden labels). predicted: int[N]; selected: bool[N]; true_labels:
  int[N] or None. Why: with a few labels a class can be taken over by another
  from the first selection on, and the run's mean accuracy hides it."""
  return {'n_selected_per_class': per_class(predicted, selected, num_classes),
          'selected_correct_per_class': (
              None if true_labels is None else
              per_class(predicted, selected & (predicted == true_labels), num_classes))}


def iteration_metrics(*, label_state: select.LabelState, candidates: np.ndarray | None = None,
                      true_labels: np.ndarray | None, num_classes: int,
                      confidence: np.ndarray, predicted: np.ndarray,
                      selected: np.ndarray) -> dict:
  """What one iteration did: its training set, its model, its selection (the
  predictor's test and validation figures come from test_metrics and the loop).

  Metrics that need what a run does not have (hidden truth) are None.

  label_state: the labels the model of this iteration was trained on.
  candidates: bool[N], the examples the selection considered: the pool, and
    with revisable pseudo-labels also the pseudo-labeled ones. Default: the pool.
  true_labels: int32[N], hidden truth (oracle metrics only), or None.
  confidence, predicted: float32[N], int32[N], this model's confidence and
    prediction for every training example.
  selected: bool[N], the pool examples it selected.
  num_classes: K, for the per-class counts (selection_per_class).
  """
  oracle = (lambda metric: metric()) if true_labels is not None else (lambda metric: None)
  source = np.asarray(label_state.source)
  labels_in_use = np.asarray(label_state.labels)
  train = (source == select.HUMAN) | (source == select.PSEUDO)
  pool = source == select.NONE if candidates is None else np.asarray(candidates)
  return {
      'n_train': int(train.sum()),
      'n_human': int((source == select.HUMAN).sum()),
      'n_pseudo': int((source == select.PSEUDO).sum()),
      'train_label_accuracy': oracle(lambda: accuracy(labels_in_use, true_labels, train)),
      'train_label_confusion': oracle(
          lambda: confusion(true_labels, labels_in_use, train, num_classes)),
      'train_accuracy': accuracy(predicted, labels_in_use, train),
      'pool_size': int(pool.sum()),
      'pool_accuracy': oracle(lambda: accuracy(predicted, true_labels, pool)),
      'n_selected': int(selected.sum()),
      'selected_accuracy': oracle(lambda: accuracy(predicted, true_labels, selected)),
      **selection_per_class(predicted, selected, true_labels, num_classes),
      'n_rejected': int((pool & ~selected).sum()),
      'rejected_accuracy': oracle(lambda: accuracy(predicted, true_labels, pool & ~selected)),
      'pool_confidence_histogram': confidence_histogram(
          confidence[pool],
          oracle(lambda: predicted[pool] == true_labels[pool])),
  }


def first_selection(results: dict) -> tuple[list[int] | None, list[int] | None]:
  """A run's first pseudo-labels (results.json): how many per predicted class,
  and how many of those are right (oracle; None without hidden labels). They
  are the propagated start's where the run had one (config.propagate), else
  the first iteration's selection; (None, None) if neither was recorded."""
  first = results.get('propagation') or (results['iterations'][0] if results['iterations']
                                         else {})
  return first.get('n_selected_per_class'), first.get('selected_correct_per_class')
