"""Where a run's time goes: a clock of JAX's compilation time."""

import jax

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
