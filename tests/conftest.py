"""Shared fixtures: the real MNIST (downloaded and cached once per machine)."""

import dataclasses

import pytest

from pl_jax import data


@pytest.fixture(scope='session')
def mnist() -> data.Dataset:
  return data.load_dataset('mnist')


@pytest.fixture(scope='session')
def small_mnist(mnist) -> data.Dataset:
  """A real slice: the first 2,000 training and 500 test images."""
  return dataclasses.replace(
      mnist, train_images=mnist.train_images[:2000], train_labels=mnist.train_labels[:2000],
      test_images=mnist.test_images[:500], test_labels=mnist.test_labels[:500])
