"""Augment: random image transformations inside the jitted train step.

Everything here is a pure function of a PRNG key and a uint8 batch, vmapped
over examples, so augmentation runs on the device with no host-side Python per
image, and the same key gives the same batch.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np


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
                  max_scale: float, max_shear: float = 0.0) -> jax.Array:
  """Rotates each image by up to max_degrees, scales it by a factor in
  [1 - max_scale, 1 + max_scale] and shears it horizontally by up to max_shear
  degrees (slanting its strokes, as handwriting varies), about its centre
  (bilinear, filling with 0).

  images: uint8[B, H, W, C] -> uint8[B, H, W, C].
  """
  if max_degrees == 0 and max_scale == 0 and max_shear == 0:
    return images
  batch, height, width, _ = images.shape
  angle_key, scale_key = jax.random.split(key)
  angles = jnp.deg2rad(jax.random.uniform(angle_key, (batch,), minval=-max_degrees,
                                          maxval=max_degrees))
  scales = jax.random.uniform(scale_key, (batch,), minval=1 - max_scale,
                              maxval=1 + max_scale)
  # Its own key, folded in, so warps without shear draw as before.
  shears = jnp.tan(jnp.deg2rad(jax.random.uniform(
      jax.random.fold_in(key, 0x5EA), (batch,), minval=-max_shear, maxval=max_shear)))
  rows, cols = pixel_grid(height, width)
  centre_row, centre_col = (height - 1) / 2, (width - 1) / 2

  def source(angle, scale, shear):
    # Inverse map: where in the source each output pixel comes from.
    cos, sin = jnp.cos(angle) / scale, jnp.sin(angle) / scale
    dr = rows - centre_row
    dc = cols - centre_col + shear * dr  # Exactly cols - centre_col when shear is 0.
    return jnp.stack([cos * dr - sin * dc + centre_row, sin * dr + cos * dc + centre_col])

  return resample(images, jax.vmap(source)(angles, scales, shears))


def gaussian_kernel(sigma: float) -> jax.Array:
  """A normalised 1-D Gaussian of standard deviation sigma: float32[2r + 1], r = ceil(3 sigma)."""
  radius = max(1, int(np.ceil(3 * sigma)))
  x = np.arange(-radius, radius + 1, dtype=np.float32)
  kernel = np.exp(-x ** 2 / (2 * sigma ** 2))
  return jnp.asarray(kernel / kernel.sum())


def random_elastic(key: jax.Array, images: jax.Array, alpha: float,
                   sigma: float = 4.0) -> jax.Array:
  """Elastic distortion (Simard et al. 2003): every pixel is displaced by a random
  field, uniform per pixel and axis, smoothed by a Gaussian of standard deviation
  sigma, and scaled so that each axis's displacement has standard deviation
  alpha pixels (bilinear, filling with 0). Strokes bend locally, as handwriting
  does. (Simard's alpha=34, sigma=4 on an unscaled field is about 1.4 here.)

  images: uint8[B, H, W, C] -> uint8[B, H, W, C].
  """
  if alpha == 0:
    return images
  batch, height, width, _ = images.shape
  noise = jax.random.uniform(key, (batch, 2, height, width), minval=-1.0, maxval=1.0)
  kernel = gaussian_kernel(sigma)
  # Separable smoothing, zero-padded: along rows, then along columns.
  smooth = lambda line: jnp.convolve(line, kernel, mode='same')
  field = jax.vmap(jax.vmap(jax.vmap(smooth, in_axes=1, out_axes=1)))(noise)
  field = jax.vmap(jax.vmap(jax.vmap(smooth)))(field)
  # A uniform [-1, 1] value has standard deviation 1/sqrt(3); smoothing by the 2-D
  # kernel (outer product of `kernel` with itself) multiplies it by that kernel's
  # L2 norm, which is sum(kernel ** 2). Rescale to alpha.
  field = field * (alpha * np.sqrt(3) / jnp.sum(kernel ** 2))
  rows, cols = pixel_grid(height, width)
  return resample(images, jnp.stack([rows, cols])[None] + field)


def random_cutout(key: jax.Array, images: jax.Array, size: int) -> jax.Array:
  """Blanks (to 0) a size x size square of each image, centred anywhere in it,
  so the square may be cut by the border (DeVries & Taylor 2017).

  images: uint8[B, H, W, C] -> uint8[B, H, W, C].
  """
  if size == 0:
    return images
  batch, height, width, _ = images.shape
  centres = jax.random.randint(key, (batch, 2), 0, jnp.array([height, width]))
  top_left = centres - size // 2
  rows = jnp.arange(height)[None, :, None]
  cols = jnp.arange(width)[None, None, :]
  inside = ((rows >= top_left[:, 0, None, None]) & (rows < top_left[:, 0, None, None] + size)
            & (cols >= top_left[:, 1, None, None]) & (cols < top_left[:, 1, None, None] + size))
  return jnp.where(inside[..., None], jnp.zeros((), images.dtype), images)


def augment(key: jax.Array, images: jax.Array, max_shift: int = 0, max_degrees: float = 0.0,
            max_scale: float = 0.0, cutout: int = 0, max_shear: float = 0.0,
            elastic: float = 0.0) -> jax.Array:
  """The training augmentation: a random affine warp, an elastic distortion, a
  random shift, then a random cutout.

  images: uint8[B, H, W, C] -> uint8[B, H, W, C]; the identity with all zeros.
  """
  affine_key, shift_key = jax.random.split(key)
  images = random_affine(affine_key, images, max_degrees, max_scale, max_shear)
  images = random_elastic(jax.random.fold_in(key, 0xE1A), images, elastic)
  images = random_shift(shift_key, images, max_shift)
  # Its own key, folded in, so augmentations without cutout draw as before.
  return random_cutout(jax.random.fold_in(key, 0xC07), images, cutout)


def mixup_pairs(key: jax.Array, batch_size: int,
                alpha: float) -> tuple[jax.Array, jax.Array]:
  """Mixup's draw for one batch (Zhang et al. 2018): every example's partner,
  a random permutation of the batch, int32[B], and one weight lam ~ Beta(alpha,
  alpha), float32[], kept >= 0.5 so each mixed image is mostly its own example.

  Against confirmation bias in pseudo-labeling (Arazo et al. 2020): a network
  trained on mixed images and mixed targets cannot memorise a wrong
  pseudo-label as easily as one trained on the image itself.
  """
  permutation_key, weight_key = jax.random.split(key)
  lam = jax.random.beta(weight_key, alpha, alpha)
  return (jax.random.permutation(permutation_key, batch_size).astype(jnp.int32),
          jnp.maximum(lam, 1 - lam).astype(jnp.float32))


def mix(images: jax.Array, partner: jax.Array, lam: jax.Array) -> jax.Array:
  """lam * image + (1 - lam) * its partner's: uint8[B, H, W, C] -> float32[B, H,
  W, C] on the same 0..255 scale (models.normalize takes either)."""
  images = images.astype(jnp.float32)
  return lam * images + (1 - lam) * images[partner]


@dataclasses.dataclass(frozen=True)
class Augmentation:
  """A training augmentation's settings; hashable, so it is static under jit."""
  max_shift: int = 0
  max_degrees: float = 0.0
  max_scale: float = 0.0
  cutout: int = 0
  max_shear: float = 0.0
  elastic: float = 0.0

  def __call__(self, key: jax.Array, images: jax.Array) -> jax.Array:
    return augment(key, images, self.max_shift, self.max_degrees, self.max_scale,
                   self.cutout, self.max_shear, self.elastic)

  @property
  def is_identity(self) -> bool:
    return (self.max_shift == 0 and self.max_degrees == 0 and self.max_scale == 0
            and self.cutout == 0 and self.max_shear == 0 and self.elastic == 0)
