"""pl_jax: iterative confidence-based pseudo-labeling (self-training) in JAX.

    import pl_jax
    result = pl_jax.self_train(images, labels, test_images, test_labels, threshold=0.99)
"""

__all__ = ['self_train']


def __getattr__(name):
  # Lazy, so that `from pl_jax import data` does not import JAX (run.py checks its
  # flags before paying for that).
  if name == 'self_train':
    from pl_jax.api import self_train  # pylint: disable=g-import-not-at-top
    return self_train
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
