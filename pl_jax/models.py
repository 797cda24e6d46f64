"""Models: the reference CNN of the case study, as a pure-functional Flax module,
and an ensemble of them that applies like one model."""

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from pl_jax import augment

# PyTorch's default weight init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), so the seed's
# recipe starts where the reference model starts (biases start at zero here).
torch_like_init = nn.initializers.variance_scaling(1 / 3, 'fan_in', 'uniform')

def normalize(images: jnp.ndarray, mean: tuple[float, ...],
              std: tuple[float, ...]) -> jnp.ndarray:
  """uint8[..., H, W, C] in 0..255 -> float32 with per-channel zero mean, unit std.

  The one place inputs are normalised: images stay uint8 everywhere else (on
  the device too), which keeps the training set four times smaller. mean and
  std are of the training images scaled to [0, 1] (data_types.Dataset.pixel_mean).
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


def _conv2d_valid(x: jax.Array, kernel: jax.Array) -> jax.Array:
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), 'VALID',
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


@jax.custom_vjp
def conv2d_valid(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """Stride-1 VALID convolution: [B, H, W, Ci] x [kh, kw, Ci, Co] -> [B, H', W', Co].

  The convolution nn.Conv computes, with the same gradients, written out as
  convolutions in the NHWC / HWIO layout. Why: inside a loop (lax.fori_loop,
  lax.scan) XLA:CPU leaves autodiff's kernel-gradient convolution in a layout
  its fast convolution does not take, and the train step ran about 10x slower
  there than dispatched from Python; these run equally fast in both (and give
  bit-identical gradients, see tests/test_models.py).
  """
  return _conv2d_valid(x, kernel)


def _conv2d_valid_forward(x, kernel):
  return _conv2d_valid(x, kernel), (x, kernel)


def _conv2d_valid_backward(residuals, grad):
  x, kernel = residuals
  height, width = kernel.shape[:2]
  # dkernel[i, j, c, o] = sum over b, h, w of x[b, h + i, w + j, c] grad[b, h, w, o]:
  # a convolution of x with grad as the kernel, the batch axis contracted.
  grad_kernel = _conv2d_valid(jnp.transpose(x, (3, 1, 2, 0)), jnp.transpose(grad, (1, 2, 0, 3)))
  grad_kernel = jnp.transpose(grad_kernel, (1, 2, 0, 3))
  # dx: the full convolution of grad with the flipped kernel, in and out swapped.
  flipped = jnp.transpose(jnp.flip(kernel, (0, 1)), (0, 1, 3, 2))
  grad_x = jax.lax.conv_general_dilated(
      grad, flipped, (1, 1), [(height - 1, height - 1), (width - 1, width - 1)],
      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  return grad_x, grad_kernel


conv2d_valid.defvjp(_conv2d_valid_forward, _conv2d_valid_backward)


class Conv(nn.Module):
  """nn.Conv(features, (3, 3), padding='VALID') through conv2d_valid: the same
  parameters ('kernel' [3, 3, Ci, Co], 'bias' [Co]), init and output."""
  features: int
  kernel_size: tuple[int, int] = (3, 3)
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', self.kernel_init,
                        (*self.kernel_size, x.shape[-1], self.features))
    bias = self.param('bias', nn.initializers.zeros_init(), (self.features,))
    return conv2d_valid(x, kernel) + bias


class CNN(nn.Module):
  """conv3x3(32)-relu-pool2 -> conv3x3(64)-relu-pool2 -> dense(128)-relu -> dense.

  VALID padding throughout: 28x28 -> 26 -> 13 -> 11 -> 5, so 5*5*64 = 1,600
  features reach the dense layers, exactly as in the reference PyTorch model.
  Other image sizes and channel counts work alike (at least 10x10 pixels).
  The layers' names are config.LAYERS.
  """
  num_classes: int = 10
  # Of the MNIST training images (the case study's values); see data_types.Dataset.
  pixel_mean: tuple[float, ...] = (0.1307,)
  pixel_std: tuple[float, ...] = (0.3081,)

  @nn.compact
  def __call__(self, images: jnp.ndarray) -> jnp.ndarray:
    """images: uint8[B, H, W, C] -> logits float32[B, num_classes]."""
    x = normalize(images, self.pixel_mean, self.pixel_std)
    x = Conv(32, kernel_init=torch_like_init, name='conv1')(x)
    x = max_pool_2x2(nn.relu(x))
    x = Conv(64, kernel_init=torch_like_init, name='conv2')(x)
    x = max_pool_2x2(nn.relu(x))
    x = x.reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(128, kernel_init=torch_like_init, name='fc1')(x))
    return nn.Dense(self.num_classes, kernel_init=torch_like_init, name='fc2')(x)


@dataclasses.dataclass(frozen=True)
class Ensemble:
  """Several models of one architecture as one apply function.

  `Ensemble(model.apply)({'params': stacked}, images)`, where `stacked` is
  stack_params([params_1, ..., params_K]), returns the log of the members' mean
  softmax, float32[B, num_classes]: logits whose softmax is that mean, so
  whatever takes a model's apply (score.score, the predictor) averages the
  members' probabilities. Frozen and hashable: a static argument of jit.
  """
  apply_fn: Callable[..., jax.Array]

  def __call__(self, variables: dict, images: jnp.ndarray) -> jnp.ndarray:
    member_log_probs = jax.vmap(
        lambda params: jax.nn.log_softmax(self.apply_fn({'params': params}, images)))(
            variables['params'])  # [K, B, num_classes]
    return (jax.nn.logsumexp(member_log_probs, axis=0)
            - jnp.log(member_log_probs.shape[0]))


def stack_params(members: list[Any]) -> Any:
  """The members' parameter trees as one, each leaf with a leading axis of size K."""
  return jax.tree.map(lambda *leaves: jnp.stack(leaves), *members)


@dataclasses.dataclass(frozen=True)
class Deskewed:
  """An apply function on images as they come, for a model trained on deskewed
  ones (config.deskew): augment.deskew, then `apply_fn`. Frozen and hashable: a
  static argument of jit."""
  apply_fn: Callable[..., jax.Array]

  def __call__(self, variables: dict, images: jnp.ndarray) -> jnp.ndarray:
    return self.apply_fn(variables, augment.deskew(images))


def apply_fn(model: CNN, num_members: int = 1, deskew: bool = False) -> Callable[..., jax.Array]:
  """How a run's predictor applies to images as they come: the model itself, or
  with num_members > 1 the Ensemble of that many (its params then stacked,
  stack_params); with deskew, to the images deskewed first (the run deskewed
  its own once, before augmenting them: loop.prepare)."""
  predictor = model.apply if num_members == 1 else Ensemble(model.apply)
  return Deskewed(predictor) if deskew else predictor
