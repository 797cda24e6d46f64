"""Select: which pool examples become pseudo-labeled, and the record of every label.

`LabelState` is the loop's explicit state: arrays of the full training-set size
whose `source` says, for each example, whether its label came from a human, was
adopted as a pseudo-label, or whether it is still in the unlabeled pool.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

# Values of LabelState.source.
NONE, HUMAN, PSEUDO = 0, 1, 2
SOURCE_NAMES = ('none', 'human', 'pseudo')


@struct.dataclass
class LabelState:
  """The label of every training example and where it came from. All [N].

  labels: int32, the label in use; -1 while in the pool.
  source: int8, NONE / HUMAN / PSEUDO.
  iteration: int32, the iteration whose model selected the pseudo-label (it is
    trained on from the next iteration); 0 for human labels, -1 in the pool.
  confidence: float32, the model's confidence when it selected the label; NaN
    for human labels and the pool.
  """
  labels: jax.Array
  source: jax.Array
  iteration: jax.Array
  confidence: jax.Array

  @classmethod
  def from_human(cls, true_labels: np.ndarray, labeled: np.ndarray) -> 'LabelState':
    """Human labels where `labeled` (bool[N]) is set; everything else is pool."""
    return cls(labels=jnp.where(labeled, true_labels, -1).astype(jnp.int32),
               source=jnp.where(labeled, HUMAN, NONE).astype(jnp.int8),
               iteration=jnp.where(labeled, 0, -1).astype(jnp.int32),
               confidence=jnp.full(labeled.shape, jnp.nan, jnp.float32))

  @property
  def train_mask(self) -> jax.Array:
    """bool[N]: the examples with a label in use."""
    return self.source != NONE

  @property
  def in_pool(self) -> jax.Array:
    """bool[N]: the examples still unlabeled."""
    return self.source == NONE


@jax.jit
def select_confident(confidence: jax.Array, in_pool: jax.Array,
                     threshold: float | jax.Array) -> jax.Array:
  """The seed's rule: pool examples whose confidence is strictly above threshold.

  confidence: float32[N]; in_pool: bool[N]; threshold: scalar -> bool[N].
  Labeled examples are never selected, so none is selected twice.
  """
  return in_pool & (confidence > threshold)


@jax.jit
def adopt_pseudo_labels(state: LabelState, selected: jax.Array, predicted: jax.Array,
                        confidence: jax.Array, iteration: int | jax.Array) -> LabelState:
  """Gives the selected pool examples their predicted class as a pseudo-label.

  selected: bool[N], a subset of state.in_pool; predicted: int32[N];
  confidence: float32[N]. Labels already in use are never revised.
  """
  adopt = selected & state.in_pool
  return LabelState(
      labels=jnp.where(adopt, predicted, state.labels),
      source=jnp.where(adopt, jnp.int8(PSEUDO), state.source),
      iteration=jnp.where(adopt, iteration, state.iteration).astype(jnp.int32),
      confidence=jnp.where(adopt, confidence, state.confidence))


def _rank_within_class(score: jax.Array, predicted: jax.Array) -> jax.Array:
  """Each example's rank by falling score among the examples of its predicted
  class: 0 for the highest. score: float32[N]; predicted: int32[N] -> int32[N].
  Ties go to the lower index."""
  n = score.shape[0]
  # Sort by class, then by falling score; an example's rank is its distance
  # from the first of its class in that order.
  order = jnp.lexsort((jnp.arange(n), -score, predicted))
  sorted_class = predicted[order]
  rank_sorted = jnp.arange(n) - jnp.searchsorted(sorted_class, sorted_class, side='left')
  return jnp.zeros(n, jnp.int32).at[order].set(rank_sorted.astype(jnp.int32))


@jax.jit
def select_balanced(confidence: jax.Array, predicted: jax.Array, candidates: jax.Array,
                    threshold: float | jax.Array, per_class: int | jax.Array) -> jax.Array:
  """Above threshold, and at most `per_class` per predicted class, the most
  confident first: a model's favourite classes cannot crowd out the others.

  confidence: float32[N]; predicted: int32[N]; candidates: bool[N] (who may be
  selected); per_class: scalar. Returns bool[N]. Ties go to the lower index.
  """
  eligible = candidates & (confidence > threshold)
  rank = _rank_within_class(jnp.where(eligible, confidence, -1.0), predicted)
  return eligible & (rank < per_class)


@functools.partial(jax.jit, static_argnames='num_classes')
def select_class_share(confidence: jax.Array, predicted: jax.Array, candidates: jax.Array,
                       threshold: float | jax.Array, share: float | jax.Array,
                       num_classes: int) -> jax.Array:
  """Above threshold, and within each predicted class at most the most confident
  `share` (rounded up) of the candidates predicted as that class.

  Unlike select_balanced's one cap for all, each class's cap follows how many
  candidates the model gives it, so classes of unequal size (MNIST's ones
  outnumber its fives by a quarter) are each taken whole once share reaches 1,
  and a small class's spare room under an equal cap is never filled with
  another class's examples. confidence: float32[N]; predicted: int32[N];
  candidates: bool[N]; share: scalar in [0, 1]. Returns bool[N].
  """
  eligible = candidates & (confidence > threshold)
  rank = _rank_within_class(jnp.where(eligible, confidence, -1.0), predicted)
  counts = jax.ops.segment_sum(candidates.astype(jnp.int32), predicted, num_classes)
  # Rounded up, but float32's error (a few thousandths at 60,000 candidates)
  # must not lift an exact product such as 0.6 * 5 to the next integer.
  cap = jnp.ceil(share * counts[predicted] - 0.01).astype(jnp.int32)
  return eligible & (rank < cap)


def curriculum_share(iteration: int, step: float, ceiling: float = 1.0) -> float:
  """The share of the candidates iteration k may select: min(ceiling, k * step)
  (Curriculum Labeling's growing share, up to a ceiling); step <= 0 means the
  ceiling at once.

  A ceiling below 1 leaves the least confident candidates, where the
  pseudo-label errors gather, in the pool. On the tuning seed it made the labels
  much cleaner but did not raise test accuracy (BENCHMARKS.md).
  """
  if step <= 0:
    return ceiling
  return min(ceiling, round(iteration * step, 9))  # 3 * 0.2 is 0.6000000000000001.


def curriculum_per_class(n_candidates: int, num_classes: int, iteration: int,
                         step: float, slack: float = 0.0, ceiling: float = 1.0) -> int:
  """How many per class iteration k may select: curriculum_share's share of the
  candidates, spread evenly over the classes, plus `slack` of that (a fraction)
  for classes larger than the mean. step <= 0 with no ceiling means no cap.

  Why a slack: under an exactly equal cap a class above the mean size can
  never be labeled whole. MNIST's ones are 12 % above it, and 1 -> 2, 7, 8 are
  the strong recipe's commonest pseudo-label errors. (On the tuning seed the
  slack did not help; BENCHMARKS.md.)
  """
  if step <= 0 and ceiling >= 1:
    return n_candidates
  share = curriculum_share(iteration, step, ceiling) * (1 + slack)
  return int(np.ceil(share * n_candidates / num_classes))


@jax.jit
def relabel(state: LabelState, selected: jax.Array, predicted: jax.Array,
            confidence: jax.Array, iteration: int | jax.Array) -> LabelState:
  """Revisable pseudo-labels: every non-human example gets this iteration's
  verdict: the selected ones its prediction, the others go back to the pool.

  selected: bool[N] (human rows are ignored); predicted: int32[N]; confidence:
  float32[N].
  """
  human = state.source == HUMAN
  adopt = selected & ~human
  return LabelState(
      labels=jnp.where(human, state.labels, jnp.where(adopt, predicted, -1)),
      source=jnp.where(human, state.source, jnp.where(adopt, jnp.int8(PSEUDO), jnp.int8(NONE))),
      iteration=jnp.where(human, state.iteration,
                          jnp.where(adopt, iteration, -1)).astype(jnp.int32),
      confidence=jnp.where(human, state.confidence, jnp.where(adopt, confidence, jnp.nan)))
