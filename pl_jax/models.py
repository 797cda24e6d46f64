"""Models: the reference CNN of the case study, as a pure-functional Flax module."""

import flax.linen as nn
import jax
import jax.numpy as jnp

# PyTorch's default weight init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), so the seed's
# recipe starts where the reference model starts (biases start at zero here).
torch_like_init = nn.initializers.variance_scaling(1 / 3, 'fan_in', 'uniform')

def normalize(images: jnp.ndarray, mean: tuple[float, ...],
              std: tuple[float, ...]) -> jnp.ndarray:
  """uint8[..., H, W, C] in 0..255 -> float32 with per-channel zero mean, unit std.

  The one place inputs are normalised: images stay uint8 everywhere else (on
  the device too), which keeps the training set four times smaller. mean and
  std are of the training images scaled to [0, 1] (data.Dataset.pixel_mean).
  """
  mean, std = jnp.asarray(mean, jnp.float32), jnp.asarray(std, jnp.float32)
  return (images.astype(jnp.float32) / 255.0 - mean) / std


def _window_corners(x: jax.Array) -> tuple[jax.Array, ...]:
  """The four elements of every 2x2 window, as strided views. x: [B, H, W, C]."""
  h, w = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2
  x = x[:, :h, :w, :]
  return x[:, 0::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 0::2], x[:, 1::2, 1::2]


@jax.custom_vjp
def max_pool_2x2(x: jax.Array) -> jax.Array:
  """2x2 max-pooling with stride 2, VALID: [B, H, W, C] -> [B, H // 2, W // 2, C].

  nn.max_pool(x, (2, 2), strides=(2, 2)) with the same gradient (to the first
  maximum of each window in row-major order), computed differently: XLA lowers
  nn.max_pool's gradient to select-and-scatter, which is slow on XLA:CPU (the
  train step of the CNN below runs about 3x faster with this one). Four
  strided views and elementwise selects give the same gradient. The forward
  pass stays nn.max_pool's: inside the scorer's lax.map the strided views
  are more than 10x slower than XLA's reduce-window.
  """
  return nn.max_pool(x, (2, 2), strides=(2, 2))


def _max_pool_2x2_forward(x):
  pooled = max_pool_2x2(x)
  return pooled, (x, pooled)


def _max_pool_2x2_backward(residuals, grad):
  x, pooled = residuals
  taken = jnp.zeros(grad.shape, bool)  # a window's maximum already found
  corner_grads = []
  for corner in _window_corners(x):
    first_max = (corner == pooled) & ~taken
    taken = taken | first_max
    corner_grads.append(jnp.where(first_max, grad, 0.0))
  top_left, top_right, bottom_left, bottom_right = corner_grads
  # [B, H/2, 2 (row in window), W/2, 2 (column in window), C] -> [B, H', W', C].
  windows = jnp.stack([jnp.stack([top_left, top_right], axis=3),
                       jnp.stack([bottom_left, bottom_right], axis=3)], axis=2)
  b, h, _, w, _, c = windows.shape
  grad_x = windows.reshape(b, 2 * h, 2 * w, c)
  # An odd row or column is never a window's maximum: its gradient is zero.
  return (jnp.pad(grad_x, ((0, 0), (0, x.shape[1] - 2 * h), (0, x.shape[2] - 2 * w), (0, 0))),)


max_pool_2x2.defvjp(_max_pool_2x2_forward, _max_pool_2x2_backward)


# Parameter names of CNN's layers, as in the reference model.
LAYERS = ('conv1', 'conv2', 'fc1', 'fc2')


class CNN(nn.Module):
  """conv3x3(32)-relu-pool2 -> conv3x3(64)-relu-pool2 -> dense(128)-relu -> dense.

  VALID padding throughout: 28x28 -> 26 -> 13 -> 11 -> 5, so 5*5*64 = 1,600
  features reach the dense layers, exactly as in the reference PyTorch model.
  Other image sizes and channel counts work alike (at least 10x10 pixels).
  """
  num_classes: int = 10
  # Of the MNIST training images (the case study's values); see data.Dataset.
  pixel_mean: tuple[float, ...] = (0.1307,)
  pixel_std: tuple[float, ...] = (0.3081,)

  @nn.compact
  def __call__(self, images: jnp.ndarray) -> jnp.ndarray:
    """images: uint8[B, H, W, C] -> logits float32[B, num_classes]."""
    x = normalize(images, self.pixel_mean, self.pixel_std)
    x = nn.Conv(32, (3, 3), padding='VALID', kernel_init=torch_like_init, name='conv1')(x)
    x = max_pool_2x2(nn.relu(x))
    x = nn.Conv(64, (3, 3), padding='VALID', kernel_init=torch_like_init, name='conv2')(x)
    x = max_pool_2x2(nn.relu(x))
    x = x.reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(128, kernel_init=torch_like_init, name='fc1')(x))
    return nn.Dense(self.num_classes, kernel_init=torch_like_init, name='fc2')(x)
