"""Where a run's time goes: a clock of JAX's compilation time, and how fast the
machine is (the same run can take twice as long on another day)."""

import time

import jax
import jax.numpy as jnp

# What JAX reports for one compilation: tracing to a jaxpr, lowering to MLIR,
# and XLA's own compile (each only on a cache miss).
COMPILE_EVENTS = ('/jax/core/compile/jaxpr_trace_duration',
                  '/jax/core/compile/jaxpr_to_mlir_module_duration',
                  '/jax/core/compile/backend_compile_duration')


class CompileClock:
  """Seconds spent compiling while the clock is active (a context manager).

    with timing.CompileClock() as clock:
      ...
    clock.seconds, clock.compilations
  """

  def __init__(self):
    self.seconds = 0.0
    self.compilations = 0

  def _listen(self, event: str, duration: float, **_) -> None:
    if event in COMPILE_EVENTS:
      self.seconds += duration
      self.compilations += event == COMPILE_EVENTS[-1]

  def __enter__(self) -> 'CompileClock':
    jax.monitoring.register_event_duration_secs_listener(self._listen)
    return self

  def __exit__(self, *exc_info) -> None:
    jax.monitoring.unregister_event_duration_listener(self._listen)


def matmul_flops(size: int = 1024, repeats: int = 5) -> float:
  """The device's float32 arithmetic rate as measured now: FLOP/s of a size x
  size matrix product at JAX's default precision, the best of `repeats` (its
  compilation not counted). Why: this machine's speed varies from day to day (a
  2048 x 2048 product ran at 460 GFLOP/s on 2026-11-27 and at 190 on 2026-12-04),
  so a wall time means little without the speed it was measured at. size 1024:
  about 0.1 s on 2 CPU cores."""
  a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
  product = jax.jit(lambda a: a @ a)
  jax.block_until_ready(product(a))
  best = float('inf')
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(product(a))
    best = min(best, time.perf_counter() - start)
  return 2 * size ** 3 / best
