"""Shared fixtures: the real MNIST (downloaded and cached once per machine)."""

import dataclasses
import os
import subprocess
import sys

import pytest

from pl_jax import data, data_types


@pytest.fixture(scope='session')
def mnist() -> data_types.Dataset:
  return data.load_dataset('mnist')


@pytest.fixture(scope='session')
def small_mnist(mnist) -> data_types.Dataset:
  """A real slice: the first 2,000 training and 500 test images."""
  return dataclasses.replace(
      mnist, train_images=mnist.train_images[:2000], train_labels=mnist.train_labels[:2000],
      test_images=mnist.test_images[:500], test_labels=mnist.test_labels[:500])


def own_arrays(mnist, n_train=600, n_labeled=100, n_test=200, classes=(0, 1, 7)):
  """A user's data set cut from real MNIST: a few classes, most images unlabeled."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  keep = np.flatnonzero(np.isin(mnist.train_labels, classes))[:n_train]
  test_keep = np.flatnonzero(np.isin(mnist.test_labels, classes))[:n_test]
  relabel = {c: i for i, c in enumerate(classes)}
  labels = np.array([relabel[c] for c in mnist.train_labels[keep]], np.int32)
  true_labels = labels.copy()
  labels[n_labeled:] = -1
  return {
      'images': mnist.train_images[keep], 'labels': labels,
      'test_images': mnist.test_images[test_keep],
      'test_labels': np.array([relabel[c] for c in mnist.test_labels[test_keep]], np.int32),
      'class_names': np.array([f'digit{c}' for c in classes]),
  }, true_labels


@pytest.fixture
def own_npz(tmp_path, mnist):
  """(path of an .npz of own data, its hidden true labels)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  arrays, true_labels = own_arrays(mnist)
  path = tmp_path / 'own.npz'
  np.savez(path, **arrays)
  return str(path), true_labels


@pytest.fixture
def own_folder(tmp_path, mnist):
  """A folder data set (PNG files) cut from real MNIST: digit0/ digit1/ digit7/,
  unlabeled/, test/<class>/."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  arrays, _ = own_arrays(mnist, n_train=300, n_labeled=60, n_test=60)
  root = tmp_path / 'images'
  names = arrays['class_names']
  for i, (image, label) in enumerate(zip(arrays['images'], arrays['labels'])):
    folder = root / ('unlabeled' if label < 0 else names[label])
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image[..., 0]).save(folder / f'img{i:04d}.png')
  for i, (image, label) in enumerate(zip(arrays['test_images'], arrays['test_labels'])):
    folder = root / 'test' / names[label]
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image[..., 0]).save(folder / f'test{i:04d}.png')
  return root


def run_script(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
  """`python *args` from the repository root, its output captured as text."""
  return subprocess.run([sys.executable, *map(str, args)], cwd=os.path.dirname(
      os.path.dirname(os.path.abspath(__file__))), capture_output=True, text=True,
                        timeout=timeout)


def assert_one_line_error(done: subprocess.CompletedProcess, message: str) -> None:
  """Bad input's contract: exit code 2 and one line on stderr that says why."""
  assert done.returncode == 2
  assert done.stderr.count('\n') == 1 and message in done.stderr, done.stderr
