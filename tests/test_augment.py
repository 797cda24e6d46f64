import chex
import jax
import jax.numpy as jnp
import numpy as np

from pl_jax import augment


def _images():
  images = np.zeros((4, 12, 12, 1), np.uint8)
  images[:, 5:7, 5:7] = 200
  return jnp.asarray(images)


def test_shift_moves_content_within_bounds_and_keeps_dtype():
  images = _images()
  shifted = augment.random_shift(jax.random.PRNGKey(0), images, 2)
  chex.assert_shape(shifted, images.shape)
  chex.assert_type(shifted, jnp.uint8)
  for image in np.asarray(shifted):
    rows, cols = np.nonzero(image[..., 0])
    assert 3 <= rows.min() and rows.max() <= 8 and 3 <= cols.min() and cols.max() <= 8
    assert image.sum() == 4 * 200  # A pure shift loses nothing here.
  np.testing.assert_array_equal(augment.random_shift(jax.random.PRNGKey(0), images, 0),
                                images)


def test_warp_identity_and_rotation():
  images = _images()
  np.testing.assert_array_equal(augment.random_warp(jax.random.PRNGKey(0), images, 0, 0),
                                images)
  rgb = jnp.repeat(images, 3, axis=-1)
  warped = augment.random_warp(jax.random.PRNGKey(1), rgb, 30.0, 0.1)
  chex.assert_shape(warped, rgb.shape)
  chex.assert_type(warped, jnp.uint8)
  assert (np.asarray(warped) != np.asarray(rgb)).any()
  # The blob stays near the centre (rotation and scale are about the centre).
  weights = np.asarray(warped[..., 0], np.float64)
  centre = (weights * np.arange(12)[None, :, None]).sum((1, 2)) / weights.sum((1, 2))
  np.testing.assert_allclose(centre, 5.5, atol=0.6)


def test_augmentation_is_a_function_of_the_key():
  images = _images()
  aug = augment.Augmentation(max_shift=2, max_degrees=10.0, max_scale=0.1)
  a, b = aug(jax.random.PRNGKey(3), images), aug(jax.random.PRNGKey(3), images)
  np.testing.assert_array_equal(a, b)
  assert augment.Augmentation().is_identity and not aug.is_identity
  assert hash(aug) == hash(augment.Augmentation(2, 10.0, 0.1))  # Static under jit.


def test_elastic_displacement_is_smooth_and_scales_with_alpha():
  key = jax.random.PRNGKey(0)
  field = augment.elastic_displacement(key, 8, 28, 28, 34.0)
  chex.assert_shape(field, (8, 2, 28, 28))
  chex.assert_type(field, jnp.float32)
  np.testing.assert_allclose(augment.elastic_displacement(key, 8, 28, 28, 17.0), field / 2,
                             rtol=1e-5, atol=1e-6)
  # Smooth: neighbouring pixels move alike, far less than the field varies.
  step = np.abs(np.diff(np.asarray(field), axis=-1)).mean()
  assert 0.3 < np.abs(np.asarray(field)).mean() < 5 and step < 0.25 * np.abs(field).mean()
  smoothing = augment.gaussian_smoothing(5, 1.0)
  chex.assert_shape(smoothing, (5, 5))
  np.testing.assert_allclose(smoothing, smoothing.T)
  np.testing.assert_allclose(smoothing[2].sum(), 1.0, atol=0.01)  # A kernel, away from the edges.


def test_elastic_distortion_moves_pixels_without_changing_the_affine_draws():
  images = jnp.asarray(np.random.RandomState(0).randint(0, 255, (4, 28, 28, 1)), jnp.uint8)
  key = jax.random.PRNGKey(5)
  plain = augment.random_warp(key, images, 10.0, 0.1)
  elastic = augment.random_warp(key, images, 10.0, 0.1, elastic_alpha=34.0)
  chex.assert_type(elastic, jnp.uint8)
  assert (np.asarray(elastic) != np.asarray(plain)).mean() > 0.5
  # The same angles and scales underneath: alpha 0 is exactly the affine warp.
  np.testing.assert_array_equal(augment.random_warp(key, images, 10.0, 0.1, 0.0), plain)
  only_elastic = augment.random_warp(key, images, 0.0, 0.0, elastic_alpha=34.0)
  assert (np.asarray(only_elastic) != np.asarray(images)).any()
  assert not augment.Augmentation(elastic_alpha=1.0).is_identity
