"""pl_jax/atomic.py: a write replaces a file whole, and never what is not a file."""

import os
import stat

import pytest

from conftest import assert_one_line_error, run_script
from pl_jax import atomic


def test_a_file_is_replaced_whole_and_nothing_is_left_beside_it(tmp_path):
  path = tmp_path / 'results.json'
  path.write_text('old')
  atomic.write_json(str(path), {'a': 1})
  assert path.read_text() == '{\n  "a": 1\n}\n'
  assert os.listdir(tmp_path) == ['results.json']


def test_what_is_not_a_regular_file_is_refused_and_kept(tmp_path):
  """Renaming over /dev/null (as root) would turn it into a file: a pipe stands in."""
  pipe = tmp_path / 'pipe'
  os.mkfifo(pipe)
  with pytest.raises(atomic.NotAFileError, match='not a regular file, not replaced'):
    atomic.write_text(str(pipe), 'text')
  assert stat.S_ISFIFO(os.stat(pipe).st_mode)
  assert os.listdir(tmp_path) == ['pipe']


def test_a_script_told_to_write_its_table_into_a_pipe_says_so_in_one_line(tmp_path,
                                                                          monkeypatch):
  monkeypatch.setenv('JAX_PLATFORMS', 'cpu')  # No line about looking for a TPU.
  pipe = tmp_path / 'B.md'
  os.mkfifo(pipe)
  run = tmp_path / 'run'
  run.mkdir()
  assert_one_line_error(
      run_script('experiments/targets.py', '--summarize_only', f'--benchmarks={pipe}',
                 f'--runs_dir={run}', timeout=120),
      f'targets.py: error: cannot write {pipe}: not a regular file, not replaced')
  assert stat.S_ISFIFO(os.stat(pipe).st_mode)
