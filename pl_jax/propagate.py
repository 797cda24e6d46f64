"""Propagate: the first pseudo-labels from the unlabeled images themselves, by
label spreading over a nearest-neighbour graph (Zhou et al. 2004, "Learning
with Local and Global Consistency"), before any model is trained.

Why: with one or two labels per class the first model is weak (about 55 % on
MNIST's validation split from 10 labels) and its confident mistakes hand whole
classes to the wrong digit; the pool's own neighbourhoods sort the digits far
better from the same labels (97.0-97.5 % of the validation split once the
images are deskewed, against 81.6-92.2 % on raw pixels, BENCHMARKS.md).

The pipeline, each step a pure function of full-size arrays (masks, not
subsets, so shapes never depend on the labels):
  embed     pixels -> deskewed (augment.deskew), then the top principal
                       components, unit length
  neighbours        -> each image's k most similar images (cosine), a sparse graph
  spread    labels  -> class scores flowing along the graph's edges
"""

import concurrent.futures
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from pl_jax import augment

# Not tuned: the usual values for MNIST-sized pixel graphs. Components of the
# pixels kept, neighbours per image, the heat kernel's width on cosine distance,
# how much of the scores comes from the neighbours at each step (Zhou et al.'s
# alpha), and the steps (0.99^400 < 0.02: near the fixed point).
COMPONENTS = 50
NEIGHBOURS = 10
WIDTH = 0.05
ALPHA = 0.99
STEPS = 400
# Images whose similarities are computed at once (a [CHUNK, N] matrix). Why
# so few: 64 x 60,000 float32 stay in a CPU's cache between the product and
# the top-k; MNIST's neighbours took 9.8 s on 2 cores against 16.9 s in chunks
# of 2,048, the same to the bit (BENCHMARKS.md).
CHUNK = 64
# Chunks computed at once, from threads. Why: XLA:CPU's top-k runs on one core;
# MNIST's neighbours took 7.1-7.9 s on 2 cores from 2 threads against 10.6-11.7
# s from one, the same to the bit (BENCHMARKS.md).
THREADS = min(8, os.cpu_count() or 1)


def embed(images: np.ndarray, nodes: np.ndarray, components: int = COMPONENTS) -> jax.Array:
  """The graph's embedding: the deskewed images' principal_components.

  images: uint8[N, H, W, C]; nodes: bool[N]. Returns float32[N, components].
  """
  return principal_components(augment.deskewed(images), nodes, components)


def principal_components(images: np.ndarray, nodes: np.ndarray,
                         components: int = COMPONENTS) -> jax.Array:
  """The images' top principal components (fitted on the nodes), unit length.

  images: uint8[N, H, W, C]; nodes: bool[N], the images the graph is built on.
  Returns float32[N, components] (rows of non-nodes too; `neighbours` ignores them).
  """
  pixels = jnp.asarray(images.reshape(len(images), -1), jnp.float32) / 255.0
  mean = jnp.mean(pixels[nodes], axis=0)
  centred = pixels - mean
  # The components of an evenly spaced subset of the nodes: 10,000 rows fix
  # 50 components of MNIST as well as 60,000, in a fraction of the time.
  (node_rows,) = np.nonzero(nodes)
  sample = node_rows[::max(1, len(node_rows) // 10_000)]
  _, _, components_t = jnp.linalg.svd(centred[sample], full_matrices=False)
  projected = centred @ components_t[:components].T
  return projected / jnp.maximum(jnp.linalg.norm(projected, axis=1, keepdims=True), 1e-12)


@functools.partial(jax.jit, static_argnames='k')
def _chunk_neighbours(rows: jax.Array, embedding: jax.Array, nodes: jax.Array,
                      first: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
  similarity = rows @ embedding.T  # [chunk, N]
  own = first + jnp.arange(rows.shape[0])
  # Neither itself nor a non-node is anyone's neighbour.
  similarity = jnp.where(nodes[None, :], similarity, -jnp.inf)
  similarity = similarity.at[jnp.arange(rows.shape[0]), own].set(-jnp.inf)
  values, indices = jax.lax.top_k(similarity, k)
  return indices.astype(jnp.int32), values


def neighbours(embedding: jax.Array, nodes: np.ndarray,
               k: int = NEIGHBOURS) -> tuple[jax.Array, jax.Array]:
  """Each image's k nearest nodes by cosine similarity, and the edge weights.

  embedding: float32[N, D] (unit rows); nodes: bool[N].
  Returns (int32[N, k] indices, float32[N, k] weights exp((cos - 1) / WIDTH)).
  Non-node rows get weights 0: they send and receive nothing.
  """
  n = embedding.shape[0]
  nodes = jnp.asarray(nodes)
  padded = jnp.pad(embedding, ((0, -n % CHUNK), (0, 0)))

  def chunk(first):  # Waited for, so at most THREADS [CHUNK, N] blocks at once.
    return jax.block_until_ready(_chunk_neighbours(padded[first:first + CHUNK], embedding,
                                                   nodes, jnp.int32(first), k))
  with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
    indices, similarities = zip(*pool.map(chunk, range(0, n, CHUNK)))
  indices = jnp.concatenate(indices)[:n]
  weights = jnp.exp((jnp.concatenate(similarities)[:n] - 1.0) / WIDTH)
  return indices, jnp.where(nodes[:, None], weights, 0.0)


@functools.partial(jax.jit, static_argnames=('num_classes', 'steps'))
def spread(indices: jax.Array, weights: jax.Array, labels: jax.Array, known: jax.Array,
           num_classes: int, alpha: float = ALPHA, steps: int = STEPS) -> jax.Array:
  """Label spreading: F <- alpha S F + (1 - alpha) Y, S the symmetrically
  normalised graph (each kNN edge counted both ways), Y the known labels one-hot.

  indices, weights: int32[N, k], float32[N, k] (neighbours); labels: int32[N];
  known: bool[N], whose labels seed the spreading.
  Returns float32[N, num_classes]: class scores, each class's column scaled to
  sum 1 over the nodes (class mass normalisation, Zhu et al. 2003), so a class
  with few seeds is not drowned by one with many.
  """
  n, k = indices.shape
  seeds = jnp.where(known[:, None], jax.nn.one_hot(labels, num_classes), 0.0)
  rows = jnp.repeat(jnp.arange(n), k)
  degree = (jnp.zeros(n).at[rows].add(weights.reshape(-1))
            .at[indices.reshape(-1)].add(weights.reshape(-1)))
  scale = jnp.where(degree > 0, jax.lax.rsqrt(jnp.maximum(degree, 1e-30)), 0.0)

  def step(_, scores):
    scaled = scores * scale[:, None]
    out = jnp.einsum('nk,nkc->nc', weights, scaled[indices])  # each row from its neighbours
    out = out.at[indices.reshape(-1)].add(  # and each neighbour from the row
        (weights[..., None] * scaled[:, None, :]).reshape(n * k, num_classes))
    return alpha * out * scale[:, None] + (1 - alpha) * seeds

  scores = jax.lax.fori_loop(0, steps, step, seeds)
  return scores / jnp.maximum(jnp.sum(scores, axis=0, keepdims=True), 1e-30)


def propagate(images: np.ndarray, labels: np.ndarray, known: np.ndarray, nodes: np.ndarray,
              num_classes: int, embedding=embed) -> tuple[jax.Array, jax.Array]:
  """Every node's class by label spreading from the known labels, and a score
  to rank by: its share of its row's class scores (in [0, 1]).

  images: uint8[N, H, W, C]; labels: int32[N] (read where known); known: bool[N];
  nodes: bool[N], the graph's images (known ones among them); embedding:
  (images, nodes) -> float32[N, D] unit rows, the graph's space (embed; the
  propagation probe compares principal_components of the raw pixels).
  Returns (float32[N] score, int32[N] class); rows outside nodes score 0.
  """
  indices, weights = neighbours(embedding(images, nodes), nodes)
  scores = spread(indices, weights, jnp.asarray(labels, jnp.int32), jnp.asarray(known),
                  num_classes)
  share = jnp.max(scores, axis=1) / jnp.maximum(jnp.sum(scores, axis=1), 1e-30)
  return jnp.where(jnp.asarray(nodes), share, 0.0), jnp.argmax(scores, axis=1).astype(jnp.int32)
