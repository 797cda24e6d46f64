"""Do two runs give the same numbers, to the bit? For checking that a change of
the code (a clean-up, a speed-up) changes no result.

  python benchmarks/same_numbers.py BEFORE_WORKDIR AFTER_WORKDIR [BEFORE AFTER ...]

Compares, pair by pair, every iteration row of results.json except its wall
times (`*_seconds`), the run's stop reason and final test accuracy, and every
array of labels.npz and scores.npz, exactly. Prints one line per pair and exits
1 if any pair differs.
"""

import json
import os
import sys

import numpy as np


def without_timings(row: dict) -> dict:
  return {key: value for key, value in row.items() if not key.endswith('_seconds')}


def differences(before: str, after: str) -> list[str]:
  """What differs between two finished runs' files (empty: the same numbers)."""
  found = []
  with open(os.path.join(before, 'results.json')) as f:
    old = json.load(f)
  with open(os.path.join(after, 'results.json')) as f:
    new = json.load(f)
  for key in ('stop_reason', 'final_test_accuracy'):
    if old[key] != new[key]:
      found.append(f'{key}: {old[key]} -> {new[key]}')
  if len(old['iterations']) != len(new['iterations']):
    found.append(f'iterations: {len(old["iterations"])} -> {len(new["iterations"])}')
  for a, b in zip(old['iterations'], new['iterations']):
    a, b = without_timings(a), without_timings(b)
    for key in sorted(set(a) | set(b)):
      if a.get(key) != b.get(key):
        found.append(f'iteration {a["iteration"]} {key}: {a.get(key)} -> {b.get(key)}')
  for name in ('labels.npz', 'scores.npz'):
    with np.load(os.path.join(before, name)) as f, np.load(os.path.join(after, name)) as g:
      for key in sorted(set(f.files) | set(g.files)):
        if key not in f.files or key not in g.files or not np.array_equal(
            f[key], g[key], equal_nan=f[key].dtype.kind == 'f'):
          found.append(f'{name}:{key} differs')
  return found


def main(argv: list[str]) -> int:
  if len(argv) < 2 or len(argv) % 2:
    print('usage: same_numbers.py BEFORE AFTER [BEFORE AFTER ...]', file=sys.stderr)
    return 2
  differ = False
  for before, after in zip(argv[::2], argv[1::2]):
    try:
      found = differences(before, after)
    except (OSError, KeyError, ValueError) as e:
      print(f'same_numbers.py: error: {before} vs {after}: {e}', file=sys.stderr)
      return 2
    differ |= bool(found)
    print(f'{before} vs {after}: ' + ('the same numbers' if not found else
                                      f'{len(found)} differences: ' + '; '.join(found[:5])))
  return 1 if differ else 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
