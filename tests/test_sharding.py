"""Data parallelism: the same run on 8 (forced CPU) devices matches 1 device."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.join(os.path.dirname(__file__), '..')

SCRIPT = '''
import json
import jax, numpy as np
from pl_jax import data, loop, recipes, user_data
from tests.conftest import own_arrays
arrays, _ = own_arrays(data.load_dataset("mnist"), n_train=512, n_labeled=128, n_test=256)
dataset = user_data.from_arrays("slice", arrays["images"], arrays["labels"],
                                arrays["test_images"], arrays["test_labels"])
config = recipes.make_config("case_study", threshold=0.9, iterations=2, epochs=2, min_steps=0,
                             frozen=(), batch_size=64, score_chunk_size=128)
result = loop.self_train(dataset, config, progress=False, log=lambda _: None)
leaf = jax.tree.leaves(result.params)[0]
# The compiled step must really be data parallel: per-device gradients all-reduced.
from pl_jax import models, sharding, train
mesh = sharding.data_mesh()
state = train.create_train_state(jax.random.PRNGKey(0), models.CNN(num_classes=3),
                                 (28, 28, 1), train.make_optimizer(1e-3))
images = jax.device_put(arrays["images"][:128], sharding.replicated(mesh))
order = train.epoch_order(jax.random.PRNGKey(0), jax.numpy.ones(128, bool), 64)
hlo = train.train_step_at.lower(state, order, 0, jax.random.PRNGKey(1), images,
                                jax.numpy.zeros(128, jax.numpy.int32), 128,
                                train.TrainOptions(64, sharding=sharding.batch_sharding(mesh))
                                ).compile().as_text()
print(json.dumps({"devices": len(jax.devices()),
                  "param_devices": len(leaf.sharding.device_set),
                  "all_reduce": "all-reduce" in hlo,
                  "rows": result.record["iterations"]}))
'''


def run_on(devices: int) -> dict:
  env = {**os.environ,
         'XLA_FLAGS': f'--xla_force_host_platform_device_count={devices}'}
  done = subprocess.run([sys.executable, '-c', SCRIPT], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-2000:]
  return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_eight_devices_match_one():
  one, eight = run_on(1), run_on(8)
  assert one['devices'] == 1 and eight['devices'] == 8
  assert eight['param_devices'] == 8  # Parameters replicated over the mesh.
  assert eight['all_reduce'] and not one['all_reduce']
  for a, b in zip(one['rows'], eight['rows'], strict=True):
    # Same batches, same keys; only the order of floating-point sums may differ
    # (per-device partial gradients), which moves the loss in its last digits
    # and, on this data, no prediction.
    assert a['iteration'] == b['iteration']
    np.testing.assert_allclose(a['final_loss'], b['final_loss'], rtol=1e-4)
    for name in ('test_accuracy', 'n_selected', 'n_train', 'train_accuracy'):
      assert a[name] == b[name], (name, a[name], b[name])

