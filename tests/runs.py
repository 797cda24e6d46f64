"""What two finished runs must share, for the tests that compare equal runs
(a resumed run against an unbroken one)."""

import json
import os


def comparable(workdir) -> dict:
  """results.json without what may differ between equal runs: timings, the
  machine's speed, workdir."""
  with open(os.path.join(workdir, 'results.json')) as f:
    results = json.load(f)
  results['config'].pop('workdir', None)
  results['devices'].pop('matmul_gflops')
  for row in results['iterations']:
    for key in [k for k in row if k.endswith('_seconds')]:
      row.pop(key)
  return results
