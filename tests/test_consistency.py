import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from pl_jax import augment, consistency


def test_consistency_loss_targets_only_confident_weak_views():
  weak = jnp.array([[10.0, 0.0, 0.0],   # Confident: class 0.
                    [0.0, 0.0, 0.1],    # Not confident.
                    [0.0, 9.0, 0.0]])   # Confident: class 1.
  strong = jnp.array([[0.5, 0.2, 0.1], [3.0, 0.0, 0.0], [0.1, 0.2, 0.3]])
  loss, rate = consistency.consistency_loss(weak, strong, threshold=0.95)
  chex.assert_shape((loss, rate), ((), ()))
  ce = optax.softmax_cross_entropy_with_integer_labels(strong, jnp.array([0, 0, 1]))
  np.testing.assert_allclose(loss, (ce[0] + ce[2]) / 3, rtol=1e-6)  # Mean over all 3.
  np.testing.assert_allclose(rate, 2 / 3, rtol=1e-6)
  # Targets carry no gradient; the strong view does.
  grad_weak = jax.grad(lambda w: consistency.consistency_loss(w, strong, 0.95)[0])(weak)
  np.testing.assert_array_equal(grad_weak, 0)
  grad_strong = jax.grad(lambda s: consistency.consistency_loss(weak, s, 0.95)[0])(strong)
  assert np.abs(grad_strong[0]).sum() > 0 and np.abs(grad_strong[1]).sum() == 0


def test_consistency_settings_are_static_and_off_by_default():
  assert not consistency.Consistency().enabled
  on = consistency.Consistency(weight=1.0, strong=augment.Augmentation(cutout=8))
  assert on.enabled
  assert hash(on) == hash(consistency.Consistency(1.0, strong=augment.Augmentation(cutout=8)))
