import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pl_jax import augment, models


def test_cnn_shapes_match_the_reference():
  model = models.CNN(num_classes=10)
  images = jnp.zeros((3, 28, 28, 1), jnp.uint8)
  params = model.init(jax.random.PRNGKey(0), images)['params']
  chex.assert_shape(params['conv1']['kernel'], (3, 3, 1, 32))
  chex.assert_shape(params['conv2']['kernel'], (3, 3, 32, 64))
  chex.assert_shape(params['fc1']['kernel'], (1600, 128))  # 5 * 5 * 64 features.
  chex.assert_shape(params['fc2']['kernel'], (128, 10))
  logits = model.apply({'params': params}, images)
  chex.assert_shape(logits, (3, 10))
  chex.assert_type(logits, jnp.float32)
  # PyTorch's default init bound, 1 / sqrt(fan_in).
  bound = 1 / np.sqrt(1600)
  assert np.abs(params['fc1']['kernel']).max() <= bound
  assert np.abs(params['fc1']['kernel']).max() > 0.9 * bound


def test_normalize():
  out = models.normalize(jnp.array([[0], [255]], jnp.uint8), (0.1307,), (0.3081,))
  chex.assert_type(out, jnp.float32)
  np.testing.assert_allclose(out[:, 0], [-0.1307 / 0.3081, (1 - 0.1307) / 0.3081], rtol=1e-6)
  rgb = models.normalize(jnp.full((2, 3), 51, jnp.uint8), (0.2, 0.1, 0.0), (1.0, 0.5, 0.2))
  np.testing.assert_allclose(rgb[0], [0.0, 0.2, 1.0], rtol=1e-5, atol=1e-6)


def test_cnn_takes_any_size_channels_and_classes():
  model = models.CNN(num_classes=3, pixel_mean=(0.5, 0.5, 0.5), pixel_std=(0.2, 0.2, 0.2))
  images = jnp.zeros((2, 17, 23, 3), jnp.uint8)
  params = model.init(jax.random.PRNGKey(0), images)['params']
  chex.assert_shape(model.apply({'params': params}, images), (2, 3))


@pytest.mark.slow
@pytest.mark.parametrize('shape', [(2, 26, 26, 3), (2, 11, 11, 4), (1, 5, 8, 1)])
def test_max_pool_2x2_equals_flax_max_pool_with_its_gradient(shape):
  # Small integers give many tied maxima: the gradient must go to the first
  # maximum of each window, as XLA's select-and-scatter (nn.max_pool) does.
  x = jax.random.randint(jax.random.PRNGKey(0), shape, -2, 3).astype(jnp.float32)
  reference = lambda x: nn.max_pool(x, (2, 2), strides=(2, 2))
  pooled, pool_vjp = jax.vjp(models.max_pool_2x2, x)
  expected, expected_vjp = jax.vjp(reference, x)
  chex.assert_shape(pooled, (shape[0], shape[1] // 2, shape[2] // 2, shape[3]))
  np.testing.assert_array_equal(pooled, expected)
  grad = jax.random.normal(jax.random.PRNGKey(1), pooled.shape)
  np.testing.assert_array_equal(pool_vjp(grad)[0], expected_vjp(grad)[0])


@pytest.mark.slow
def test_conv_equals_flax_conv_with_its_gradients():
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 13, 12, 5))
  ours, theirs = models.Conv(7), nn.Conv(7, (3, 3), padding='VALID')
  params = theirs.init(jax.random.PRNGKey(1), x)
  assert jax.tree.map(jnp.shape, ours.init(jax.random.PRNGKey(1), x)) == jax.tree.map(
      jnp.shape, params)
  params = jax.tree.map(lambda p: p + 0.1, params)  # A non-zero bias too.
  out, our_vjp = jax.vjp(lambda p, x: ours.apply(p, x), params, x)
  expected, their_vjp = jax.vjp(lambda p, x: theirs.apply(p, x), params, x)
  chex.assert_shape(out, (4, 11, 10, 7))
  np.testing.assert_array_equal(out, expected)
  grad = jax.random.normal(jax.random.PRNGKey(2), out.shape)
  for got, want in zip(jax.tree.leaves(our_vjp(grad)), jax.tree.leaves(their_vjp(grad))):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_ensemble_applies_as_the_log_of_its_members_mean_softmax():
  model = models.CNN(num_classes=10)
  images = jax.random.randint(jax.random.PRNGKey(0), (5, 28, 28, 1), 0, 256).astype(jnp.uint8)
  members = [model.init(jax.random.PRNGKey(seed), images)['params'] for seed in range(3)]
  stacked = models.stack_params(members)
  chex.assert_tree_shape_prefix(stacked, (3,))
  ensemble = models.Ensemble(model.apply)
  logits = ensemble({'params': stacked}, images)
  chex.assert_shape(logits, (5, 10))
  mean_softmax = np.mean([jax.nn.softmax(model.apply({'params': p}, images))
                          for p in members], axis=0)
  np.testing.assert_allclose(jax.nn.softmax(logits), mean_softmax, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(np.exp(logits).sum(-1), 1, rtol=1e-5)  # Log-probabilities.
  # One member: its own log-softmax.
  alone = ensemble({'params': models.stack_params(members[:1])}, images)
  np.testing.assert_allclose(alone, jax.nn.log_softmax(model.apply({'params': members[0]},
                                                                   images)), atol=1e-5)
  # Equal ensembles are equal static arguments: jit compiles once for both.
  assert models.Ensemble(model.apply) == ensemble
  assert hash(models.Ensemble(model.apply)) == hash(ensemble)
  assert models.apply_fn(model) == model.apply
  assert models.apply_fn(model, 3) == ensemble
  assert models.apply_fn(model, 3, deskew=True) == models.Deskewed(ensemble)


def test_a_deskewed_predictor_applies_the_model_to_deskewed_images():
  model = models.CNN(num_classes=10)
  images = jnp.asarray(np.random.RandomState(0).randint(0, 256, (4, 28, 28, 1)), jnp.uint8)
  params = model.init(jax.random.PRNGKey(0), images)['params']
  predictor = models.apply_fn(model, deskew=True)
  chex.assert_trees_all_close(predictor({'params': params}, images),
                              model.apply({'params': params}, augment.deskew(images)))
  assert not np.allclose(predictor({'params': params}, images),
                         model.apply({'params': params}, images))
  # Hashable and equal for the same model: a static argument of jit, compiled once.
  assert hash(predictor) == hash(models.apply_fn(model, deskew=True))
