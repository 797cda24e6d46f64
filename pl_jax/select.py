"""Select: which pool examples become pseudo-labeled, and the record of every label.

`LabelState` is the loop's explicit state: arrays of the full training-set size
whose `source` says, for each example, whether its label came from a human, was
adopted as a pseudo-label, or whether it is still in the unlabeled pool.
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

# Values of LabelState.source. VALIDATION: held out (config.validation), never
# trained on, pseudo-labeled or in the pool; only measured.
NONE, HUMAN, PSEUDO, VALIDATION = 0, 1, 2, 3
SOURCE_NAMES = ('none', 'human', 'pseudo', 'validation')


@struct.dataclass
class LabelState:
  """The label of every training example and where it came from. All [N].

  labels: int32, the label in use; -1 while in the pool or held out.
  source: int8, NONE / HUMAN / PSEUDO / VALIDATION.
  iteration: int32, the iteration whose model selected the pseudo-label (it is
    trained on from the next iteration); 0 for human labels and for those
    propagated before the first model (loop.propagated_start); -1 in the pool.
  confidence: float32, the model's confidence when it selected the label (for
    a propagated one, its spreading score); NaN for human labels and the pool.
  """
  labels: jax.Array
  source: jax.Array
  iteration: jax.Array
  confidence: jax.Array

  @classmethod
  def from_human(cls, true_labels: np.ndarray, labeled: np.ndarray,
                 held_out: np.ndarray | None = None) -> 'LabelState':
    """Human labels where `labeled` (bool[N]) is set, the examples `held_out`
    (bool[N]) set aside for validation; everything else is pool."""
    labeled = labeled & ~held_out if held_out is not None else labeled
    source = jnp.where(labeled, HUMAN, NONE)
    if held_out is not None:
      source = jnp.where(held_out, VALIDATION, source)
    return cls(labels=jnp.where(labeled, true_labels, -1).astype(jnp.int32),
               source=source.astype(jnp.int8),
               iteration=jnp.where(labeled, 0, -1).astype(jnp.int32),
               confidence=jnp.full(labeled.shape, jnp.nan, jnp.float32))

  @property
  def train_mask(self) -> jax.Array:
    """bool[N]: the examples with a label in use."""
    return (self.source == HUMAN) | (self.source == PSEUDO)

  @property
  def revisable(self) -> jax.Array:
    """bool[N]: the examples whose label a model may give or take back (with
    revisable pseudo-labels): neither human-labeled nor held out."""
    return (self.source == NONE) | (self.source == PSEUDO)

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


def curriculum_share(iteration: int, step: float) -> float:
  """The share of the candidates iteration k may select: min(1, k * step)
  (Curriculum Labeling's growing share); step <= 0 means all at once."""
  if step <= 0:
    return 1.0
  return min(1.0, round(iteration * step, 9))  # 3 * 0.2 is 0.6000000000000001.


def curriculum_per_class(n_candidates: int, num_classes: int, iteration: int,
                         step: float) -> int:
  """How many per class iteration k may select: curriculum_share's share of the
  candidates, spread evenly over the classes; step <= 0 means no cap."""
  if step <= 0:
    return n_candidates
  return int(np.ceil(curriculum_share(iteration, step) * n_candidates / num_classes))


@jax.jit
def relabel(state: LabelState, selected: jax.Array, predicted: jax.Array,
            confidence: jax.Array, iteration: int | jax.Array) -> LabelState:
  """Revisable pseudo-labels: every example without a human label (and not held
  out) gets this iteration's verdict: the selected ones its prediction, the
  others go back to the pool.

  selected: bool[N] (human and held-out rows are ignored); predicted: int32[N]; confidence:
  float32[N].
  """
  fixed = (state.source == HUMAN) | (state.source == VALIDATION)
  adopt = selected & ~fixed
  return LabelState(
      labels=jnp.where(fixed, state.labels, jnp.where(adopt, predicted, -1)),
      source=jnp.where(fixed, state.source, jnp.where(adopt, jnp.int8(PSEUDO), jnp.int8(NONE))),
      iteration=jnp.where(fixed, state.iteration,
                          jnp.where(adopt, iteration, -1)).astype(jnp.int32),
      confidence=jnp.where(fixed, state.confidence, jnp.where(adopt, confidence, jnp.nan)))
