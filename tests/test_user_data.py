"""Own data: npz:PATH and folder:PATH, and every way they can be malformed."""

import zipfile

import chex
import numpy as np
import pytest
from PIL import Image

from pl_jax import data, data_types, user_data


def test_npz_round_trip(own_npz):
  path, _ = own_npz
  dataset = data.load_dataset(f'npz:{path}')
  chex.assert_shape(dataset.train_images, (600, 28, 28, 1))
  chex.assert_type([dataset.train_labels, dataset.test_labels], np.int32)
  assert dataset.num_classes == 3 and dataset.class_names == ('digit0', 'digit1', 'digit7')
  assert not dataset.is_benchmark and dataset.has_test
  assert not dataset.handwritten_digits  # A user deskews with --deskew=always.
  assert (dataset.train_labels == -1).sum() == 500
  assert dataset.pixel_mean[0] == pytest.approx(dataset.train_images.mean() / 255, abs=1e-4)


def test_folder_reads_classes_pool_and_test(own_folder):
  dataset = data.load_dataset(f'folder:{own_folder}')
  chex.assert_shape(dataset.train_images, (300, 28, 28, 1))
  assert dataset.class_names == ('digit0', 'digit1', 'digit7')
  assert (dataset.train_labels >= 0).sum() == 60 and dataset.test_labels.shape == (60,)
  assert dataset.example_names[0].startswith('digit0/')
  assert all(n.startswith('unlabeled/') for n, l in zip(dataset.example_names,
                                                       dataset.train_labels) if l < 0)
  original = np.asarray(Image.open(own_folder / dataset.example_names[5]))
  np.testing.assert_array_equal(dataset.train_images[5, ..., 0], original)


def test_folder_rgb_and_any_size(tmp_path):
  rng = np.random.default_rng(0)
  for folder, count in (('cat', 3), ('dog', 3), ('unlabeled', 4)):
    (tmp_path / folder).mkdir()
    for i in range(count):
      pixels = rng.integers(0, 256, (20, 16, 3), dtype=np.uint8)
      Image.fromarray(pixels).save(tmp_path / folder / f'{i}.jpg')
  dataset = data.load_dataset(f'folder:{tmp_path}')
  chex.assert_shape(dataset.train_images, (10, 20, 16, 3))
  assert dataset.num_classes == 2 and not dataset.has_test and len(dataset.pixel_mean) == 3


def test_folder_sizes_must_agree_unless_resized(tmp_path):
  for folder, size in (('a', (12, 12)), ('b', (12, 12)), ('unlabeled', (14, 18))):
    (tmp_path / folder).mkdir()
    Image.fromarray(np.zeros(size, np.uint8)).save(tmp_path / folder / 'x.png')
  with pytest.raises(data_types.DataError, match='differ in size.*--image_size'):
    data.load_dataset(f'folder:{tmp_path}')
  dataset = data.load_dataset(f'folder:{tmp_path}', image_size=(16, 16))
  chex.assert_shape(dataset.train_images, (3, 16, 16, 1))


def test_unreadable_image_files_are_named(tmp_path):
  for folder in ('a', 'b', 'unlabeled'):
    (tmp_path / folder).mkdir()
    Image.fromarray(np.zeros((12, 12), np.uint8)).save(tmp_path / folder / 'ok.png')
  (tmp_path / 'b' / 'broken.png').write_bytes(b'\x89PNG not really')
  (tmp_path / 'unlabeled' / 'empty.jpg').write_bytes(b'')
  with pytest.raises(data_types.DataError) as error:
    data.load_dataset(f'folder:{tmp_path}')
  assert '2 unreadable image file(s)' in str(error.value)
  assert 'b/broken.png' in str(error.value) and 'unlabeled/empty.jpg' in str(error.value)


def _save(tmp_path, **arrays):
  path = tmp_path / 'bad.npz'
  np.savez(path, **arrays)
  return f'npz:{path}'


IMAGES = np.zeros((6, 12, 12, 1), np.uint8)
LABELS = np.array([0, 1, -1, -1, -1, -1])


@pytest.mark.parametrize('arrays,message', [
    (dict(labels=LABELS), "no 'images' array"),
    (dict(images=IMAGES.astype(np.float32), labels=LABELS), 'are float32, values 0.0..0.0; want uint8'),
    (dict(images=np.full((6, 12, 12, 1), np.nan, np.float32), labels=LABELS), 'contain NaN'),
    (dict(images=np.zeros((6, 12, 12, 1), np.int64) + 300, labels=LABELS), 'values 300..300'),
    (dict(images=np.zeros((6, 12), np.uint8), labels=LABELS), 'want [N, H, W, C]'),
    (dict(images=np.zeros((6, 8, 8, 1), np.uint8), labels=LABELS), 'at least 10x10'),
    (dict(images=np.zeros((6, 12, 12, 2), np.uint8), labels=LABELS), '2 channels'),
    (dict(images=IMAGES, labels=LABELS.astype(np.float32)), 'want int[N]'),
    (dict(images=IMAGES, labels=LABELS[:4]), '6 images but 4 labels'),
    (dict(images=IMAGES, labels=np.array([0, 1, -2, -1, -1, -1])), 'must be in [-1, 1]'),
    (dict(images=IMAGES, labels=np.full(6, -1)), 'no labeled training images'),
    (dict(images=IMAGES, labels=np.array([0, 1, 0, 1, 0, 1])), 'no unlabeled training images'),
    (dict(images=IMAGES, labels=np.array([0, 0, -1, -1, -1, -1])), 'at least 2 classes'),
    (dict(images=IMAGES, labels=LABELS, test_images=IMAGES[:2]), 'come together'),
    (dict(images=IMAGES, labels=LABELS, test_images=IMAGES[:2], test_labels=np.array([0, -1])),
     'test labels must be in [0, 1]'),
    (dict(images=IMAGES, labels=LABELS, test_images=IMAGES[:2], test_labels=np.array([0, 5]),
          class_names=np.array(['a', 'b'])), 'test labels must be in [0, 1]'),
    (dict(images=IMAGES, labels=np.array([0, 3, -1, -1, -1, -1]),
          class_names=np.array(['a', 'b'])), 'train labels must be in [-1, 1]'),
    (dict(images=IMAGES, labels=LABELS, test_images=np.zeros((2, 14, 14, 1), np.uint8),
          test_labels=np.array([0, 1])), 'test images are [14, 14, 1]'),
])
def test_malformed_npz(tmp_path, arrays, message):
  with pytest.raises(data_types.DataError) as error:
    data.load_dataset(_save(tmp_path, **arrays))
  assert message in str(error.value) and '\n' not in str(error.value)


def test_corrupt_and_truncated_npz(tmp_path):
  with pytest.raises(data_types.DataError, match='no such file'):
    data.load_dataset(f'npz:{tmp_path}/missing.npz')
  good = _save(tmp_path, images=IMAGES, labels=LABELS)[4:]
  content = open(good, 'rb').read()
  (tmp_path / 'truncated.npz').write_bytes(content[:len(content) // 2])
  with pytest.raises(data_types.DataError, match='not a readable .npz'):
    data.load_dataset(f'npz:{tmp_path}/truncated.npz')
  (tmp_path / 'text.npz').write_text('hello')
  with pytest.raises(data_types.DataError, match='not a readable .npz'):
    data.load_dataset(f'npz:{tmp_path}/text.npz')
  # A member with a corrupt payload (valid zip, broken array).
  with zipfile.ZipFile(tmp_path / 'member.npz', 'w') as z:
    z.writestr('images.npy', b'\x93NUMPY garbage')
    z.writestr('labels.npy', b'')
  with pytest.raises(data_types.DataError, match='not a readable .npz'):
    data.load_dataset(f'npz:{tmp_path}/member.npz')


def test_fewer_labeled_than_classes_warns(tmp_path, capsys):
  labels = np.array([0, 2, -1, -1, -1, -1])  # Class 1 has no labeled image.
  dataset = data.load_dataset(_save(tmp_path, images=IMAGES, labels=labels))
  assert dataset.num_classes == 3
  assert '1 of 3 classes have no labeled training image (1)' in capsys.readouterr().err


def test_folder_errors(tmp_path):
  with pytest.raises(data_types.DataError, match='no such folder'):
    data.load_dataset(f'folder:{tmp_path}/nothing')
  (tmp_path / 'unlabeled').mkdir()
  with pytest.raises(data_types.DataError, match='no class sub-folders'):
    data.load_dataset(f'folder:{tmp_path}')
  (tmp_path / 'a').mkdir()
  (tmp_path / 'test' / 'zebra').mkdir(parents=True)
  with pytest.raises(data_types.DataError, match='zebra: not one of the classes'):
    data.load_dataset(f'folder:{tmp_path}')


def test_from_arrays_accepts_grey_without_channel_axis():
  dataset = user_data.from_arrays('arrays', np.zeros((6, 12, 12), np.uint8), LABELS)
  chex.assert_shape(dataset.train_images, (6, 12, 12, 1))
  assert dataset.class_names is None and dataset.num_classes == 2
