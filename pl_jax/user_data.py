"""The user's own images: an .npz file or a folder of image files.

Both give a `data_types.Dataset` whose unlabeled training images carry label -1.

npz:PATH   `images` uint8[N, H, W, C] (or [N, H, W]), `labels` int[N] with -1 for
           unlabeled; optional `test_images`, `test_labels`, `class_names`.
folder:PATH  one sub-folder of image files (PNG, JPEG, BMP, GIF, TIFF, WebP) per class (labeled), `unlabeled/`
           for the pool, optional `test/<class>/` for a test split.
"""

from __future__ import annotations

import os
import sys
import zipfile

import numpy as np

from pl_jax import data_types

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.tif', '.tiff', '.webp')
UNLABELED_FOLDER = 'unlabeled'
TEST_FOLDER = 'test'


def load_npz(path: str, image_size=None) -> data_types.Dataset:
  """Reads and checks an .npz of the user's images (see the module docstring)."""
  if image_size is not None:
    raise data_types.DataError('--image_size applies to folder:PATH only')
  name = f'npz:{path}'
  try:
    with np.load(path, allow_pickle=False) as f:
      arrays = {key: f[key] for key in f.files}
  except FileNotFoundError:
    raise data_types.DataError(f'{path}: no such file') from None
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    raise data_types.DataError(f'{path}: not a readable .npz ({type(e).__name__}: '
                               f'{data_types.one_line(e, 80)})') from None
  for key in ('images', 'labels'):
    if key not in arrays:
      raise data_types.DataError(f'{path}: no {key!r} array (has {", ".join(sorted(arrays))})')
  if ('test_images' in arrays) != ('test_labels' in arrays):
    raise data_types.DataError(f'{path}: test_images and test_labels come together')
  return from_arrays(name, arrays['images'], arrays['labels'], arrays.get('test_images'),
                     arrays.get('test_labels'), arrays.get('class_names'),
                     source=f'npz:{os.path.abspath(path)}')


def from_arrays(name: str, images, labels, test_images=None, test_labels=None,
                class_names=None, source: str | None = None) -> data_types.Dataset:
  """A Dataset from in-memory arrays, checked (see load_npz for the format)."""
  images = as_images(np.asarray(images), f'{name}: images')
  labels = as_labels(np.asarray(labels), f'{name}: labels')
  if (test_images is None) != (test_labels is None):
    raise data_types.DataError(f'{name}: test images and test labels come together')
  if test_images is not None:
    test_images = as_images(np.asarray(test_images), f'{name}: test_images')
    test_labels = as_labels(np.asarray(test_labels), f'{name}: test_labels')
  class_names = tuple(str(c) for c in class_names) if class_names is not None else None
  top = max(labels.max(initial=-1), test_labels.max(initial=-1) if test_labels is not None
            else -1)
  num_classes = len(class_names) if class_names else int(top) + 1
  return _dataset(name, images, labels, test_images, test_labels, num_classes,
                  source or name, class_names, None)


def as_images(array: np.ndarray, what: str) -> np.ndarray:
  """uint8[N, H, W] or [N, H, W, C] -> uint8[N, H, W, C]; anything else is refused."""
  if array.dtype.kind == 'f' and np.isnan(array).any():
    raise data_types.DataError(f'{what} contain NaN; want uint8 pixels in 0..255')
  if array.dtype != np.uint8:
    detail = (f', values {array.min()}..{array.max()}'
              if array.size and array.dtype.kind in 'iuf' else '')
    raise data_types.DataError(f'{what} are {array.dtype}{detail}; want uint8 pixels in 0..255')
  if array.ndim == 3:
    array = array[..., None]
  if array.ndim != 4:
    raise data_types.DataError(f'{what} have shape {list(array.shape)}; want [N, H, W, C]')
  return array


def as_labels(array: np.ndarray, what: str) -> np.ndarray:
  if array.dtype.kind not in 'iu' or array.ndim != 1:
    raise data_types.DataError(f'{what} are {array.dtype}{list(array.shape)}; want int[N]')
  return array.astype(np.int32)


def _dataset(name, images, labels, test_images, test_labels, num_classes, source,
             class_names, example_names) -> data_types.Dataset:
  """Builds the Dataset after the checks that only user data needs."""
  if len(labels) != len(images):
    raise data_types.DataError(f'{name}: {len(images)} images but {len(labels)} labels')
  if not (labels >= 0).any():
    raise data_types.DataError(f'{name}: no labeled training images (every label is -1)')
  missing = sorted(set(range(num_classes)) - set(labels[labels >= 0].tolist()))
  if missing:
    # Allowed, but such a class can never be predicted: almost surely a mistake.
    print(f'pl_jax: warning: {len(missing)} of {num_classes} classes have no labeled '
          f'training image ({", ".join(map(str, missing[:10]))}); fewer labeled images '
          'than classes cannot teach every class', file=sys.stderr)
  if not (labels == data_types.UNLABELED).any():
    raise data_types.DataError(f'{name}: no unlabeled training images (label -1): nothing to '
                               'pseudo-label')
  if num_classes < 2:
    raise data_types.DataError(f'{name}: need at least 2 classes, got {num_classes}')
  mean, std = data_types.pixel_stats(images)
  return data_types.Dataset(name=name, train_images=images, train_labels=labels,
                            test_images=test_images, test_labels=test_labels,
                            num_classes=num_classes, source=source, class_names=class_names,
                            example_names=example_names, pixel_mean=mean, pixel_std=std)


def load_folder(path: str, image_size: tuple[int, int] | None = None) -> data_types.Dataset:
  """Reads a folder of images (see the module docstring).

  Args:
    image_size: (H, W) to resize every image to; by default all images must
      already have one size.
  """
  name = f'folder:{path}'
  if not os.path.isdir(path):
    raise data_types.DataError(f'{path}: no such folder')
  class_names = tuple(sorted(
      entry for entry in os.listdir(path)
      if os.path.isdir(os.path.join(path, entry))
      and entry not in (UNLABELED_FOLDER, TEST_FOLDER)))
  if not class_names:
    raise data_types.DataError(f'{path}: no class sub-folders (one folder of images per class)')
  files, labels = [], []
  for label, class_name in enumerate(class_names):
    for file_name in _image_files(os.path.join(path, class_name)):
      files.append(os.path.join(class_name, file_name))
      labels.append(label)
  unlabeled = os.path.join(path, UNLABELED_FOLDER)
  if os.path.isdir(unlabeled):
    for file_name in _image_files(unlabeled):
      files.append(os.path.join(UNLABELED_FOLDER, file_name))
      labels.append(data_types.UNLABELED)
  test_files, test_labels = [], []
  test_dir = os.path.join(path, TEST_FOLDER)
  if os.path.isdir(test_dir):
    for entry in sorted(os.listdir(test_dir)):
      if not os.path.isdir(os.path.join(test_dir, entry)):
        continue
      if entry not in class_names:
        raise data_types.DataError(f'{test_dir}/{entry}: not one of the classes '
                                   f'{", ".join(class_names)}')
      for file_name in _image_files(os.path.join(test_dir, entry)):
        test_files.append(os.path.join(TEST_FOLDER, entry, file_name))
        test_labels.append(class_names.index(entry))
  images, test_images = read_images(path, files, test_files, image_size)
  return _dataset(name, images, np.array(labels, np.int32),
                  test_images, np.array(test_labels, np.int32) if test_files else None,
                  len(class_names), f'folder:{os.path.abspath(path)}', class_names,
                  tuple(files))


def _image_files(folder: str) -> list[str]:
  return sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_SUFFIXES))


def read_images(root, files, test_files, image_size):
  """Decodes every file into uint8[N, H, W, C] (train) and [M, H, W, C] (test or None).

  Grey if every image is grey, else RGB. Unreadable files are all named in one error.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top

  decoded, unreadable = {}, []
  for file in files + test_files:
    try:
      with Image.open(os.path.join(root, file)) as image:
        image.load()
        decoded[file] = image.copy()
    except (OSError, ValueError, Image.DecompressionBombError) as e:
      del e
      unreadable.append(file)
  if unreadable:
    shown = ', '.join(unreadable[:5]) + (f' and {len(unreadable) - 5} more'
                                          if len(unreadable) > 5 else '')
    raise data_types.DataError(f'{root}: {len(unreadable)} unreadable image file(s): {shown}')
  if not files:
    raise data_types.DataError(f'{root}: no image files')
  sizes = {}
  for file, image in decoded.items():
    sizes.setdefault((image.height, image.width), []).append(file)
  if image_size is None and len(sizes) > 1:
    summary = ', '.join(f'{h}x{w}: {len(f)} (e.g. {f[0]})' for (h, w), f in sizes.items())
    raise data_types.DataError(f'{root}: images differ in size ({summary}); pass '
                               '--image_size=HxW to resize them')
  height, width = image_size or next(iter(sizes))
  grey = all(image.mode in ('1', 'L', 'I', 'I;16', 'F') for image in decoded.values())
  mode = 'L' if grey else 'RGB'

  def stack(names):
    arrays = []
    for file in names:
      image = decoded[file].convert(mode)
      if (image.height, image.width) != (height, width):
        image = image.resize((width, height), Image.BILINEAR)
      arrays.append(np.asarray(image, np.uint8).reshape(height, width, -1))
    return np.stack(arrays) if arrays else None

  return stack(files), stack(test_files)


LOADERS = {'npz': load_npz, 'folder': load_folder}
