"""Streams: every random draw of a run, derived from its seed, in one table.

  stream          key                                          draws
  init            split(PRNGKey(seed))[0] + iteration          a fresh model's init (0: the
                                                               template a checkpoint fills)
  shuffle         split(PRNGKey(seed))[1] + iteration + epoch  an epoch's order (train.py)
    augment         shuffle's epoch key + AUGMENT + step       a step's augmentation
  final_init      split(PRNGKey(seed) + FINAL_MODELS)[0] + m   final model m's init
  final_shuffle   split(PRNGKey(seed) + FINAL_MODELS)[1] + m   final model m's epochs
  views           PRNGKey(seed) + VIEWS + iteration            the pool's views (score.py
                                                               adds the view and the chunk)

`+` is jax.random.fold_in. The tags are arbitrary and fixed: a run's numbers
depend on them. AUGMENT keeps the augmentation apart from the shuffle, which
draws from the epoch key itself, as it did before augmentation existed.
"""

import dataclasses

import jax

AUGMENT = 0xA06
FINAL_MODELS = 0xE45
VIEWS = 0x51E


@dataclasses.dataclass(frozen=True)
class Streams:
  """A run's named keys; each method gives the key of one draw."""
  seed: int

  def _root(self) -> jax.Array:
    return jax.random.PRNGKey(self.seed)

  def init(self, iteration: int) -> jax.Array:
    return jax.random.fold_in(jax.random.split(self._root())[0], iteration)

  def shuffle(self, iteration: int) -> jax.Array:
    return jax.random.fold_in(jax.random.split(self._root())[1], iteration)

  def final_init(self, member: int) -> jax.Array:
    return jax.random.fold_in(self._final_models()[0], member)

  def final_shuffle(self, member: int) -> jax.Array:
    return jax.random.fold_in(self._final_models()[1], member)

  def views(self, iteration: int) -> jax.Array:
    return jax.random.fold_in(jax.random.fold_in(self._root(), VIEWS), iteration)

  def _final_models(self) -> jax.Array:
    return jax.random.split(jax.random.fold_in(self._root(), FINAL_MODELS))
