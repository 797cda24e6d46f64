"""Models: the reference CNN of the case study, as a pure-functional Flax module."""

import flax.linen as nn
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
    x = nn.max_pool(nn.relu(x), (2, 2), strides=(2, 2))
    x = nn.Conv(64, (3, 3), padding='VALID', kernel_init=torch_like_init, name='conv2')(x)
    x = nn.max_pool(nn.relu(x), (2, 2), strides=(2, 2))
    x = x.reshape(x.shape[0], -1)
    x = nn.relu(nn.Dense(128, kernel_init=torch_like_init, name='fc1')(x))
    return nn.Dense(self.num_classes, kernel_init=torch_like_init, name='fc2')(x)
