"""Score: the model's confidence and predicted class for every example, in one jitted call."""

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding

from pl_jax import augment
from pl_jax import sharding as sharding_lib


_STATIC = ('apply_fn', 'chunk_size', 'sharding', 'augmentation', 'views')


@functools.partial(jax.jit, static_argnames=_STATIC)
def score(apply_fn: Callable[..., jax.Array], params: Any, images: jax.Array,
          chunk_size: int = 1024, sharding: NamedSharding | None = None,
          augmentation: augment.Augmentation = augment.Augmentation(), views: int = 0,
          key: jax.Array | None = None) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Scores all images in fixed-size chunks (`lax.map`), so memory stays bounded.

  Args:
    apply_fn: the model's apply, `apply_fn({'params': params}, uint8[B, H, W, C])`
      -> logits float32[B, K].
    images: uint8[N, H, W, C]; padded inside to a multiple of chunk_size.
    sharding: how to split each chunk over devices (sharding.batch_sharding), or
      None for one device.
    augmentation, views, key: with views > 0 the probabilities are the mean
      over each image and `views` augmented copies of it (drawn from key, the
      same for the same key): a prediction that does not hold under a small
      shift or rotation loses confidence. 0: the image alone.

  Returns:
    confidence: float32[N], the top softmax probability.
    predicted: int32[N], the class that has it.
    margin: float32[N], the top probability minus the second (how sure the
      model is between its two best guesses).
  """
  probabilities = _probabilities(apply_fn, params, images, chunk_size, sharding,
                                 augmentation, views, key)
  top2 = jax.lax.top_k(probabilities, 2)[0]
  scores = (top2[:, 0], jnp.argmax(probabilities, axis=-1).astype(jnp.int32),
            top2[:, 0] - top2[:, 1])
  # Whole on every device: selection and the host read them (many hosts too).
  return scores if sharding is None else sharding_lib.replicate(scores, sharding.mesh)


@functools.partial(jax.jit, static_argnames=_STATIC)
def probabilities(apply_fn: Callable[..., jax.Array], params: Any, images: jax.Array,
                  chunk_size: int = 1024, sharding: NamedSharding | None = None,
                  augmentation: augment.Augmentation = augment.Augmentation(),
                  views: int = 0, key: jax.Array | None = None) -> jax.Array:
  """float32[N, K]: the softmax whose top class and value `score` returns (same
  arguments), for averaging over models (experiments/ensemble.py)."""
  return _probabilities(apply_fn, params, images, chunk_size, sharding, augmentation, views,
                        key)


def _probabilities(apply_fn, params, images, chunk_size, sharding, augmentation, views,
                   key) -> jax.Array:
  """The softmax of every image, chunk by chunk (traced inside score's jit)."""
  n = images.shape[0]
  padded = jnp.pad(images, [(0, -n % chunk_size)] + [(0, 0)] * (images.ndim - 1))
  chunks = padded.reshape(-1, chunk_size, *images.shape[1:])
  def chunk_logits(chunk):
    if sharding is not None:  # Data parallel: each device scores a slice.
      chunk = jax.lax.with_sharding_constraint(chunk, sharding)
    return apply_fn({'params': params}, chunk)

  if views == 0:  # Kept apart so that runs without views keep their numbers to the bit.
    logits = jax.lax.map(chunk_logits, chunks)
    return jax.nn.softmax(logits.reshape(-1, logits.shape[-1])[:n])

  def chunk_probabilities(indexed_chunk):
    index, chunk = indexed_chunk
    copies = [chunk] + [augmentation(jax.random.fold_in(jax.random.fold_in(key, view), index),
                                     chunk) for view in range(views)]
    # One pass over the image and its views stacked: 5.8 s against 7.0 s for
    # three passes over MNIST's training set on 2 cores (BENCHMARKS.md).
    each = jax.nn.softmax(chunk_logits(jnp.concatenate(copies)))
    each = each.reshape(views + 1, chunk_size, -1)  # [copy, image, class]
    total = each[0]
    for view in range(1, views + 1):  # Summed in order, as when scored one by one.
      total += each[view]
    return total / (views + 1)
  per_chunk = jax.lax.map(chunk_probabilities, (jnp.arange(len(chunks)), chunks))
  return per_chunk.reshape(-1, per_chunk.shape[-1])[:n]
