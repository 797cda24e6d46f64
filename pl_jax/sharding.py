"""Sharding: data parallelism over every local device with jax.sharding.

One mesh axis, 'data'. Batches (and scoring chunks) are split along it; the
parameters, the optimizer state and the uint8 image arrays are replicated. The
same code runs on 1 device (where the constraints are no-ops) and on N; the
batch size is global and must divide evenly over the devices.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = 'data'


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
