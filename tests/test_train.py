import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pl_jax import models, train


# One model and one optimizer per run, as in the loop: both are static parts of
# the jitted step.
MODEL = models.CNN()
OPTIMIZER = train.make_optimizer(1e-3)


def _state(seed=0):
  return train.create_train_state(jax.random.PRNGKey(seed), MODEL, (28, 28, 1), OPTIMIZER)


@pytest.mark.parametrize('n,n_train', [
    (8, 4),                                  # In the shuffle window.
    (train.SHUFFLE_WINDOW + 904, 100),       # A window of a larger array.
    (train.SHUFFLE_WINDOW + 904, train.SHUFFLE_WINDOW + 1),  # Across all N.
    (train.SHUFFLE_WINDOW + 904, train.SHUFFLE_WINDOW + 904),
])
def test_epoch_order_puts_the_shuffled_training_set_first(n, n_train):
  members = np.sort(np.random.default_rng(n_train).choice(n, n_train, replace=False))
  mask = jnp.zeros(n, bool).at[members].set(True)
  orders = [np.asarray(train.epoch_order(jax.random.PRNGKey(seed), mask, 3))
            for seed in (0, 1)]
  for order in orders:
    chex.assert_shape(order, (n + 3,))
    assert order.dtype == np.int32
    assert sorted(order[:n_train].tolist()) == members.tolist()
    assert order.min() >= 0 and order.max() < n  # Padding gathers real rows.
  # Shuffled, and differently for each key.
  assert not np.array_equal(orders[0][:n_train], members)
  assert not np.array_equal(orders[0][:n_train], orders[1][:n_train])


def test_weighted_cross_entropy_ignores_padding():
  logits = jnp.array([[2.0, 0.0], [0.0, 2.0], [5.0, -5.0]])
  labels = jnp.array([0, 0, 1])
  full = train.weighted_cross_entropy(logits[:2], labels[:2], jnp.ones(2))
  padded = train.weighted_cross_entropy(logits, labels, jnp.array([1.0, 1.0, 0.0]))
  chex.assert_shape(padded, ())
  np.testing.assert_allclose(padded, full, rtol=1e-6)


@pytest.mark.parametrize('n_train,epochs,min_steps,expected', [
    (1000, 10, 160, 10),   # The seed's case is untouched.
    (100, 10, 160, 80),    # 2 steps per epoch: 80 epochs to reach 160 steps.
    (100, 10, 0, 10),
    (64, 3, 5, 5),
])
def test_num_epochs(n_train, epochs, min_steps, expected):
  assert train.num_epochs(n_train, 64, epochs, min_steps) == expected


def test_fit_learns_and_compiles_once_across_masks(small_mnist):
  images = jnp.asarray(small_mnist.train_images[:512])
  labels = jnp.asarray(small_mnist.train_labels[:512])
  before = train.train_epoch._cache_size()
  for n_train in (100, 300, 512):  # Training sets of different sizes: same shapes.
    state = _state(n_train)  # A fresh model each time, as in the loop.
    mask = jnp.arange(512) < n_train
    state, losses = train.fit(state, jax.random.PRNGKey(n_train), images, labels, mask,
                              epochs=2, options=train.TrainOptions(32), progress=False)
    assert len(losses) == 2
  # One jitted call per epoch (the steps loop inside it), compiled once.
  assert train.train_epoch._cache_size() - before == 1
  assert losses[-1] < 1.0  # From ~2.3 at init: it learned.
  chex.assert_trees_all_equal_shapes(state.params, _state().params)


def test_frozen_layers_keep_their_init(small_mnist):
  images = jnp.asarray(small_mnist.train_images[:128])
  labels = jnp.asarray(small_mnist.train_labels[:128])
  state = train.create_train_state(jax.random.PRNGKey(0), models.CNN(), (28, 28, 1),
                                   train.make_optimizer(1e-3, ('fc1',)), frozen=('fc1',))
  initial = jax.tree.map(np.asarray, state.params)
  state, _ = train.fit(state, jax.random.PRNGKey(1), images, labels, jnp.ones(128, bool),
                       epochs=1, options=train.TrainOptions(32), progress=False)
  chex.assert_trees_all_equal(state.params['fc1'], initial['fc1'])
  for layer in ('conv1', 'conv2', 'fc2'):
    assert not np.allclose(state.params[layer]['kernel'], initial[layer]['kernel'])
  with pytest.raises(ValueError, match="cannot freeze \\['fc9'\\]"):
    train.create_train_state(jax.random.PRNGKey(0), models.CNN(), (28, 28, 1), OPTIMIZER,
                             frozen=('fc9',))


@pytest.mark.slow
def test_a_batch_in_parts_takes_the_same_step(small_mnist):
  images = jnp.asarray(small_mnist.train_images[:32])
  labels = jnp.asarray(small_mnist.train_labels[:32], jnp.int32)
  # Padding in the last part only, so the parts weigh 16 and 8.
  weights = jnp.ones(32).at[-8:].set(0)
  step = jax.jit(train.train_step, static_argnames='splits')
  whole, whole_loss = step(_state(), images, labels, weights)
  parts, parts_loss = step(_state(), images, labels, weights, splits=2)
  np.testing.assert_allclose(parts_loss, whole_loss, rtol=1e-6)
  chex.assert_trees_all_close(parts.params, whole.params, rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match='does not split into 3 equal parts'):
    train.train_step(_state(), images, labels, weights, splits=3)
  # The parts weigh unequally here: the plain mean of their means is another loss.
  logits = MODEL.apply({'params': _state().params}, images)
  part_means = [train.weighted_cross_entropy(logits[rows], labels[rows], weights[rows])
                for rows in (slice(0, 16), slice(16, 32))]
  assert abs(float(sum(part_means) / 2) - float(whole_loss)) > 1e-3


def test_ema_follows_the_weights_with_a_warm_up():
  model = models.CNN()
  optimizer = train.make_optimizer(1e-3)
  images = jnp.asarray(np.random.RandomState(0).randint(0, 255, (8, 28, 28, 1)), jnp.uint8)
  labels, weights = jnp.arange(8) % 10, jnp.ones(8)
  plain = train.create_train_state(jax.random.PRNGKey(0), model, (28, 28, 1), optimizer)
  assert plain.ema_params is None and train.evaluation_params(plain) is plain.params
  state = train.create_train_state(jax.random.PRNGKey(0), model, (28, 28, 1), optimizer,
                                   ema_decay=0.999)
  chex.assert_trees_all_equal(state.ema_params, plain.params)  # Starts at the init.
  step = jax.jit(train.train_step)
  expected = state.ema_params
  for n in range(1, 4):
    state, _ = step(state, images, labels, weights)
    # While (1 + n) / (10 + n) < 0.999, it is the decay of step n.
    decay = (1 + n) / (10 + n)
    expected = jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, expected, state.params)
    chex.assert_trees_all_close(state.ema_params, expected, rtol=1e-6, atol=1e-7)
  assert train.evaluation_params(state) is state.ema_params
  assert not np.allclose(state.ema_params['fc2']['kernel'], state.params['fc2']['kernel'])
  # Far along, the configured decay takes over.
  late = train.ema_update({'w': jnp.zeros(())}, {'w': jnp.ones(())}, 0.999, jnp.int32(10**6))
  np.testing.assert_allclose(late['w'], 0.001, rtol=1e-4)
