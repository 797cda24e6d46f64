import chex
import jax.numpy as jnp
import numpy as np

from pl_jax import select


def _state():
  true_labels = np.array([3, 1, 4, 1, 5, 9], np.int32)
  return select.LabelState.from_human(true_labels, np.array([1, 1, 0, 0, 0, 0], bool))


def test_from_human():
  state = _state()
  chex.assert_shape([state.labels, state.source, state.iteration, state.confidence], (6,))
  chex.assert_type([state.labels, state.source, state.iteration], [jnp.int32, jnp.int8,
                                                                   jnp.int32])
  np.testing.assert_array_equal(state.labels, [3, 1, -1, -1, -1, -1])
  np.testing.assert_array_equal(state.train_mask, [1, 1, 0, 0, 0, 0])
  np.testing.assert_array_equal(state.in_pool, [0, 0, 1, 1, 1, 1])
  np.testing.assert_array_equal(state.iteration, [0, 0, -1, -1, -1, -1])
  assert np.isnan(state.confidence).all()


def test_select_is_strictly_above_threshold_and_pool_only():
  state = _state()
  confidence = jnp.array([1.0, 1.0, 0.99, 0.990001, 0.5, 0.999], jnp.float32)
  selected = select.select_confident(confidence, state.in_pool, 0.99)
  chex.assert_type(selected, bool)
  # Labeled rows are never selected; 0.99 itself is not above 0.99.
  np.testing.assert_array_equal(selected, [0, 0, 0, 1, 0, 1])
  assert not select.select_confident(confidence, state.in_pool, 0.9999).any()
  everything = select.select_confident(confidence, state.in_pool, 1e-9)
  np.testing.assert_array_equal(everything, state.in_pool)


def test_select_compiles_once_for_any_threshold():
  state = _state()
  confidence = jnp.linspace(0, 1, 6)
  select.select_confident(confidence, state.in_pool, 0.5)
  before = select.select_confident._cache_size()
  for threshold in (0.1, 0.9, 0.99):
    select.select_confident(confidence, state.in_pool, threshold)
  assert select.select_confident._cache_size() == before


def test_adopted_labels_are_never_revised_or_selected_twice():
  state = _state()
  predicted = jnp.array([7, 7, 2, 8, 8, 8], jnp.int32)
  confidence = jnp.array([1, 1, 0.1, 0.995, 0.2, 0.999], jnp.float32)
  selected = select.select_confident(confidence, state.in_pool, 0.99)
  state = select.adopt_pseudo_labels(state, selected, predicted, confidence, 1)
  np.testing.assert_array_equal(state.labels, [3, 1, -1, 8, -1, 8])
  np.testing.assert_array_equal(state.source, [1, 1, 0, 2, 0, 2])
  np.testing.assert_array_equal(state.iteration, [0, 0, -1, 1, -1, 1])
  np.testing.assert_allclose(np.asarray(state.confidence)[[3, 5]], [0.995, 0.999])

  # Iteration 2 predicts differently and confidently everywhere.
  predicted = jnp.full(6, 6, jnp.int32)
  confidence = jnp.ones(6, jnp.float32)
  selected = select.select_confident(confidence, state.in_pool, 0.99)
  np.testing.assert_array_equal(selected, [0, 0, 1, 0, 1, 0])
  # Even a selection that names labeled rows cannot revise them.
  state = select.adopt_pseudo_labels(state, jnp.ones(6, bool), predicted, confidence, 2)
  np.testing.assert_array_equal(state.labels, [3, 1, 6, 8, 6, 8])
  np.testing.assert_array_equal(state.iteration, [0, 0, 2, 1, 2, 1])
  assert not state.in_pool.any()


def test_balanced_selection_caps_each_class_most_confident_first():
  confidence = jnp.array([0.99, 0.95, 0.999, 0.5, 0.98, 0.97, 0.999, 0.999], jnp.float32)
  predicted = jnp.array([0, 0, 0, 1, 1, 1, 2, 0], jnp.int32)
  candidates = jnp.array([1, 1, 1, 1, 1, 1, 0, 1], bool)
  selected = select.select_balanced(confidence, predicted, candidates, 0.9, 2)
  chex.assert_shape(selected, (8,))
  # Class 0: 0.999 (index 2) and 0.999 (index 7) beat 0.99; class 1: 0.98 and 0.97
  # (0.5 is under the threshold); class 2's only example is no candidate.
  np.testing.assert_array_equal(selected, [0, 0, 1, 0, 1, 1, 0, 1])
  assert not select.select_balanced(confidence, predicted, candidates, 0.9, 0).any()
  np.testing.assert_array_equal(
      select.select_balanced(confidence, predicted, candidates, 0.9, 100),
      select.select_confident(confidence, candidates, 0.9))


def test_curriculum_share_grows_and_is_capped():
  assert select.curriculum_share(3, 0.2) == 0.6
  assert select.curriculum_share(7, 0.2) == 1.0
  assert select.curriculum_share(2, 0.0) == 1.0
  assert select.curriculum_per_class(1000, 10, 1, 0.2) == 20
  assert select.curriculum_per_class(1000, 10, 3, 0.2) == 60
  assert select.curriculum_per_class(1000, 10, 9, 0.2) == 100
  assert select.curriculum_per_class(1000, 10, 1, 0.0) == 1000


def test_relabel_revises_pseudo_labels_and_keeps_human_ones():
  state = _state()  # Human: rows 0, 1.
  first = select.relabel(state, jnp.array([1, 0, 1, 1, 0, 0], bool),
                         jnp.array([9, 9, 2, 3, 4, 5], jnp.int32), jnp.full(6, 0.99), 1)
  np.testing.assert_array_equal(first.labels, [3, 1, 2, 3, -1, -1])
  np.testing.assert_array_equal(first.source, [1, 1, 2, 2, 0, 0])
  second = select.relabel(first, jnp.array([0, 0, 1, 0, 1, 0], bool),
                          jnp.array([9, 9, 7, 3, 4, 5], jnp.int32), jnp.full(6, 0.995), 2)
  # Row 2 changed its pseudo-label, row 3 went back to the pool, row 4 joined.
  np.testing.assert_array_equal(second.labels, [3, 1, 7, -1, 4, -1])
  np.testing.assert_array_equal(second.source, [1, 1, 2, 0, 2, 0])
  np.testing.assert_array_equal(second.iteration, [0, 0, 2, -1, 2, -1])
  assert np.isnan(np.asarray(second.confidence)[[0, 1, 3, 5]]).all()
