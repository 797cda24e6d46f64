"""Sharding: data parallelism over every local device with jax.sharding.

One mesh axis, 'data'. Batches (and scoring chunks) are split along it; the
parameters, the optimizer state and the uint8 image arrays are replicated. The
same code runs on 1 device (where the constraints are no-ops) and on N; the
batch size is global and must divide evenly over the devices.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = 'data'


def split_cpu_host(count: int) -> None:
  """Splits a CPU host into `count` JAX devices (jax_num_cpu_devices), which the
  mesh then treats like chips. 0 leaves JAX's own choice (one device, or what
  XLA_FLAGS=--xla_force_host_platform_device_count forces). Must run before
  anything touches the devices; on a host with accelerators it changes nothing
  they do.

  Not the default, though faster on a small CPU (2 devices on 2 cores trained
  1.6-2x faster than 1, BENCHMARKS.md): repeated multi-device epoch calls on
  XLA:CPU were seen to give results that differ in the last bits from run to
  run (README, Devices), and runs must be reproducible.
  """
  if count:
    jax.config.update('jax_num_cpu_devices', count)


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
