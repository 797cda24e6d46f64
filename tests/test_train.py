import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pl_jax import augment, consistency, models, train


# One model and one optimizer per run, as in the loop: both are static parts of
# the jitted step.
MODEL = models.CNN()
OPTIMIZER = train.make_optimizer(1e-3)


def _state(seed=0):
  return train.create_train_state(jax.random.PRNGKey(seed), MODEL, (28, 28, 1), OPTIMIZER)


def test_epoch_order_puts_the_shuffled_training_set_first():
  mask = jnp.array([True, False, True, True, False, False, True, False])
  order = train.epoch_order(jax.random.PRNGKey(0), mask, 3)
  chex.assert_shape(order, (11,))
  assert sorted(order[:4].tolist()) == [0, 2, 3, 6]
  assert sorted(order[:8].tolist()) == list(range(8))
  other = train.epoch_order(jax.random.PRNGKey(1), mask, 3)
  assert sorted(other[:4].tolist()) == [0, 2, 3, 6]


def test_weighted_cross_entropy_ignores_padding():
  logits = jnp.array([[2.0, 0.0], [0.0, 2.0], [5.0, -5.0]])
  labels = jnp.array([0, 0, 1])
  full = train.weighted_cross_entropy(logits[:2], labels[:2], jnp.ones(2))
  padded = train.weighted_cross_entropy(logits, labels, jnp.array([1.0, 1.0, 0.0]))
  chex.assert_shape(padded, ())
  np.testing.assert_allclose(padded, full, rtol=1e-6)


def test_generalized_cross_entropy_values_and_gradient_weights():
  logits = jnp.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.5]])
  labels = jnp.array([0, 2])
  p_y = jax.nn.softmax(logits)[jnp.arange(2), labels]
  ones = jnp.ones(2)
  for q in (0.3, 0.7, 1.0):
    np.testing.assert_allclose(train.weighted_cross_entropy(logits, labels, ones, q),
                               jnp.mean((1 - p_y ** q) / q), rtol=1e-6)
  # The gradient is cross-entropy's times p_y ** q, example by example.
  q = 0.7
  per_example = lambda loss: jax.grad(lambda z: loss(z).sum())(logits)
  ce = per_example(lambda z: jax.vmap(lambda l, y: train.weighted_cross_entropy(
      l[None], y[None], jnp.ones(1)))(z, labels))
  gce = per_example(lambda z: jax.vmap(lambda l, y: train.weighted_cross_entropy(
      l[None], y[None], jnp.ones(1), q))(z, labels))
  np.testing.assert_allclose(gce, ce * (p_y ** q)[:, None], rtol=1e-5)
  # Near q = 0 it is cross-entropy.
  np.testing.assert_allclose(train.weighted_cross_entropy(logits, labels, ones, 1e-6),
                             train.weighted_cross_entropy(logits, labels, ones), rtol=1e-4)


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
                              epochs=2, batch_size=32, progress=False)
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
                       epochs=1, batch_size=32, progress=False)
  chex.assert_trees_all_equal(state.params['fc1'], initial['fc1'])
  for layer in ('conv1', 'conv2', 'fc2'):
    assert not np.allclose(state.params[layer]['kernel'], initial[layer]['kernel'])
  with pytest.raises(ValueError, match="cannot freeze \\['fc9'\\]"):
    train.create_train_state(jax.random.PRNGKey(0), models.CNN(), (28, 28, 1), OPTIMIZER,
                             frozen=('fc9',))


def test_lr_scale():
  assert train.lr_scale('constant', 7, 10) == 1
  cosine = [float(train.lr_scale('cosine', step, 4)) for step in range(4)]
  np.testing.assert_allclose(cosine, [1, 0.5 + 0.5 * np.cos(np.pi / 4), 0.5,
                                      0.5 + 0.5 * np.cos(3 * np.pi / 4)], rtol=1e-6)
  traced = jax.jit(train.lr_scale, static_argnums=0)('cosine', jnp.int32(2), jnp.int32(4))
  chex.assert_type(traced, jnp.float32)
  np.testing.assert_allclose(traced, 0.5, rtol=1e-6)
  with pytest.raises(ValueError, match='lr_schedule'):
    train.lr_scale('step', 3, 4)


def test_lr_scale_scales_the_update_and_does_not_recompile():
  model = models.CNN()
  optimizer = train.make_optimizer(1e-3)
  images = jnp.asarray(np.random.RandomState(0).randint(0, 255, (8, 28, 28, 1)), jnp.uint8)
  labels = jnp.arange(8) % 10
  weights = jnp.ones(8)
  fresh = lambda: train.create_train_state(jax.random.PRNGKey(0), model, (28, 28, 1),
                                           optimizer)
  step = jax.jit(train.train_step)
  initial = fresh().params['conv1']['kernel']
  moved = {}
  for scale in (1.0, 0.5, 0.0):
    state, _ = step(fresh(), images, labels, weights, np.float32(scale))
    moved[scale] = state.params['conv1']['kernel'] - initial
  assert step._cache_size() == 1  # pylint: disable=protected-access
  assert np.abs(moved[1.0]).max() > 0
  np.testing.assert_allclose(moved[0.5], 0.5 * moved[1.0], rtol=1e-4, atol=1e-9)
  np.testing.assert_array_equal(moved[0.0], 0)


def test_consistency_term_changes_the_step_and_compiles_once(small_mnist):
  images = jnp.asarray(small_mnist.train_images[:256])
  labels = jnp.asarray(small_mnist.train_labels[:256])
  mask = jnp.arange(256) < 64
  optimizer = train.make_optimizer(1e-3)
  fresh = lambda: train.create_train_state(jax.random.PRNGKey(0), models.CNN(), (28, 28, 1),
                                           optimizer)
  # Threshold just above chance, so an untrained model's weak views give targets.
  fixmatch = consistency.Consistency(weight=1.0, threshold=0.11, ratio=2,
                                     strong=augment.Augmentation(max_degrees=30, cutout=8))
  order = train.epoch_order(jax.random.PRNGKey(1), mask, 64)
  key = jax.random.PRNGKey(2)
  args = (order, 0, key, images, labels, 64, 64, augment.Augmentation(max_shift=2))
  plain, plain_loss = train.train_step_at(fresh(), *args)
  with_term, loss = train.train_step_at(fresh(), *args, consistency=fixmatch)
  assert float(loss) > float(plain_loss)  # The supervised part is the same batch.
  assert not np.allclose(plain.params['fc2']['kernel'], with_term.params['fc2']['kernel'])
  size = train.train_step_at._cache_size()  # pylint: disable=protected-access
  for step in range(1, 3):
    with_term, _ = train.train_step_at(with_term, *((order, step) + args[2:]),
                                       consistency=fixmatch)
  assert train.train_step_at._cache_size() == size  # pylint: disable=protected-access


def test_mixup_with_itself_is_the_plain_step_and_otherwise_mixes_both_labels(small_mnist):
  images = jnp.asarray(small_mnist.train_images[:32])
  labels = jnp.asarray(small_mnist.train_labels[:32], jnp.int32)
  weights = jnp.ones(32).at[-4:].set(0)  # The last 4 rows are padding.
  step = jax.jit(train.train_step)
  plain, plain_loss = step(_state(), images, labels, weights)
  itself = (jnp.arange(32), jnp.float32(0.7))  # Each image mixed with itself.
  same, same_loss = step(_state(), images, labels, weights, mixing=itself)
  np.testing.assert_allclose(same_loss, plain_loss, rtol=1e-6)
  # Adam's first step moves each weight by about the learning rate (1e-3), so
  # rounding in a near-zero gradient shows up to about 1e-5.
  chex.assert_trees_all_close(same.params, plain.params, rtol=1e-5, atol=1e-5)
  # Reversed partners: the loss is lam * CE(mix, own) + (1 - lam) * CE(mix, partner's)
  # over the rows whose partner is no padding either.
  partner, lam = jnp.arange(32)[::-1], jnp.float32(0.7)
  _, loss = step(_state(), images, labels, weights, mixing=(partner, lam))
  logits = MODEL.apply({'params': _state().params}, augment.mix(images, partner, lam))
  both = weights * weights[partner]
  expected = (lam * train.weighted_cross_entropy(logits, labels, both)
              + (1 - lam) * train.weighted_cross_entropy(logits, labels[partner], both))
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  assert abs(float(loss) - float(plain_loss)) > 1e-3


@pytest.mark.parametrize('mixup', [False, True])
def test_a_batch_in_parts_takes_the_same_step(small_mnist, mixup):
  images = jnp.asarray(small_mnist.train_images[:32])
  labels = jnp.asarray(small_mnist.train_labels[:32], jnp.int32)
  # Padding in the last part only, so the parts weigh 16 and 8 (or less, mixed).
  weights = jnp.ones(32).at[-8:].set(0)
  mixing = (jnp.arange(32)[::-1], jnp.float32(0.7)) if mixup else None
  step = jax.jit(train.train_step, static_argnames='splits')
  whole, whole_loss = step(_state(), images, labels, weights, mixing=mixing)
  parts, parts_loss = step(_state(), images, labels, weights, mixing=mixing, splits=2)
  np.testing.assert_allclose(parts_loss, whole_loss, rtol=1e-6)
  chex.assert_trees_all_close(parts.params, whole.params, rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match='does not split into 3 equal parts'):
    train.train_step(_state(), images, labels, weights, splits=3)
  # The parts weigh unequally here: the plain mean of their means is another loss.
  if not mixup:
    logits = MODEL.apply({'params': _state().params}, images)
    part_means = [train.weighted_cross_entropy(logits[rows], labels[rows], weights[rows])
                  for rows in (slice(0, 16), slice(16, 32))]
    assert abs(float(sum(part_means) / 2) - float(whole_loss)) > 1e-3


def test_human_examples_join_every_batch_and_only_they(small_mnist):
  human_mask = jnp.zeros(64, bool).at[jnp.array([5, 17, 40])].set(True)
  index, count = train.human_examples(human_mask)
  chex.assert_shape(index, (64,))
  assert int(count) == 3 and sorted(index[:3].tolist()) == [5, 17, 40]
  # One image everywhere; humans say 3, the rest 7. With no training example in
  # the batch (n_train 0), the loss is the humans' alone: the loss of label 3.
  images = jnp.broadcast_to(jnp.asarray(small_mnist.train_images[:1]), (64, 28, 28, 1))
  labels = jnp.where(human_mask, 3, 7).astype(jnp.int32)
  order = train.epoch_order(jax.random.PRNGKey(1), jnp.zeros(64, bool), 16)
  args = (order, 0, jax.random.PRNGKey(2), images, labels, 0, 16, augment.Augmentation())
  _, loss = train.train_step_at(_state(), *args, human_per_batch=4, human=(index, count))
  logits = MODEL.apply({'params': _state().params}, images[:1])
  expected = train.weighted_cross_entropy(logits, jnp.array([3]), jnp.ones(1))
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  # No human label at all: nothing to learn from, and no NaN.
  empty = train.human_examples(jnp.zeros(64, bool))
  state, loss = train.train_step_at(_state(), *args, human_per_batch=4, human=empty)
  assert float(loss) == 0.0
  chex.assert_trees_all_close(state.params, _state().params)


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
