"""notebooks/colab_tpu.ipynb: valid notebook JSON, and the code it runs works on
8 devices (forced CPU devices stand in for the TPU cores)."""

import json
import os
import shlex
import subprocess
import sys
import types
import pytest

ROOT = os.path.join(os.path.dirname(__file__), '..')
NOTEBOOK = os.path.join(ROOT, 'notebooks', 'colab_tpu.ipynb')


def load_cells() -> list[dict]:
  with open(NOTEBOOK) as f:
    notebook = json.load(f)
  assert notebook['nbformat'] == 4
  assert notebook['metadata']['accelerator'] == 'TPU'
  assert notebook['metadata']['kernelspec']['name'] == 'python3'
  for cell in notebook['cells']:
    assert cell['cell_type'] in ('markdown', 'code')
    assert isinstance(cell['source'], list) and all(isinstance(s, str) for s in cell['source'])
    if cell['cell_type'] == 'code':
      assert cell['outputs'] == [] and cell['execution_count'] is None
  return notebook['cells']


def code_lines(cells) -> list[str]:
  return [line.rstrip('\n') for cell in cells if cell['cell_type'] == 'code'
          for line in cell['source']]


def test_notebook_installs_the_tpu_runtime_and_never_holds_the_tpu_itself():
  lines = code_lines(load_cells())
  assert any('pip install' in line and 'requirements.txt' in line and 'jax[tpu]' in line
             for line in lines)
  # Only one process can hold a TPU: the kernel must not import JAX before run.py.
  assert not any(line.startswith(('import jax', 'from jax')) for line in lines)


@pytest.mark.slow
def test_notebook_run_and_report_on_8_devices(mnist, tmp_path, monkeypatch):
  del mnist  # Cached before the subprocess needs it.
  cells = load_cells()
  lines = code_lines(cells)
  (command,) = [line for line in lines if line.startswith('!python run.py')]
  assert '--n_labeled=100' in command and '--threshold=0.99' in command
  workdir = str(tmp_path / 'run')
  args = shlex.split(command[1:].replace('{WORKDIR}', workdir))
  # The notebook's own command, shortened (a later flag wins in absl).
  args += ['--iterations=2', '--epochs=1', '--min_steps=8', '--noprogress']
  env = {**os.environ, 'XLA_FLAGS': '--xla_force_host_platform_device_count=8',
         'JAX_PLATFORMS': 'cpu'}
  done = subprocess.run([sys.executable, *args[1:]], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-2000:]
  assert 'final test accuracy' in done.stdout and '8 cpu device(s)' in done.stdout
  with open(os.path.join(workdir, 'results.json')) as f:
    assert json.load(f)['devices']['count'] == 8

  # The report cell, with IPython's display stood in for.
  shown = []
  display_module = types.ModuleType('IPython.display')
  display_module.Markdown = lambda text: ('markdown', text)
  display_module.Image = lambda filename: ('image', filename)
  display_module.display = shown.append
  ipython = types.ModuleType('IPython')
  ipython.display = display_module
  (report_cell,) = [c for c in cells if c['cell_type'] == 'code'
                    and any('report.md' in line for line in c['source'])]
  monkeypatch.setitem(sys.modules, 'IPython', ipython)
  monkeypatch.setitem(sys.modules, 'IPython.display', display_module)
  exec(''.join(report_cell['source']), {'WORKDIR': workdir})  # pylint: disable=exec-used
  images = [value for kind, value in shown if kind == 'image']
  assert len(images) >= 5 and all(os.path.isfile(path) for path in images)
  assert any('test accuracy' in value.lower() for kind, value in shown if kind == 'markdown')
