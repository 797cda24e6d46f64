"""Train: fit a model to the examples a mask marks as the training set.

The training set is always the full-size image array plus a boolean mask, so the
jitted functions compile once per run however the mask changes between
iterations: a device-side shuffle puts the masked examples first, and each step
gathers its batch on the device from that order.
"""

import dataclasses
import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
import tqdm
from flax import struct
from flax.training import train_state
from jax.sharding import NamedSharding

from pl_jax import augment, streams
from pl_jax import sharding as sharding_lib


class TrainState(train_state.TrainState):
  """Parameters, optimizer state and step count (Flax's TrainState), and the
  exponential moving average of the parameters when ema_decay > 0 (else None)."""
  ema_params: Any = None
  ema_decay: float = struct.field(pytree_node=False, default=0.0)


def evaluation_params(state: TrainState):
  """The parameters that score and predict: the moving average when kept."""
  return state.params if state.ema_params is None else state.ema_params


def ema_update(ema_params, params, decay: float, step: jax.Array):
  """One step of the parameters' moving average, after `step` updates (from 1).

  The decay is held at (1 + step) / (10 + step) while that is smaller, as
  TensorFlow's ExponentialMovingAverage does with num_updates: early on, the
  average must not stay anchored to the random init.
  """
  decay = jnp.minimum(decay, (1.0 + step) / (10.0 + step))
  return jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, ema_params, params)


def make_optimizer(learning_rate: float,
                   frozen: tuple[str, ...] = ()) -> optax.GradientTransformation:
  """Adam on every layer except those named in `frozen`, which keep their init.

  Why freezing: the seed's reference code builds its optimizer before its first
  forward pass replaces `fc1`, so that layer is never trained; reproducing the
  seed's numbers needs the same. Build the optimizer once per run: it is part
  of the jitted step's static state, and a new one would recompile the step.
  """
  def label_layers(params):
    return {name: jax.tree.map(lambda _: 'frozen' if name in frozen else 'trained', layer)
            for name, layer in params.items()}
  return optax.multi_transform(
      {'trained': optax.adam(learning_rate), 'frozen': optax.set_to_zero()}, label_layers)


def create_train_state(key: jax.Array, model: nn.Module, image_shape: tuple[int, ...],
                       optimizer: optax.GradientTransformation,
                       frozen: tuple[str, ...] = (), ema_decay: float = 0.0) -> TrainState:
  """A freshly initialised model. image_shape: (H, W, C).

  `frozen` names the layers the optimizer leaves alone; they must exist.
  ema_decay > 0 keeps a moving average of the parameters (ema_update), which
  then scores the pool (evaluation_params).
  """
  params = model.init(key, jnp.zeros((1, *image_shape), jnp.uint8))['params']
  unknown = set(frozen) - set(params)
  if unknown:
    raise ValueError(f'cannot freeze {sorted(unknown)}: the layers are {sorted(params)}')
  # The average starts at the init, in buffers of its own (the step donates both).
  ema_params = jax.tree.map(jnp.copy, params) if ema_decay > 0 else None
  state = TrainState.create(apply_fn=model.apply, params=params, tx=optimizer,
                            ema_params=ema_params, ema_decay=ema_decay)
  # A strongly typed step count, as apply_gradients returns it: otherwise the
  # first step of every fresh model compiles a second variant of the step.
  return state.replace(step=jnp.zeros((), jnp.int32))


@dataclasses.dataclass(frozen=True)
class TrainOptions:
  """How a training run steps: static under jit (hashable), so it travels as one
  argument. batch_size: examples per step; augmentation: drawn per step;
  splits: the batch's parts, each its own pass (train_step); sharding: how to
  split the batch over devices (sharding.batch_sharding), or None for one device."""
  batch_size: int
  augmentation: augment.Augmentation = augment.Augmentation()
  splits: int = 1
  sharding: NamedSharding | None = None


def weighted_cross_entropy(logits: jax.Array, labels: jax.Array,
                           weights: jax.Array) -> jax.Array:
  """Mean cross-entropy over the examples with weight 1 (0 marks padding).

  logits: float32[B, K]; labels: int32[B]; weights: float32[B] -> float32[].
  """
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  return jnp.sum(losses * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def train_step(state: TrainState, images: jax.Array, labels: jax.Array, weights: jax.Array,
               splits: int = 1) -> tuple[TrainState, jax.Array]:
  """One Adam step on a batch. images: uint8[B, H, W, C]; labels: int32[B];
  weights: float32[B] (0: padding).

  splits: the batch's loss as the sum of this many parts' (B divisible by it),
  each part its own forward and backward pass; the same gradient up to float
  rounding. Why: XLA:CPU runs independent computations at once, and 8 parts of
  a batch of 64 train faster on a 2-core CPU than the whole batch, whose small
  convolutions are split over the cores less well (BENCHMARKS.md).

  Raises:
    ValueError: splits does not divide B.
  """
  if images.shape[0] % splits:
    raise ValueError(f'a batch of {images.shape[0]} does not split into {splits} equal parts')
  apply = lambda params, x: state.apply_fn({'params': params}, x)

  def split_loss(params):
    """The batch's mean loss as the weighted sum of its parts' means."""
    size = images.shape[0] // splits
    total_weight = jnp.maximum(jnp.sum(weights), 1.0)
    loss = 0.0
    for part in range(splits):
      rows = slice(part * size, (part + 1) * size)
      part_weight = jnp.maximum(jnp.sum(weights[rows]), 1.0)
      loss += weighted_cross_entropy(apply(params, images[rows]), labels[rows],
                                     weights[rows]) * (part_weight / total_weight)
    return loss

  def loss_fn(params):
    if splits > 1:
      return split_loss(params)
    return weighted_cross_entropy(apply(params, images), labels, weights)
  loss, grads = jax.value_and_grad(loss_fn)(state.params)
  updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  ema_params = (None if state.ema_params is None else
                ema_update(state.ema_params, params, state.ema_decay, state.step + 1))
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                       ema_params=ema_params), loss


# Training sets up to this size are shuffled in a window of this many slots
# rather than across all N examples. Why: an epoch of 100 labels is one step,
# and at the step floor (min_steps) an iteration runs hundreds of them; sorting
# all 60,000 MNIST indices for each took 40 s of a 100-label run's first
# iteration on 2 CPU cores, more than its training.
SHUFFLE_WINDOW = 4096


@functools.partial(jax.jit, static_argnames='batch_size')
def epoch_order(key: jax.Array, train_mask: jax.Array, batch_size: int) -> jax.Array:
  """The order of one epoch: int32[N + batch_size], whose first sum(train_mask)
  entries are the training examples in random order.

  train_mask: bool[N]. What follows them is padding (it fills the last,
  partial batch's slice, whose padded positions weigh 0).
  """
  n = train_mask.shape[0]
  window = min(n, SHUFFLE_WINDOW)
  n_train = jnp.sum(train_mask, dtype=jnp.int32)

  def in_window():  # O(N) to gather, a sort of `window` keys to shuffle.
    (members,) = jnp.nonzero(train_mask, size=window, fill_value=0)
    keys = jax.random.bits(key, (window,), jnp.uint32)
    # Padding slots sort last; stable, so a member whose key ties the maximum
    # still precedes them.
    keys = jnp.where(jnp.arange(window) < n_train, keys, jnp.uint32(0xFFFFFFFF))
    order = members[jnp.argsort(keys, stable=True)].astype(jnp.int32)
    return jnp.concatenate([order, jnp.zeros(n - window, jnp.int32)])

  def across_all():
    permutation = jax.random.permutation(key, n).astype(jnp.int32)
    return permutation[jnp.argsort(~train_mask[permutation], stable=True)]

  order = jax.lax.cond(n_train <= window, in_window, across_all)
  return jnp.concatenate([order, jnp.zeros(batch_size, order.dtype)])


@functools.partial(jax.jit, static_argnames='options', donate_argnames='state')
def train_step_at(state: TrainState, order: jax.Array, step: jax.Array, key: jax.Array,
                  images: jax.Array, labels: jax.Array, n_train: jax.Array,
                  options: TrainOptions) -> tuple[TrainState, jax.Array]:
  """Step `step` of an epoch: the batch is gathered (and augmented) on the device.

  order: int32[N + batch_size] from epoch_order; key: the epoch's augmentation
  key (the step's is folded in); images: uint8[N, H, W, C], the whole training
  array; labels: int32[N], the labels in use; n_train: the number of training
  examples (batch positions past it are padding, weighted 0).
  """
  batch_size, sharding = options.batch_size, options.sharding
  step_key = jax.random.fold_in(key, step)
  batch = jax.lax.dynamic_slice(order, (step * batch_size,), (batch_size,))
  weights = (step * batch_size + jnp.arange(batch_size) < n_train).astype(jnp.float32)
  batch_images, batch_labels = images[batch], labels[batch]
  if sharding is not None:  # Data parallel: each device takes a slice of the batch.
    batch_images, batch_labels, weights = jax.lax.with_sharding_constraint(
        (batch_images, batch_labels, weights), sharding)
  if not options.augmentation.is_identity:
    batch_images = options.augmentation(step_key, batch_images)
  state, loss = train_step(state, batch_images, batch_labels, weights, options.splits)
  if sharding is not None:  # Whole on every device, so every host can read it.
    state, loss = sharding_lib.replicate((state, loss), sharding.mesh)
  return state, loss


@functools.partial(jax.jit, static_argnames='options', donate_argnames='state')
def train_epoch(state: TrainState, key: jax.Array, images: jax.Array, labels: jax.Array,
                train_mask: jax.Array, options: TrainOptions) -> tuple[TrainState, jax.Array]:
  """One shuffled pass over the masked examples in one jitted call, as a PyTorch
  DataLoader with drop_last=False makes it (the last batch may be partial).

  key: the epoch's (streams.py). The steps run in a lax.fori_loop whose length,
  ceil(sum(train_mask) / batch_size), is a traced value: one compilation
  serves every mask.

  Returns the new state and the mean batch loss, float32[].
  """
  augment_key = jax.random.fold_in(key, streams.AUGMENT)
  order = epoch_order(key, train_mask, options.batch_size)
  n_train = jnp.sum(train_mask, dtype=jnp.int32)
  n_steps = (n_train + options.batch_size - 1) // options.batch_size

  def step_fn(step, carry):
    state, loss_sum = carry
    state, loss = train_step_at(state, order, step, augment_key, images, labels, n_train,
                                options)
    return state, loss_sum + loss
  state, loss_sum = jax.lax.fori_loop(0, n_steps, step_fn, (state, jnp.float32(0)))
  return state, loss_sum / jnp.maximum(n_steps, 1)


def num_epochs(n_train: int, batch_size: int, epochs: int, min_steps: int) -> int:
  """`epochs`, raised until the run takes at least `min_steps` optimizer steps.

  Why: 10 epochs over 100 examples is only 20 steps, too few to learn anything;
  the training budget must not shrink with the labeled set.
  """
  steps_per_epoch = max(1, math.ceil(n_train / batch_size))
  return max(epochs, math.ceil(min_steps / steps_per_epoch))


def fit(state: TrainState, key: jax.Array, images: jax.Array, labels: jax.Array,
        train_mask: jax.Array, *, epochs: int, options: TrainOptions, min_steps: int = 0,
        progress: bool = True, description: str = 'train') -> tuple[TrainState, list[float]]:
  """Trains for num_epochs(...) epochs on the examples train_mask (bool[N])
  marks; returns the state and each epoch's mean loss.

  key: the training run's (streams.py; each epoch folds in its number).
  """
  n_train = int(jnp.sum(train_mask))
  total = num_epochs(n_train, options.batch_size, epochs, min_steps)
  losses = []
  with tqdm.trange(total, desc=description, unit='epoch', disable=not progress,
                   leave=False, dynamic_ncols=True) as bar:
    for epoch in bar:
      state, loss = train_epoch(state, jax.random.fold_in(key, epoch), images, labels,
                                train_mask, options)
      losses.append(float(loss))  # Also keeps one epoch in flight at a time.
      bar.set_postfix(loss=f'{losses[-1]:.4f}', n_train=n_train)
  return state, losses
