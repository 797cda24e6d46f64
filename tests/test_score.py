import chex
import jax
import jax.numpy as jnp
import numpy as np

from pl_jax import models, score


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
