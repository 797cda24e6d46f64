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


def test_affine_identity_and_rotation():
  images = _images()
  np.testing.assert_array_equal(augment.random_affine(jax.random.PRNGKey(0), images, 0, 0),
                                images)
  rgb = jnp.repeat(images, 3, axis=-1)
  warped = augment.random_affine(jax.random.PRNGKey(1), rgb, 30.0, 0.1)
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


def _ink_moments(images):
  """Each image's ink centre (row, column) and row-column covariance."""
  ink = images[..., 0].astype(np.float64)
  rows, cols = np.meshgrid(np.arange(ink.shape[1]), np.arange(ink.shape[2]), indexing='ij')
  mass = ink.sum(axis=(1, 2))
  mean_row, mean_col = (ink * rows).sum((1, 2)) / mass, (ink * cols).sum((1, 2)) / mass
  covariance = (ink * (rows - mean_row[:, None, None]) * (cols - mean_col[:, None, None])
                ).sum((1, 2)) / mass
  return mean_row, mean_col, covariance


def test_deskew_sets_slanted_strokes_upright_and_centres_them():
  images = np.zeros((3, 28, 28, 1), np.uint8)
  for row in range(6, 22):  # Strokes leaning right, left, and upright off-centre.
    images[0, row, 20 - (row - 6) // 2:22 - (row - 6) // 2] = 255
    images[1, row, 6 + (row - 6) // 2:8 + (row - 6) // 2] = 255
    images[2, row, 4:6] = 255
  deskewed = augment.deskew(jnp.asarray(images))
  chex.assert_shape(deskewed, images.shape)
  chex.assert_type(deskewed, jnp.uint8)
  before, after = _ink_moments(images), _ink_moments(np.asarray(deskewed))
  assert abs(before[2][0]) > 5 and abs(before[2][1]) > 5  # Slanted ...
  np.testing.assert_allclose(after[2], 0, atol=0.3)  # ... and upright after.
  np.testing.assert_allclose(after[0], 13.5, atol=0.3)  # Centred.
  np.testing.assert_allclose(after[1], 13.5, atol=0.3)
  # A stroke already upright and centred is left as it is.
  upright = np.roll(images[2:], 9, axis=2)
  np.testing.assert_array_equal(augment.deskew(jnp.asarray(upright)), upright)
  # The chunked form gives the same images.
  np.testing.assert_array_equal(augment.deskewed(images), deskewed)
