"""Throughput of training and scoring on 1, 2, 4 and 8 devices (on a CPU: forced
host devices, XLA_FLAGS=--xla_force_host_platform_device_count=N).

  python benchmarks/scaling.py [--devices=1,2,4,8]

Each count runs benchmarks/throughput.py in its own process (the device count is
fixed when JAX starts), with the same global batch of 64. Forced CPU devices
share the same cores, so this measures what the data-parallel machinery
(sharded batches, all-reduced gradients) costs or gains there, not the speed-up
of real chips (on a host with accelerators, throughput.py uses all of them).
The table replaces the `scaling` section of BENCHMARKS.md.
"""

import json
import os
import subprocess
import sys
import tempfile

from absl import app, flags

from pl_jax import sweep

FLAGS = flags.FLAGS
flags.DEFINE_list('devices', ['1', '2', '4', '8'], 'Device counts to measure.')
flags.DEFINE_integer('steps', 200, 'Timed training steps per count.')
flags.DEFINE_string('benchmarks', 'BENCHMARKS.md', 'Markdown file to write the table into '
                    '(empty: print only).')


def measure(count: int) -> dict:
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu',
         'XLA_FLAGS': f'--xla_force_host_platform_device_count={count}'}
  with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, 'throughput.json')
    subprocess.run([sys.executable, os.path.join(sweep.ROOT, 'benchmarks', 'throughput.py'),
                    '--nopytorch', f'--steps={FLAGS.steps}', f'--json_out={out}'],
                   env=env, check=True, capture_output=True)
    with open(out) as f:
      return json.load(f)


def main(argv):
  del argv
  rows = [measure(int(count)) for count in FLAGS.devices]
  base = rows[0]
  lines = ['## Scaling over devices (benchmarks/scaling.py)', '',
           f'    python benchmarks/scaling.py --devices={",".join(FLAGS.devices)}', '',
           f'Machine: {sweep.machine()}. Measured {sweep.today()}. Global batch 64, split over '
           'the devices; scoring chunks of 1,024 likewise. Forced CPU host devices sharing '
           'the same cores: the columns show what the data-parallel machinery costs or '
           'gains there, not the speed-up of real chips.',
           '', '| devices | train images/s | vs 1 device | score images/s | vs 1 device |',
           '|---:|---:|---:|---:|---:|']
  for row in rows:
    lines.append(f"| {row['devices']} | {row['train_images_per_s']:,.0f} | "
                 f"{row['train_images_per_s'] / base['train_images_per_s']:.2f}x | "
                 f"{row['score_images_per_s']:,.0f} | "
                 f"{row['score_images_per_s'] / base['score_images_per_s']:.2f}x |")
  text = '\n'.join(lines)
  if FLAGS.benchmarks:
    sweep.replace_section(FLAGS.benchmarks, 'scaling', text)
  print(text)


if __name__ == '__main__':
  app.run(main)
