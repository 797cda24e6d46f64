"""Augment: random image transformations inside the jitted train step.

Everything here is a pure function of a PRNG key and a uint8 batch, vmapped
over examples, so augmentation runs on the device with no host-side Python per
image, and the same key gives the same batch.
"""

import dataclasses

import jax
import jax.numpy as jnp


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


# The smoothing of the elastic displacement field, in pixels: Simard et al.
# (2003), "Best Practices for Convolutional Neural Networks Applied to Visual
# Document Analysis", whose MNIST distortions used sigma 4 with strength 34.
ELASTIC_SIGMA = 4.0


def gaussian_smoothing(size: int, sigma: float) -> jax.Array:
  """The matrix that smooths a length-`size` signal by a Gaussian of std sigma
  (normalised kernel, zero outside the signal): float32[size, size]."""
  offsets = jnp.arange(size, dtype=jnp.float32)
  distance = offsets[:, None] - offsets[None, :]
  return (jnp.exp(-distance**2 / (2 * sigma**2)) / (jnp.sqrt(2 * jnp.pi) * sigma)
          ).astype(jnp.float32)


def elastic_displacement(key: jax.Array, batch: int, height: int, width: int,
                         alpha: float) -> jax.Array:
  """Random elastic displacements (Simard et al. 2003): uniform noise in [-1, 1]
  per pixel and axis, smoothed by a Gaussian of std ELASTIC_SIGMA, times alpha.

  -> float32[B, 2, H, W], in pixels (row, column). The smoothing is separable,
  so it is two small matrix products rather than a convolution.
  """
  noise = jax.random.uniform(key, (batch, 2, height, width), minval=-1.0, maxval=1.0)
  rows, cols = gaussian_smoothing(height, ELASTIC_SIGMA), gaussian_smoothing(width, ELASTIC_SIGMA)
  return alpha * jnp.einsum('ij,bdjk,lk->bdil', rows, noise, cols)


def random_warp(key: jax.Array, images: jax.Array, max_degrees: float, max_scale: float,
                elastic_alpha: float = 0.0) -> jax.Array:
  """Rotates each image by up to max_degrees and scales it by a factor in
  [1 - max_scale, 1 + max_scale], about its centre, and distorts it elastically
  with strength elastic_alpha (elastic_displacement); one bilinear resampling,
  filling with 0.

  images: uint8[B, H, W, C] -> uint8[B, H, W, C].
  """
  if max_degrees == 0 and max_scale == 0 and elastic_alpha == 0:
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

  sources = jax.vmap(source)(angles, scales)
  if elastic_alpha:  # Its own key, so the affine draws are as without it.
    sources += elastic_displacement(jax.random.fold_in(key, 2), batch, height, width,
                                    elastic_alpha)
  return resample(images, sources)


def augment(key: jax.Array, images: jax.Array, max_shift: int = 0, max_degrees: float = 0.0,
            max_scale: float = 0.0, elastic_alpha: float = 0.0) -> jax.Array:
  """The training augmentation: a random warp, then a random shift.

  images: uint8[B, H, W, C] -> uint8[B, H, W, C]; the identity with all zeros.
  """
  warp_key, shift_key = jax.random.split(key)
  images = random_warp(warp_key, images, max_degrees, max_scale, elastic_alpha)
  return random_shift(shift_key, images, max_shift)


@dataclasses.dataclass(frozen=True)
class Augmentation:
  """A training augmentation's settings; hashable, so it is static under jit."""
  max_shift: int = 0
  max_degrees: float = 0.0
  max_scale: float = 0.0
  elastic_alpha: float = 0.0

  def __call__(self, key: jax.Array, images: jax.Array) -> jax.Array:
    return augment(key, images, self.max_shift, self.max_degrees, self.max_scale,
                   self.elastic_alpha)

  @property
  def is_identity(self) -> bool:
    return (self.max_shift == 0 and self.max_degrees == 0 and self.max_scale == 0
            and self.elastic_alpha == 0)
