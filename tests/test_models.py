import chex
import jax
import jax.numpy as jnp
import numpy as np

from pl_jax import models


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
