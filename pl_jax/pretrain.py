"""Pretrain: contrastive self-supervised learning (SimCLR, Chen et al. 2020) on
the training images before iteration 1, labels unread.

    for step = 1 .. pretrain_steps:
      draw a batch of training images, two augmented views of each
      embed every view: the CNN up to fc1, then a projection head
      NT-Xent: each view must pick out its twin among the other 2B - 1

Why: with a few labels per class the first model is weak, and its confident
mistakes on whole classes are what the loop then amplifies. Features learned
from the whole pool already sort most digits; iteration 1 starts from them.
The CNN's conv1, conv2 and fc1 carry over; fc2 and the head do not.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
import tqdm
from flax.training import train_state

from pl_jax import augment, models

# The settings of the pretraining; fixed, so that only its length is a lever.
BATCH_SIZE = 256  # images a step, each seen in two views
TEMPERATURE = 0.5  # of the similarities in NT-Xent (SimCLR's for small batches)
LEARNING_RATE = 1e-3  # Adam
PROJECTION = (128, 64)  # the head's layers
# Stronger than the training augmentation: the views must differ enough that
# telling twins apart needs the digit's shape, not its pixels.
AUGMENTATION = augment.Augmentation(max_shift=4, max_degrees=25.0, max_scale=0.25)
# Steps per jitted call (progress and the host's checks in between).
STEPS_PER_CALL = 50
# The CNN layers that carry over into the models of the loop.
CARRIED = ('conv1', 'conv2', 'fc1')


class ProjectionHead(nn.Module):
  """features float32[B, F] -> projections float32[B, PROJECTION[-1]]."""

  @nn.compact
  def __call__(self, features: jax.Array) -> jax.Array:
    x = nn.relu(nn.Dense(PROJECTION[0], name='hidden')(features))
    return nn.Dense(PROJECTION[1], name='out')(x)


def nt_xent(projections: jax.Array, temperature: float = TEMPERATURE) -> jax.Array:
  """SimCLR's loss. projections: float32[2B, D], rows i and i + B the two
  views of image i -> float32[], the mean cross-entropy of picking each row's
  twin by cosine similarity among the other 2B - 1 rows."""
  n = projections.shape[0]
  z = projections / jnp.maximum(jnp.linalg.norm(projections, axis=-1, keepdims=True), 1e-12)
  similarity = jnp.where(jnp.eye(n, dtype=bool), -1e9, z @ z.T / temperature)
  twins = (jnp.arange(n) + n // 2) % n
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(similarity, twins))


def init_state(key: jax.Array, model: models.CNN,
               image_shape: tuple[int, ...]) -> train_state.TrainState:
  """The CNN's and the head's parameters, freshly initialised, with Adam.
  image_shape: (H, W, C)."""
  cnn_key, head_key = jax.random.split(key)
  dummy = jnp.zeros((1, *image_shape), jnp.uint8)
  cnn = model.init(cnn_key, dummy)['params']
  features = model.apply({'params': cnn}, dummy, features=True)
  head = ProjectionHead().init(head_key, features)['params']
  return train_state.TrainState.create(apply_fn=None, params={'cnn': cnn, 'head': head},
                                       tx=optax.adam(LEARNING_RATE))


def embed(model: models.CNN, params: Any, views: jax.Array, splits: int) -> jax.Array:
  """The head's projections of views uint8[2B, H, W, C] -> float32[2B, D],
  the CNN's part in `splits` passes (faster on a multi-core CPU, as in
  train.train_step); the loss couples the whole batch, so only the passes split."""
  size = views.shape[0] // splits
  features = jnp.concatenate([
      model.apply({'params': params['cnn']}, views[part * size:(part + 1) * size],
                  features=True)
      for part in range(splits)])
  return ProjectionHead().apply({'params': params['head']}, features)


@functools.partial(jax.jit, static_argnames=('model', 'splits'), donate_argnames='state')
def run_steps(state: train_state.TrainState, key: jax.Array, first_step: jax.Array,
              steps: jax.Array, images: jax.Array, members: jax.Array, model: models.CNN,
              splits: int) -> tuple[train_state.TrainState, jax.Array]:
  """`steps` steps from step first_step; returns the state and their mean loss.
  first_step, steps: int32[] (traced: one compilation serves every call).

  images: uint8[N, H, W, C]; members: int32[M], the indices of the images it
  may draw (with replacement: M is in the tens of thousands, a batch 256).
  """
  def step_fn(step, carry):
    state, loss_sum = carry
    step_key = jax.random.fold_in(key, first_step + step)
    draw_key, first_key, second_key = jax.random.split(step_key, 3)
    batch = images[members[jax.random.randint(draw_key, (BATCH_SIZE,), 0, members.shape[0])]]
    views = jnp.concatenate([AUGMENTATION(first_key, batch), AUGMENTATION(second_key, batch)])
    loss, grads = jax.value_and_grad(
        lambda params: nt_xent(embed(model, params, views, splits)))(state.params)
    return state.apply_gradients(grads=grads), loss_sum + loss
  state, loss_sum = jax.lax.fori_loop(0, steps, step_fn, (state, jnp.float32(0)))
  return state, loss_sum / steps


def pretrain(key: jax.Array, model: models.CNN, images: jax.Array, members: jax.Array,
             steps: int, splits: int = 1, progress: bool = True) -> tuple[Any, list[float]]:
  """Pretrains the CNN on images[members] (labels unread) for `steps` steps.

  Returns the CNN's parameters of the CARRIED layers and the mean loss of each
  call of STEPS_PER_CALL steps. splits must divide 2 * BATCH_SIZE.
  """
  if (2 * BATCH_SIZE) % splits:
    raise ValueError(f'{2 * BATCH_SIZE} views do not split into {splits} equal parts')
  init_key, steps_key = jax.random.split(key)
  state = init_state(init_key, model, images.shape[1:])
  losses = []
  calls = math.ceil(steps / STEPS_PER_CALL)
  with tqdm.trange(calls, desc='pretrain', unit='call', disable=not progress, leave=False,
                   dynamic_ncols=True) as bar:
    for call in bar:
      count = min(STEPS_PER_CALL, steps - call * STEPS_PER_CALL)
      state, loss = run_steps(state, steps_key, jnp.int32(call * STEPS_PER_CALL),
                              jnp.int32(count), images, members, model, splits)
      losses.append(float(loss))
      bar.set_postfix(loss=f'{losses[-1]:.3f}')
  return {name: state.params['cnn'][name] for name in CARRIED}, losses
