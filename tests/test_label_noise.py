"""experiments/label_noise.py: the two label sets it trains on, and its bad input."""

import json
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), '..')


def test_both_label_sets_label_the_same_examples():
  # In a process of its own: the script's absl flags share names with other
  # experiments' that tests import.
  code = '''
import json, sys
import numpy as np
sys.path.insert(0, "experiments")
import label_noise
from pl_jax import select
source = np.array([select.HUMAN, select.PSEUDO, select.PSEUDO, select.NONE, select.PSEUDO])
labels = np.array([3, 1, 7, -1, 2])
true = np.array([3, 1, 2, 5, 2], np.uint8)
sets = label_noise.label_sets(labels, source, true)
print(json.dumps({k: v.tolist() for k, v in sets.items()}))
'''
  done = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                        text=True, timeout=120, check=True)
  sets = json.loads(done.stdout)
  assert sets['as_labeled'] == [3, 1, 7, -1, 2]  # The run's labels, the pool -1.
  assert sets['true_labels'] == [3, 1, 2, -1, 2]  # Same examples, true labels.


def test_a_missing_run_is_one_line(tmp_path):
  done = subprocess.run([sys.executable, 'experiments/label_noise.py',
                         f'--run={tmp_path}/none', f'--runs_dir={tmp_path}/out'],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert done.returncode == 2
  assert done.stderr.count('\n') == 1 and '--run must be a finished run' in done.stderr
  assert not os.path.exists(tmp_path / 'out')
