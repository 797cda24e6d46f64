"""Sharding: data parallelism over every local device with jax.sharding.

One mesh axis, 'data'. Batches (and scoring chunks) are split along it; the
parameters, the optimizer state and the uint8 image arrays are replicated. The
same code runs on 1 device (where the constraints are no-ops) and on N; the
batch size is global and must divide evenly over the devices.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = 'data'


# The fewest images of a training batch one CPU device should get. Splitting the host
# into one XLA:CPU device per core trains 1.66x faster on 2 cores than one device
# using both (BENCHMARKS.md, scaling: the small convolutions split better over the
# batch than over XLA's intra-op threads); 4 and 8 devices of 16 and 8 images were
# slower again. Only 2 cores were measured: this floor keeps bigger hosts from
# cutting the batch into slivers.
MIN_IMAGES_PER_CPU_DEVICE = 32
FORCED_COUNT_FLAG = '--xla_force_host_platform_device_count'


def cpu_device_count(cores: int, batch_size: int, score_chunk_size: int) -> int:
  """How many devices to split a CPU host into: one per core, at most, such that
  the batch and the scoring chunk split evenly and every device gets at least
  MIN_IMAGES_PER_CPU_DEVICE images of a batch (1 when nothing else fits)."""
  fits = [n for n in range(1, max(cores, 1) + 1)
          if batch_size % n == 0 and score_chunk_size % n == 0
          and batch_size // n >= MIN_IMAGES_PER_CPU_DEVICE]
  return max(fits, default=1)


def split_cpu_host(batch_size: int, score_chunk_size: int, count: int = 0) -> int | None:
  """Sets how many devices the CPU backend has: `count`, or with 0 the choice of
  cpu_device_count for this host's cores. With 0, a count forced through XLA_FLAGS
  is left alone. Must run before anything touches the devices; on a host with
  accelerators it changes nothing they do. Returns the count set (None: left alone).
  """
  if not count:
    if FORCED_COUNT_FLAG in os.environ.get('XLA_FLAGS', ''):
      return None
    cores = (len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
             else os.cpu_count() or 1)
    count = cpu_device_count(cores, batch_size, score_chunk_size)
  jax.config.update('jax_num_cpu_devices', count)
  return count


def data_mesh(devices=None) -> Mesh:
  """A 1-D mesh over the given (default: all) devices."""
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Split the leading (batch) axis over the devices."""
  return NamedSharding(mesh, PartitionSpec(AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def check_divisible(size: int, mesh: Mesh, what: str) -> None:
  """Raises ValueError unless `size` splits evenly over the mesh's devices."""
  if size % mesh.size:
    raise ValueError(f'{what} {size} does not split over {mesh.size} devices; use a '
                     f'multiple of {mesh.size}')


def replicate(tree, mesh: Mesh):
  """Constrains (inside jit) every array of `tree` to be replicated, so that
  each process can read it whole (jax.device_get), however many hosts."""
  return jax.lax.with_sharding_constraint(tree, replicated(mesh))


def initialize_distributed(coordinator_address: str | None = None,
                           num_processes: int | None = None,
                           process_id: int | None = None) -> None:
  """Joins this process to a multi-host run (jax.distributed.initialize).

  Without arguments the platform's own settings are used where it provides them
  (Cloud TPU pods, SLURM, ...). Must run before anything touches the devices.
  On CPU, cross-process collectives go through gloo.
  """
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(coordinator_address, num_processes, process_id)


def barrier(name: str) -> None:
  """Waits until every process gets here (nothing to wait for on one host)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def is_primary() -> bool:
  """Whether this process writes the run's files and prints its progress."""
  return jax.process_index() == 0
