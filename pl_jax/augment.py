"""Augment: image geometry. Random transformations inside the jitted train
step, and deskewing, the one fixed transformation a run may apply to every
image before the model sees it.

Everything here is a pure function of a PRNG key and a uint8 batch (deskewing:
of the batch alone), vmapped over examples, so it runs on the device with no
host-side Python per image, and the same key gives the same batch.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

# Images deskewed at once by `deskewed` (one compilation for any N).
DESKEW_CHUNK = 2048


def random_shift(key: jax.Array, images: jax.Array, max_shift: int) -> jax.Array:
  """Shifts each image by up to max_shift pixels along each axis, filling with 0.

  images: uint8[B, H, W, C] -> uint8[B, H, W, C].
  """
  if max_shift == 0:
    return images
  _, height, width, _ = images.shape
  padded = jnp.pad(images, [(0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)])
  offsets = jax.random.randint(key, (images.shape[0], 2), 0, 2 * max_shift + 1)

  def crop(image, offset):
    return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0),
                                 (height, width, image.shape[-1]))
  return jax.vmap(crop)(padded, offsets)


def pixel_grid(height: int, width: int) -> tuple[jax.Array, jax.Array]:
  """Every pixel's (row, column): two float32[H, W]."""
  return jnp.meshgrid(jnp.arange(height, dtype=jnp.float32),
                      jnp.arange(width, dtype=jnp.float32), indexing='ij')


def resample(images: jax.Array, source: jax.Array) -> jax.Array:
  """Bilinear resampling, filling with 0: output pixel (r, c) of image b takes the
  value at (source[b, 0, r, c], source[b, 1, r, c]) of image b.

  images: uint8[B, H, W, C]; source: float32[B, 2, H, W] -> uint8[B, H, W, C].
  """
  def one(image, coordinates):
    channel = lambda c: jax.scipy.ndimage.map_coordinates(
        image[..., c].astype(jnp.float32), coordinates, order=1, mode='constant', cval=0.0)
    return jnp.stack([channel(c) for c in range(image.shape[-1])], axis=-1)
  return jnp.clip(jnp.round(jax.vmap(one)(images, source)), 0, 255).astype(jnp.uint8)


def random_affine(key: jax.Array, images: jax.Array, max_degrees: float,
                  max_scale: float) -> jax.Array:
  """Rotates each image by up to max_degrees and scales it by a factor in
  [1 - max_scale, 1 + max_scale], about its centre (bilinear, filling with 0).

  images: uint8[B, H, W, C] -> uint8[B, H, W, C].
  """
  if max_degrees == 0 and max_scale == 0:
    return images
  batch, height, width, _ = images.shape
  angle_key, scale_key = jax.random.split(key)
  angles = jnp.deg2rad(jax.random.uniform(angle_key, (batch,), minval=-max_degrees,
                                          maxval=max_degrees))
  scales = jax.random.uniform(scale_key, (batch,), minval=1 - max_scale,
                              maxval=1 + max_scale)
  rows, cols = pixel_grid(height, width)
  centre_row, centre_col = (height - 1) / 2, (width - 1) / 2

  def source(angle, scale):
    # Inverse map: where in the source each output pixel comes from.
    cos, sin = jnp.cos(angle) / scale, jnp.sin(angle) / scale
    dr, dc = rows - centre_row, cols - centre_col
    return jnp.stack([cos * dr - sin * dc + centre_row, sin * dr + cos * dc + centre_col])

  return resample(images, jax.vmap(source)(angles, scales))


def augment(key: jax.Array, images: jax.Array, max_shift: int = 0, max_degrees: float = 0.0,
            max_scale: float = 0.0) -> jax.Array:
  """The training augmentation: a random affine warp, then a random shift.

  images: uint8[B, H, W, C] -> uint8[B, H, W, C]; the identity with all zeros.
  """
  affine_key, shift_key = jax.random.split(key)
  images = random_affine(affine_key, images, max_degrees, max_scale)
  return random_shift(shift_key, images, max_shift)


@dataclasses.dataclass(frozen=True)
class Augmentation:
  """A training augmentation's settings; hashable, so it is static under jit."""
  max_shift: int = 0
  max_degrees: float = 0.0
  max_scale: float = 0.0

  def __call__(self, key: jax.Array, images: jax.Array) -> jax.Array:
    return augment(key, images, self.max_shift, self.max_degrees, self.max_scale)

  @property
  def is_identity(self) -> bool:
    return self.max_shift == 0 and self.max_degrees == 0 and self.max_scale == 0


@jax.jit
def deskew(images: jax.Array) -> jax.Array:
  """Each image sheared so that its ink's principal slant is upright, and moved
  so that its centre of mass is the image centre (bilinear, filling with 0).

  images: uint8[B, H, W, C] -> uint8[B, H, W, C].

  The shear is the one that zeroes the covariance of the ink's row and column
  (second moments, of the channels' mean), the classic preprocessing of
  handwritten digits. Why: the same digit written at another slant is far
  away in pixel space, so a nearest-neighbour graph joins slanted 1s to 7s and
  4s to 9s (propagate.py), and a model must learn every slant from few labels.
  """
  _, height, width, _ = images.shape
  ink = jnp.mean(images.astype(jnp.float32), axis=-1)  # [B, H, W]
  rows, cols = pixel_grid(height, width)
  mass = jnp.maximum(jnp.sum(ink, axis=(1, 2)), 1e-6)
  moment = lambda weights: jnp.sum(ink * weights, axis=(1, 2)) / mass
  mean_row, mean_col = moment(rows), moment(cols)
  from_mean_row = rows - mean_row[:, None, None]  # [B, H, W]
  row_variance = moment(from_mean_row ** 2)
  covariance = moment(from_mean_row * (cols - mean_col[:, None, None]))
  slant = covariance / jnp.maximum(row_variance, 1e-6)  # columns moved per row
  # Output pixel (r, c) reads the input where the ink's centre plus its slant puts it.
  below_centre = rows - (height - 1) / 2
  source_row = below_centre + mean_row[:, None, None]
  source_col = (slant[:, None, None] * below_centre + cols - (width - 1) / 2
                + mean_col[:, None, None])
  return resample(images, jnp.stack([source_row, source_col], axis=1))


def deskewed(images: np.ndarray) -> np.ndarray:
  """deskew over a whole array in chunks of DESKEW_CHUNK (one compilation):
  uint8[N, H, W, C] -> uint8[N, H, W, C]."""
  n = len(images)
  padded = np.pad(images, ((0, -n % DESKEW_CHUNK), (0, 0), (0, 0), (0, 0)))
  return np.concatenate([np.asarray(deskew(padded[first:first + DESKEW_CHUNK]))
                         for first in range(0, len(padded), DESKEW_CHUNK)])[:n]
