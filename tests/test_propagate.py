import chex
import jax.numpy as jnp
import numpy as np
import pytest

from pl_jax import propagate


def _blobs(per_class=40, num_classes=3, seed=0):
  """Images of three kinds, each a shape of its own (a horizontal bar, a
  vertical bar, a square's outline) a few pixels either way of the centre, with
  faint noise: the graph must tell them apart by shape, as deskewing centres
  every image."""
  rng = np.random.RandomState(seed)
  images = rng.randint(0, 10, (per_class * num_classes, 16, 16, 1)).astype(np.uint8)
  labels = np.repeat(np.arange(num_classes), per_class).astype(np.int32)
  ring = np.ones((8, 8, 1), bool)
  ring[2:-2, 2:-2] = False
  shapes = [np.ones((2, 8, 1), bool), np.ones((8, 2, 1), bool), ring]
  for i, c in enumerate(labels):
    shape = shapes[c]
    r, k = (8 - shape.shape[0] // 2 + rng.randint(-2, 3),
            8 - shape.shape[1] // 2 + rng.randint(-2, 3))
    window = images[i, r:r + shape.shape[0], k:k + shape.shape[1]]
    window[shape] = rng.randint(180, 255, int(shape.sum()))
  return images, labels


def test_embedding_is_unit_length_and_fitted_on_the_nodes():
  images, _ = _blobs()
  nodes = np.ones(len(images), bool)
  embedding = propagate.embed(images, nodes, components=5)
  chex.assert_shape(embedding, (len(images), 5))
  chex.assert_type(embedding, jnp.float32)
  np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, rtol=1e-5)


def test_neighbours_are_nodes_and_never_oneself():
  images, labels = _blobs()
  nodes = np.ones(len(images), bool)
  nodes[::7] = False
  indices, weights = propagate.neighbours(propagate.embed(images, nodes, 5), nodes, k=4)
  chex.assert_shape((indices, weights), (len(images), 4))
  chex.assert_type((indices, weights), (jnp.int32, jnp.float32))
  indices, weights = np.asarray(indices), np.asarray(weights)
  assert nodes[indices].all()
  assert (indices != np.arange(len(images))[:, None]).all()
  assert (weights[~nodes] == 0).all() and (weights[nodes] > 0).all()
  # Well-separated kinds: every neighbour of a node is of its kind.
  assert (labels[indices[nodes]] == labels[nodes][:, None]).all()


def test_neighbours_do_not_depend_on_the_chunk_size_or_the_threads(monkeypatch):
  images, _ = _blobs()  # 120 images: chunks of 16 and 64 end in a padded one.
  nodes = np.ones(len(images), bool)
  nodes[::5] = False
  embedding = propagate.embed(images, nodes, 5)
  graphs = []
  for chunk, threads in ((1024, 1), (64, 1), (16, 1), (16, 3)):
    monkeypatch.setattr(propagate, 'CHUNK', chunk)
    monkeypatch.setattr(propagate, 'THREADS', threads)
    graphs.append(propagate.neighbours(embedding, nodes, k=4))
  chex.assert_trees_all_equal(*graphs)


def test_one_label_per_kind_labels_every_node():
  images, labels = _blobs()
  known = np.zeros(len(images), bool)
  known[[0, 40, 80]] = True  # One of each kind.
  nodes = np.ones(len(images), bool)
  nodes[-5:] = False  # Held out: not in the graph.
  score, predicted = propagate.propagate(images, labels, known, nodes, num_classes=3)
  chex.assert_shape((score, predicted), (len(images),))
  chex.assert_type((score, predicted), (jnp.float32, jnp.int32))
  score, predicted = np.asarray(score), np.asarray(predicted)
  np.testing.assert_array_equal(predicted[nodes], labels[nodes])
  assert (score[~nodes] == 0).all()
  assert ((score[nodes] > 1 / 3) & (score[nodes] <= 1 + 1e-6)).all()


def test_spread_keeps_each_class_mass_and_reads_only_known_labels():
  images, labels = _blobs()
  nodes = np.ones(len(images), bool)
  indices, weights = propagate.neighbours(propagate.embed(images, nodes, 5), nodes, k=4)
  known = np.zeros(len(images), bool)
  known[[0, 40, 80]] = True
  scores = propagate.spread(indices, weights, jnp.asarray(labels), jnp.asarray(known), 3)
  chex.assert_shape(scores, (len(images), 3))
  np.testing.assert_allclose(np.asarray(scores).sum(axis=0), 1.0, rtol=1e-5)
  garbled = np.where(known, labels, (labels + 1) % 3)  # Unknown labels must not matter.
  np.testing.assert_array_equal(
      propagate.spread(indices, weights, jnp.asarray(garbled), jnp.asarray(known), 3), scores)


@pytest.mark.parametrize('steps', [0, 1])
def test_spread_starts_from_the_seeds(steps):
  indices = jnp.array([[1], [0], [1]], jnp.int32)
  weights = jnp.ones((3, 1))
  known = jnp.array([True, False, False])
  scores = propagate.spread(indices, weights, jnp.zeros(3, jnp.int32), known, 2, steps=steps)
  if steps == 0:  # The seeds alone, normalised per class (an empty class stays 0).
    np.testing.assert_allclose(scores, [[1, 0], [0, 0], [0, 0]])
  else:  # One step reaches the seed's neighbour, and its neighbour's.
    assert scores[1, 0] > 0 and scores[2, 0] == 0
