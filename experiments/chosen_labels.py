"""Labels chosen for coverage instead of at random (an oracle playing the person
who labels them): the medoids of k-means over the graph's embedding
(propagate.embed: the deskewed images' top principal components, unit length)
of MNIST's first 50,000 training images, the pool of a validation run. Writes
a CSV of index,label (the true labels) for run.py's --manual_labels.

  python experiments/chosen_labels.py --seed=100 --k=99 --out=chosen-s100.csv
  python run.py --n_labeled=1 --seed=100 --manual_labels=chosen-s100.csv \
      --validation=10000 --notest_split --threshold=0.99

(--n_labeled=1: run.py draws at least one label, so 99 chosen make 100.)
"""

import numpy as np
from absl import app, flags

from pl_jax import atomic, data, propagate

FLAGS = flags.FLAGS
flags.DEFINE_integer('seed', 100, 'Seeds the k-means++ start.')
flags.DEFINE_integer('k', 99, 'How many labels to choose (clusters).')
flags.DEFINE_string('out', None, 'The CSV to write.', required=True)
flags.DEFINE_integer('iterations', 50, 'At most this many k-means steps.')

POOL = 50_000  # MNIST's training images before the validation split's 10,000.


def kmeans(x: np.ndarray, k: int, rng: np.random.Generator,
           iterations: int) -> tuple[np.ndarray, np.ndarray]:
  """Lloyd's k-means from a k-means++ start: x float64[N, D] -> each point's
  cluster int[N], and the centres float64[k, D]."""
  centres = [x[rng.integers(len(x))]]
  nearest = ((x - centres[0]) ** 2).sum(1)
  for _ in range(k - 1):
    centres.append(x[rng.choice(len(x), p=nearest / nearest.sum())])
    nearest = np.minimum(nearest, ((x - centres[-1]) ** 2).sum(1))
  centres = np.array(centres)
  for _ in range(iterations):
    assign = np.argmax(x @ centres.T - 0.5 * (centres ** 2).sum(1), axis=1)
    moved = np.array([x[assign == j].mean(0) if (assign == j).any() else centres[j]
                      for j in range(k)])
    if np.allclose(moved, centres):
      break
    centres = moved
  return assign, centres


def main(argv):
  del argv
  dataset = data.load_dataset('mnist')
  nodes = np.zeros(len(dataset.train_labels), bool)
  nodes[:POOL] = True
  x = np.asarray(propagate.embed(dataset.train_images, nodes))[:POOL].astype(np.float64)
  assign, centres = kmeans(x, FLAGS.k, np.random.default_rng(FLAGS.seed), FLAGS.iterations)
  chosen = [members[np.argmin(((x[members] - centres[j]) ** 2).sum(1))]
            for j in range(FLAGS.k) if len(members := np.flatnonzero(assign == j))]
  labels = dataset.train_labels[chosen]
  print('chosen per class (oracle):', np.bincount(labels, minlength=dataset.num_classes).tolist())
  atomic.write_text(FLAGS.out, 'index,label\n' + ''.join(f'{i},{y}\n' for i, y in zip(chosen, labels)))


if __name__ == '__main__':
  app.run(main)
