"""Training and pool-scoring throughput of the reference CNN: pl_jax against an
equivalent PyTorch model (same layers, batch and Adam), and against the device's
arithmetic limit.

  python benchmarks/throughput.py [--steps=200] [--score_images=20000]
  python benchmarks/throughput.py --steps=2000 --score_images=60000   # on a GPU

Runs on JAX's default device; PyTorch runs on the same kind (CUDA where JAX
runs on a GPU). PyTorch is optional: without it, its rows say so. Prints a
markdown table to paste into BENCHMARKS.md (with the machine and the date).
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from pl_jax import atomic, models, score, sharding, sweep, timing, train

FLAGS = flags.FLAGS
flags.DEFINE_integer('batch_size', 64, 'Training batch size (the seed\'s).')
flags.DEFINE_integer('steps', 200, 'Timed training steps (after warm-up).')
flags.DEFINE_integer('score_images', 20000, 'Images scored per timed pass.')
flags.DEFINE_integer('score_chunk_size', 1024, 'Scoring chunk size.')
flags.DEFINE_integer('repeats', 3, 'Timed repetitions; the best is reported.')
flags.DEFINE_integer('batch_splits', 1, 'As run.py\'s flag: each batch\'s gradient as the sum '
                     'of this many parts, each its own pass (faster on a multi-core CPU).')
flags.DEFINE_bool('pytorch', True, 'Measure the PyTorch baseline too (if installed).')
flags.DEFINE_string('json_out', None, 'Also write the numbers to this JSON file.')
flags.DEFINE_integer('cpu_devices', 0, 'As run.py\'s flag: split a CPU host into this many '
                     'JAX devices; 0: JAX\'s own choice.')


def best_of(repeats, run):
  """The shortest of `repeats` timed calls of run() (which blocks until done)."""
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    run()
    times.append(time.perf_counter() - start)
  return min(times)


def jax_throughput(images, labels):
  """(train images/s in epoch calls, in a Python loop of steps, score images/s,
  train FLOPs/image, score FLOPs/image)."""
  model = models.CNN()
  mesh = sharding.data_mesh()
  batches = sharding.batch_sharding(mesh)
  images = jax.device_put(images, sharding.replicated(mesh))
  labels = jax.device_put(labels, sharding.replicated(mesh))
  n = len(labels)
  optimizer = train.make_optimizer(1e-3)
  state = train.create_train_state(jax.random.PRNGKey(0), model, images.shape[1:], optimizer)
  order = train.epoch_order(jax.random.PRNGKey(1), jnp.ones(n, bool), FLAGS.batch_size)
  key = jax.random.PRNGKey(2)
  options = train.TrainOptions(FLAGS.batch_size, splits=FLAGS.batch_splits, sharding=batches)
  step_args = lambda step: (order, step % (n // FLAGS.batch_size), key, images, labels, n,
                            options)
  compiled = train.train_step_at.lower(state, *step_args(0)).compile()
  # The cost of one device's share of the partitioned step; the batch's is mesh.size times.
  train_flops = (compiled.cost_analysis().get('flops', float('nan')) * mesh.size
                 / FLAGS.batch_size)

  def run_step_loop():  # For comparison: Python dispatches every step.
    nonlocal state
    for step in range(FLAGS.steps):
      state, loss = train.train_step_at(state, *step_args(step))
      if mesh.size > 1:  # Queued multi-device steps deadlock XLA:CPU (README, Devices).
        loss.block_until_ready()
    jax.block_until_ready(state.params)

  mask = jax.device_put(np.arange(n) < FLAGS.steps * FLAGS.batch_size,
                        sharding.replicated(mesh))

  def run_epoch():  # What a run does: one jitted call, the steps in a fori_loop.
    nonlocal state
    state, loss = train.train_epoch(state, key, images, labels, mask, options)
    jax.block_until_ready(loss)

  rates = {}
  for name, run in (('epoch', run_epoch), ('step_loop', run_step_loop)):
    run()  # Warm-up (compilation).
    rates[name] = FLAGS.steps * FLAGS.batch_size / best_of(FLAGS.repeats, run)

  pool = images[:FLAGS.score_images] if FLAGS.score_images <= n else jnp.tile(
      images, (-(-FLAGS.score_images // n), 1, 1, 1))[:FLAGS.score_images]
  pool = jax.device_put(pool, sharding.replicated(mesh))
  scorer = lambda: jax.block_until_ready(score.score(
      model.apply, state.params, pool, FLAGS.score_chunk_size, batches))
  # XLA's cost analysis counts a loop body once, so count one chunk's forward pass.
  chunk = pool[:FLAGS.score_chunk_size]
  score_flops = jax.jit(model.apply).lower({'params': state.params}, chunk).compile(
  ).cost_analysis().get('flops', float('nan')) / len(chunk)
  scorer()
  score_rate = len(pool) / best_of(FLAGS.repeats, scorer)
  return rates['epoch'], rates['step_loop'], score_rate, train_flops, score_flops


def torch_throughput(images, labels):
  """(train images/s, score images/s, version, threads or GPU), or None
  without PyTorch. On the GPU when JAX runs on one, with PyTorch's defaults."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  from torch import nn  # pylint: disable=g-import-not-at-top
  on_gpu = jax.default_backend() == 'gpu' and torch.cuda.is_available()
  device = torch.device('cuda' if on_gpu else 'cpu')
  # GPU work is asynchronous: a timed call must wait for it.
  synchronize = torch.cuda.synchronize if on_gpu else lambda: None
  torch.manual_seed(0)
  net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
                      nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128),
                      nn.ReLU(), nn.Linear(128, 10)).to(device)
  optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
  loss_fn = nn.CrossEntropyLoss()
  # As a user would: float images normalised once, batches sliced on the fly.
  x = ((torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - 0.1307)
       / 0.3081).to(device)
  y = torch.from_numpy(labels.astype(np.int64)).to(device)
  n = len(y)

  def run_steps():
    for step in range(FLAGS.steps):
      start = (step % (n // FLAGS.batch_size)) * FLAGS.batch_size
      optimizer.zero_grad()
      loss = loss_fn(net(x[start:start + FLAGS.batch_size]), y[start:start + FLAGS.batch_size])
      loss.backward()
      optimizer.step()
    synchronize()

  run_steps()
  train_rate = FLAGS.steps * FLAGS.batch_size / best_of(FLAGS.repeats, run_steps)
  pool = x[:FLAGS.score_images] if FLAGS.score_images <= n else x.repeat(
      -(-FLAGS.score_images // n), 1, 1, 1)[:FLAGS.score_images]

  def scorer():
    with torch.no_grad():
      for start in range(0, len(pool), FLAGS.score_chunk_size):
        torch.softmax(net(pool[start:start + FLAGS.score_chunk_size]), -1).max(-1)
    synchronize()

  scorer()
  score_rate = len(pool) / best_of(FLAGS.repeats, scorer)
  where = torch.cuda.get_device_name() if on_gpu else f'{torch.get_num_threads()} threads'
  return train_rate, score_rate, torch.__version__, where


def main(argv):
  del argv
  sharding.split_cpu_host(FLAGS.cpu_devices)
  rng = np.random.default_rng(0)
  # Throughput does not depend on pixel values; random digits-sized data will do.
  n = max(8192, FLAGS.steps * FLAGS.batch_size)
  images = rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)
  labels = rng.integers(0, 10, n).astype(np.int32)
  train_rate, step_loop_rate, score_rate, train_flops, score_flops = jax_throughput(
      images, labels)
  baseline = torch_throughput(images, labels) if FLAGS.pytorch else None
  device = jax.devices()[0]
  # A GPU needs a larger product to reach its peak.
  peak_size = 2048 if device.platform == 'cpu' else 8192
  peak = timing.matmul_flops(peak_size)
  print(f'machine: {sweep.machine()}; JAX {jax.__version__} on {len(jax.devices())} '
        f'{device.platform} device(s) ({device.device_kind}); {sweep.today()}')
  print(f'batch {FLAGS.batch_size} (in {FLAGS.batch_splits} part(s)), {FLAGS.steps} timed steps, '
        f'{FLAGS.score_images} images '
        f'scored in chunks of {FLAGS.score_chunk_size}, best of {FLAGS.repeats}\n')
  print('| | pl_jax (JAX) | PyTorch | pl_jax / PyTorch | FLOPs per image | share of peak |')
  print('|---|---:|---:|---:|---:|---:|')
  for name, ours, theirs, flops in (
      ('train images/s (one call per epoch)', train_rate, baseline and baseline[0],
       train_flops),
      ('train images/s (Python loop of steps)', step_loop_rate, baseline and baseline[0],
       train_flops),
      ('score images/s', score_rate, baseline and baseline[1], score_flops)):
    ratio = f'{ours / theirs:.2f}x' if theirs else '-'
    print(f'| {name} | {ours:,.0f} | {f"{theirs:,.0f}" if theirs else "not installed"} | '
          f'{ratio} | {flops / 1e6:.1f} M | {100 * ours * flops / peak:.1f} % |')
  print(f'\nScoring {FLAGS.score_images:,} images took {1e3 * FLAGS.score_images / score_rate:.1f} '
        f'ms (pl_jax).')
  if baseline:
    print(f'PyTorch {baseline[2]}, {baseline[3]}.')
  print(f'Peak: {peak / 1e9:,.0f} GFLOP/s, a {peak_size} x {peak_size} float32 matrix product '
        'at JAX\'s default precision, as measured.')
  if FLAGS.json_out:
    atomic.write_json(FLAGS.json_out, {
        'devices': len(jax.devices()), 'batch_splits': FLAGS.batch_splits,
        'train_images_per_s': train_rate,
        'train_images_per_s_step_loop': step_loop_rate, 'score_images_per_s': score_rate,
        'pytorch_train_images_per_s': baseline and baseline[0],
        'pytorch_score_images_per_s': baseline and baseline[1], 'peak_flops': peak})

if __name__ == '__main__':
  app.run(main)
