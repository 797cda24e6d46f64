"""Are repeated training epochs bit-identical? One epoch call (train.train_epoch)
from the same state and key, repeated, on this host's devices.

  python benchmarks/determinism.py [--cpu_devices=2] [--images=20000] [--repeats=6]

Prints how many distinct final parameter sets the repeats gave (1: deterministic).
Why it exists: on XLA:CPU, one device gave 1, while 2 devices (--cpu_devices=2)
gave several, which is why run.py does not split a CPU host by default (README,
Devices).
"""

import time

import jax
import numpy as np
from absl import app, flags

from pl_jax import models, sharding, sweep, train

FLAGS = flags.FLAGS
flags.DEFINE_integer('cpu_devices', 0, 'As run.py\'s flag: split a CPU host into this many '
                     'JAX devices; 0: JAX\'s own choice.')
flags.DEFINE_integer('batch_splits', 1, 'As run.py\'s flag: each batch in this many parts.')
flags.DEFINE_integer('images', 20000, 'Training images in the epoch (batch 64).')
flags.DEFINE_integer('repeats', 6, 'Repeated epoch calls.')


def main(argv):
  del argv
  sharding.split_cpu_host(FLAGS.cpu_devices)
  mesh = sharding.data_mesh()
  rng = np.random.default_rng(0)
  put = lambda array: jax.device_put(array, sharding.replicated(mesh))
  images = put(rng.integers(0, 256, (FLAGS.images, 28, 28, 1), dtype=np.uint8))
  labels = put(rng.integers(0, 10, FLAGS.images).astype(np.int32))
  mask = put(np.ones(FLAGS.images, bool))
  optimizer = train.make_optimizer(1e-3)

  def epoch() -> bytes:
    state = put(train.create_train_state(jax.random.PRNGKey(0), models.CNN(), (28, 28, 1),
                                         optimizer))
    options = train.TrainOptions(64, splits=FLAGS.batch_splits,
                                 sharding=sharding.batch_sharding(mesh))
    state, _ = train.train_epoch(state, jax.random.PRNGKey(1), images, labels, mask, options)
    return b''.join(np.asarray(leaf).tobytes() for leaf in jax.tree.leaves(
        jax.device_get(state.params)))

  epoch()  # Compile.
  start = time.perf_counter()
  results = [epoch() for _ in range(FLAGS.repeats)]
  seconds = time.perf_counter() - start
  print(f'machine: {sweep.machine()}; {len(jax.devices())} {jax.default_backend()} '
        f'device(s), batch in {FLAGS.batch_splits} part(s); {sweep.today()}')
  print(f'{FLAGS.repeats} epochs of {FLAGS.images} images: {len(set(results))} distinct '
        f'result(s); {FLAGS.repeats * FLAGS.images / seconds:,.0f} images/s')


if __name__ == '__main__':
  app.run(main)
