"""benchmarks/gpu.sh: its steps within the time budget, and bad use."""

import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), '..')
STEPS = ('load_mnist', 'default_command', 'default_command_again', 'same_numbers',
         'deterministic', 'deterministic_again', 'deterministic_same_numbers',
         'time_to_accuracy', 'time_to_accuracy_table', 'default_command_cache_cold',
         'default_command_cache_warm',
         'throughput', 'end_to_end')


def run_script(*args, seconds='0'):
  env = {**os.environ, 'PYTHON': sys.executable, 'GPU_SH_SECONDS': seconds}
  return subprocess.run(['bash', 'benchmarks/gpu.sh', *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=120)


def test_a_spent_budget_runs_no_step_and_names_each(tmp_path):
  done = run_script(str(tmp_path / 'out'))
  assert done.returncode == 0, done.stderr
  steps = (tmp_path / 'out' / 'steps.txt').read_text().splitlines()
  assert steps == [f'{name}: not run (the budget of 0 s is spent)' for name in STEPS]
  assert 'jax' in (tmp_path / 'out' / 'gpu.txt').read_text()


def test_without_an_output_folder_it_says_how_to_use_it():
  done = run_script()
  assert done.returncode != 0
  assert 'usage: bash benchmarks/gpu.sh OUT_DIR' in done.stderr
