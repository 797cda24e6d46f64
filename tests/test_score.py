import chex
import jax
import jax.numpy as jnp
import numpy as np

from pl_jax import augment, models, score


def test_score_matches_direct_apply_and_compiles_once():
  model = models.CNN()
  images = jax.random.randint(jax.random.PRNGKey(0), (37, 28, 28, 1), 0, 256).astype(jnp.uint8)
  before = score.score._cache_size()
  for seed in range(3):  # New parameters, same shapes: no recompilation.
    params = model.init(jax.random.PRNGKey(seed), images[:1])['params']
    confidence, predicted, margin = score.score(model.apply, params, images, chunk_size=16)
    chex.assert_shape([confidence, predicted, margin], (37,))
    chex.assert_type(confidence, jnp.float32)
    chex.assert_type(predicted, jnp.int32)
    probabilities = jax.nn.softmax(model.apply({'params': params}, images))
    np.testing.assert_allclose(confidence, probabilities.max(-1), rtol=1e-5)
    np.testing.assert_array_equal(predicted, probabilities.argmax(-1))
    second = np.sort(np.asarray(probabilities), axis=-1)[:, -2]
    np.testing.assert_allclose(margin, probabilities.max(-1) - second, rtol=1e-5, atol=1e-7)
  assert score.score._cache_size() - before == 1


def test_views_average_the_image_and_its_augmented_copies():
  model = models.CNN()
  images = jax.random.randint(jax.random.PRNGKey(0), (37, 28, 28, 1), 0, 256).astype(jnp.uint8)
  params = model.init(jax.random.PRNGKey(1), images[:1])['params']
  shift = augment.Augmentation(max_shift=2)
  key = jax.random.PRNGKey(5)
  confidence, predicted, _ = score.score(model.apply, params, images, 16, None, shift, 2, key)
  chex.assert_shape([confidence, predicted], (37,))
  # The same mean, written out: chunk i's view v is augmented with key (v, i).
  padded = jnp.pad(images, [(0, 11), (0, 0), (0, 0), (0, 0)])
  probabilities = jax.nn.softmax(model.apply({'params': params}, padded))
  for view in range(2):
    copies = jnp.concatenate([
        shift(jax.random.fold_in(jax.random.fold_in(key, view), i), padded[16 * i:16 * (i + 1)])
        for i in range(3)])
    probabilities += jax.nn.softmax(model.apply({'params': params}, copies))
  mean = (probabilities / 3)[:37]
  np.testing.assert_allclose(confidence, mean.max(-1), rtol=1e-5)
  np.testing.assert_array_equal(predicted, mean.argmax(-1))
  # The views change the scores (shifted digits are other inputs), the same key repeats them.
  plain, _, _ = score.score(model.apply, params, images, 16)
  assert not np.allclose(confidence, plain, rtol=1e-4)
  again, _, _ = score.score(model.apply, params, images, 16, None, shift, 2, key)
  np.testing.assert_array_equal(again, confidence)
