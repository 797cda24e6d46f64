"""Consistency: FixMatch's pseudo-labels within an iteration (Sohn et al. 2020).

Between iterations, the loop adopts the confident predictions on the pool as
pseudo-labels (select.py). Within an iteration's training, the same idea works
batch by batch: the model's prediction on a weakly augmented image (the
training augmentation) becomes the target of a strongly augmented view of it,
when the prediction's confidence is at least a threshold. Nothing is stored:
the target is re-derived at every step from the current model, so it follows
the model as it improves. The images are drawn from the whole training array
(labels unused), so it needs no mask and never recompiles.
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax

from pl_jax import augment


@dataclasses.dataclass(frozen=True)
class Consistency:
  """The consistency term's settings; hashable, so it is static under jit."""
  weight: float = 0.0  # Of the term in the loss; 0: off.
  threshold: float = 0.95  # Confidence a weak view needs to become a target.
  ratio: int = 1  # Unlabeled images per labeled image in a step.
  strong: augment.Augmentation = augment.Augmentation()

  @property
  def enabled(self) -> bool:
    return self.weight > 0


def consistency_loss(weak_logits: jax.Array, strong_logits: jax.Array,
                     threshold: float) -> tuple[jax.Array, jax.Array]:
  """FixMatch's unlabeled loss and the share of images that had a target.

  weak_logits, strong_logits: float32[U, K], of two views of the same images.
  Returns (loss float32[], mask rate float32[]). The loss is a mean over all U
  images (those without a target count as 0), as in FixMatch; no gradient
  flows through the weak view.
  """
  probabilities = jax.nn.softmax(jax.lax.stop_gradient(weak_logits))
  confident = (jnp.max(probabilities, axis=-1) >= threshold).astype(jnp.float32)
  targets = jnp.argmax(probabilities, axis=-1)
  losses = optax.softmax_cross_entropy_with_integer_labels(strong_logits, targets)
  return jnp.mean(losses * confident), jnp.mean(confident)
