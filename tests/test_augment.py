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


def test_cutout_blanks_one_square_clipped_by_the_border():
  images = jnp.full((64, 12, 12, 2), 255, jnp.uint8)
  cut = np.asarray(augment.random_cutout(jax.random.PRNGKey(0), images, 4))
  chex.assert_shape(cut, images.shape)
  assert cut.dtype == np.uint8
  blank = cut[..., 0] == 0
  np.testing.assert_array_equal(blank, cut[..., 1] == 0)  # The same square in every channel.
  counts = blank.sum(axis=(1, 2))
  assert counts.max() == 16 and counts.min() >= 4  # At least a 2x2 corner of the square.
  assert (counts < 16).any()  # Some squares are cut by the border.
  for mask in blank:  # One solid rectangle per image.
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    assert mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()
    assert mask.sum() == len(rows) * len(cols)
  np.testing.assert_array_equal(augment.random_cutout(jax.random.PRNGKey(0), images, 0), images)
  assert not augment.Augmentation(cutout=4).is_identity


def test_shear_slants_a_vertical_stroke_and_changes_nothing_else():
  stroke = np.zeros((8, 15, 15, 1), np.uint8)
  stroke[:, 2:13, 7] = 255  # A vertical bar through the centre column.
  stroke = jnp.asarray(stroke)
  key = jax.random.PRNGKey(4)
  sheared = np.asarray(augment.random_affine(key, stroke, 0.0, 0.0, 30.0), np.float64)
  chex.assert_shape(sheared, stroke.shape)
  # The bar's column moves linearly with the row: top and bottom lean apart.
  cols = np.arange(15)
  mean_col = lambda image, row: (image[row, :, 0] * cols).sum() / image[row, :, 0].sum()
  leans = np.array([mean_col(image, 3) - mean_col(image, 11) for image in sheared])
  assert np.abs(leans).max() > 2  # tan(30 degrees) * 8 rows is up to 4.6 columns.
  assert (np.abs(leans) <= 8 * np.tan(np.deg2rad(30)) + 0.5).all()
  np.testing.assert_allclose([mean_col(image, 7) for image in sheared], 7, atol=0.01)
  assert not augment.Augmentation(max_shear=10.0).is_identity


def test_elastic_displacement_has_the_asked_size_and_bends_strokes():
  key = jax.random.PRNGKey(5)
  images = np.zeros((16, 28, 28, 1), np.uint8)
  images[:, 4:24, 12:16] = 255  # A vertical stroke, 4 pixels wide.
  images = jnp.asarray(images)
  np.testing.assert_array_equal(augment.random_elastic(key, images, 0.0), images)
  bent = augment.random_elastic(key, images, 1.5)
  chex.assert_shape(bent, images.shape)
  chex.assert_type(bent, jnp.uint8)
  # The stroke's centre wanders from row to row, by about alpha pixels.
  mass = np.asarray(bent, np.float64)[:, 8:20, :, 0]
  assert (mass.sum(-1) > 0).all()
  centre = (mass * np.arange(28)).sum(-1) / mass.sum(-1)
  wander = (centre - 13.5).std()
  assert 1.0 < wander < 2.2, wander  # Measured: 1.47.
  np.testing.assert_allclose(np.asarray(augment.gaussian_kernel(4.0)).sum(), 1, rtol=1e-6)
  assert not augment.Augmentation(elastic=1.0).is_identity


def test_mixup_pairs_a_permutation_with_a_weight_of_at_least_half():
  partner, lam = augment.mixup_pairs(jax.random.PRNGKey(0), 16, 0.4)
  chex.assert_shape(partner, (16,))
  chex.assert_shape(lam, ())
  assert sorted(partner.tolist()) == list(range(16))
  lams = [float(augment.mixup_pairs(jax.random.PRNGKey(k), 16, 0.4)[1]) for k in range(50)]
  assert min(lams) >= 0.5 and max(lams) <= 1.0
  assert len(set(lams)) == 50  # Drawn, not fixed.
  images = _images().at[1].set(0)  # Image 1 is blank, the others hold a square.
  mixed = augment.mix(images, jnp.array([1, 0, 3, 2]), jnp.float32(0.75))
  assert mixed.dtype == jnp.float32
  np.testing.assert_allclose(mixed[0, 5, 5, 0], 0.75 * 200)  # With the blank one.
  np.testing.assert_allclose(mixed[1, 5, 5, 0], 0.25 * 200)
  np.testing.assert_allclose(mixed[2], images[2].astype(np.float32))  # Alike: unchanged.
