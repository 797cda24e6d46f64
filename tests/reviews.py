"""A run's review made without training, for the review tests (a small data
set, made-up scores and labels, and review.export_review on them)."""
from __future__ import annotations

import os

import numpy as np

from pl_jax import review, user_data

CLASSES = ('cat', 'dog', 'bird')
N, N_LABELED = 40, 5


def dataset():
  """N 12x12 grey images, the first N_LABELED labeled; the rest are the pool."""
  rng = np.random.default_rng(0)
  labels = np.full(N, -1)
  labels[:N_LABELED] = np.arange(N_LABELED) % len(CLASSES)
  return user_data.from_arrays('arrays', rng.integers(0, 256, (N, 12, 12), np.uint8), labels,
                               class_names=CLASSES)


def probabilities(images: np.ndarray) -> np.ndarray:
  """A stand-in for the final model: a fixed softmax per image."""
  logits = images.reshape(len(images), -1)[:, :len(CLASSES)].astype(np.float32) / 64
  e = np.exp(logits - logits.max(axis=1, keepdims=True))
  return e / e.sum(axis=1, keepdims=True)


def make_review(workdir, k: int = 8, label_studio: bool = True, next_run=None,
                **kwargs) -> review.ReviewFiles:
  """A finished run's files in workdir (scores.npz, labels.npz) and its review of k."""
  rng = np.random.default_rng(1)
  os.makedirs(workdir, exist_ok=True)
  confidence = rng.uniform(0.34, 1.0, N).astype(np.float32)
  np.savez(os.path.join(workdir, 'scores.npz'), confidence=confidence,
           margin=(confidence - 0.3).astype(np.float32),
           predicted=rng.integers(0, len(CLASSES), N).astype(np.int32))
  source = np.zeros(N, np.int8)
  source[:N_LABELED], source[N_LABELED:N_LABELED + 3] = 1, 2  # Human, then pseudo.
  np.savez(os.path.join(workdir, 'labels.npz'), labels=np.zeros(N, np.int32), source=source,
           iteration=np.zeros(N, np.int32), confidence=np.zeros(N, np.float32))
  return review.export_review(str(workdir), dataset(), k, probabilities=probabilities,
                              label_studio=label_studio, next_run=next_run, **kwargs)
