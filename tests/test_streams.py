import jax
import numpy as np

from pl_jax import streams


def test_streams_are_the_documented_derivations_of_the_seed():
  run = streams.Streams(7)
  root = jax.random.PRNGKey(7)
  init, shuffle = jax.random.split(root)
  final_init, final_shuffle = jax.random.split(jax.random.fold_in(root, streams.FINAL_MODELS))
  same = np.testing.assert_array_equal  # Raw uint32[2] keys.
  same(run.init(3), jax.random.fold_in(init, 3))
  same(run.shuffle(3), jax.random.fold_in(shuffle, 3))
  same(run.final_init(1), jax.random.fold_in(final_init, 1))
  same(run.final_shuffle(1), jax.random.fold_in(final_shuffle, 1))
  same(run.views(3), jax.random.fold_in(jax.random.fold_in(root, streams.VIEWS), 3))


def test_every_stream_draws_differently():
  run = streams.Streams(0)
  keys = [run.init(1), run.init(2), run.shuffle(1), run.final_init(1), run.final_shuffle(1),
          run.views(1)]
  draws = {float(jax.random.uniform(key)) for key in keys}
  assert len(draws) == len(keys)
  assert len({streams.AUGMENT, streams.FINAL_MODELS, streams.VIEWS}) == 3
