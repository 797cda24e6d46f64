"""Sweep: many ordinary runs of run.py, each in its own directory, resumable.

A run is finished when its results.json has a stop_reason; rerunning a sweep
skips finished runs and restarts unfinished ones. `--shard=i/k` style sharding
(every k-th run from the i-th) spreads one sweep over several machines.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

from pl_jax import atomic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The seeds tuning runs use (experiments/tune.py; 100 unless told), which
# reported tables leave out.
TUNING_SEEDS = (100, 101, 102)
TUNING_SEED = TUNING_SEEDS[0]


@dataclasses.dataclass(frozen=True)
class Run:
  """One run.py invocation: `flags` (without --workdir) into runs_dir/name."""
  name: str
  flags: tuple[str, ...]


def load_results(workdir: str) -> dict | None:
  """The run's results.json, or None if absent or unreadable."""
  try:
    with open(os.path.join(workdir, 'results.json')) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


# What load_labels raises where labels.npz is absent, empty, cut short or not
# a run's: a script catches these to say so in one line.
LABELS_UNREADABLE = (OSError, KeyError, ValueError, EOFError)


def load_labels(workdir: str) -> tuple[np.ndarray, np.ndarray]:
  """The run's labels.npz: (labels, source), int[N] each (select.LabelState's).

  Raises:
    one of LABELS_UNREADABLE: the file is absent or unreadable.
  """
  with np.load(os.path.join(workdir, 'labels.npz'), allow_pickle=False) as f:
    return f['labels'], f['source']


def is_finished(workdir: str) -> bool:
  results = load_results(workdir)
  return results is not None and results.get('stop_reason') is not None


def grid(rows, seeds, flags_of) -> list[Run]:
  """A run named <row>-s<seed> for every row and seed, with flags_of(row) and
  --seed. Seed-major, so an interrupted sweep already covers every row."""
  return [Run(f'{row}-s{seed}', (*flags_of(row), f'--seed={seed}'))
          for seed in seeds for row in rows]


def finished_results(runs_dir: str, row: str, seeds) -> list[dict]:
  """results.json of the finished runs <row>-s<seed> of a grid."""
  results = [load_results(os.path.join(runs_dir, f'{row}-s{seed}')) for seed in seeds]
  return [r for r in results if r is not None and r.get('stop_reason') is not None]


def mean_minutes(results: list[dict]) -> str:
  """Mean wall time of the runs in minutes, as sweeps record it; '-' if unknown."""
  wall = [r['wall_seconds'] / 60 for r in results if 'wall_seconds' in r]
  return f'{sum(wall) / len(wall):.1f}' if wall else '-'


def shard(runs: list[Run], spec: str) -> list[Run]:
  """spec 'i/k': every k-th run starting at the i-th (0 <= i < k)."""
  index, count = (int(part) for part in spec.split('/'))
  if not 0 <= index < count:
    raise ValueError(f'shard must be i/k with 0 <= i < k, got {spec}')
  return runs[index::count]


def run_all(runs: list[Run], runs_dir: str, log=print, parallel: int = 1) -> None:
  """Runs each unfinished run, `parallel` at a time (several small runs can
  share one GPU); a failed run stops the sweep from starting more."""
  pending = []
  for i, run in enumerate(runs, 1):
    if is_finished(os.path.join(runs_dir, run.name)):
      log(f'[{i}/{len(runs)}] {run.name}: finished, skipped')
    else:
      pending.append((i, run))
  failed = []

  def launch(numbered: tuple[int, Run]) -> None:
    i, run = numbered
    if failed:
      return
    workdir = os.path.join(runs_dir, run.name)
    log(f'[{i}/{len(runs)}] {run.name}: running {" ".join(run.flags)}')
    start = time.perf_counter()
    command = [sys.executable, os.path.join(ROOT, 'run.py'), *run.flags,
               f'--workdir={workdir}', '--noprogress']
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
      failed.append(f'{run.name} failed with exit code {done.returncode}')
      return
    results = load_results(workdir)
    results['wall_seconds'] = round(time.perf_counter() - start, 1)
    atomic.write_json(os.path.join(workdir, 'results.json'), results)

  with concurrent.futures.ThreadPoolExecutor(max(1, parallel)) as pool:
    list(pool.map(launch, pending))
  if failed:
    raise SystemExit('; '.join(failed))


def run_and_tabulate(runs: list[Run], runs_dir: str, summary, benchmarks: str,
                     section: str, summarize_only: bool = False, parallel: int = 1) -> None:
  """Runs the unfinished runs (unless summarize_only; `parallel` at a time),
  then builds the table once from the finished ones (summary(): its markdown),
  puts it into section `section` of the markdown file `benchmarks` and prints it."""
  if not summarize_only:
    run_all(runs, runs_dir, parallel=parallel)
  text = summary()
  replace_section(benchmarks, section, text)
  print(text)


def tabulate_shard(script: str, section: str, known_rows, planned_runs, summary,
                   flag_values) -> None:
  """The main of a reported table's script with --rows, --seeds, --shard,
  --runs_dir, --benchmarks and --summarize_only (flag_values): its seeds checked
  (canonical, no tuning seed), this shard's runs run, the table written."""
  flag_values.seeds = check_rows_and_seeds(script, flag_values.rows, known_rows,
                                           flag_values.seeds)
  run_and_tabulate(shard(planned_runs(), flag_values.shard), flag_values.runs_dir, summary,
                   flag_values.benchmarks, section, flag_values.summarize_only)


def run_name(workdir: str) -> str:
  """How tables name a run: its workdir's own folder name."""
  return os.path.basename(os.path.normpath(workdir))


def fail(script: str, message: str) -> None:
  """A script's bad input: one line on stderr, exit code 2."""
  print(f'{script}: error: {message}', file=sys.stderr)
  sys.exit(2)


def mean_std(values, unit: str = ' %') -> str:
  """'mean +- std' in percent of fractions (std over seeds, ddof=1); a single
  value alone (a spread of one is no spread); '-' for none. unit: what follows
  the numbers (' points' for differences of accuracies)."""
  values = [v for v in values if v is not None]
  if not values:
    return '-'
  if len(values) == 1:
    return f'{100 * values[0]:.2f}{unit}'
  return f'{100 * np.mean(values):.2f} +- {100 * np.std(values, ddof=1):.2f}{unit}'


def canonical_seeds(script: str, seeds) -> list[str]:
  """The seeds as the integers they name ('0100' -> '100'); exits with code 2 and
  a one-line error for one that is not a non-negative integer."""
  try:
    values = [int(seed) for seed in seeds]
  except ValueError:
    fail(script, f'--seeds must be non-negative integers, got {",".join(seeds)}')
  if any(value < 0 for value in values):
    fail(script, f'--seeds must be non-negative integers, got {",".join(seeds)}')
  return [str(value) for value in values]


def check_rows_and_seeds(script: str, rows, known_rows, seeds) -> list[str]:
  """The seeds of a reported table, canonical; exits with code 2 and a one-line
  error if a row is unknown or a tuning seed is among them (as integers)."""
  seeds = canonical_seeds(script, seeds)
  unknown = set(rows) - set(known_rows)
  tuned = sorted(set(seeds) & {str(seed) for seed in TUNING_SEEDS})
  if unknown or tuned:
    fail(script, f'unknown rows {sorted(unknown)}' if unknown else
         f'seed {", ".join(tuned)} is for tuning '
         f'({", ".join(map(str, TUNING_SEEDS))}); report other seeds')
  return seeds


def outcome_cells(results: list[dict], metric: str = 'test_accuracy') -> str:
  """The table cells the sweeps share, over runs' results.json (each with an
  iteration done): the final `metric` (test or validation accuracy), the best
  iteration's, the share of correct training labels at the end (mean +- std
  each), the mean wall minutes."""
  last = [r['iterations'][-1][metric] for r in results]
  best = [max(it[metric] for it in r['iterations']) for r in results]
  labels = [r['iterations'][-1]['train_label_accuracy'] for r in results]
  return (f'{mean_std(last)} | {mean_std(best)} | {mean_std(labels)} '
          f'| {mean_minutes(results)}')


def machine() -> str:
  """CPU model and core count (or the accelerator JAX sees)."""
  model = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo') as f:
      model = next(line.split(':', 1)[1].strip() for line in f if 'model name' in line)
  except (OSError, StopIteration):
    pass
  host = f'{model}, {os.cpu_count()} cores'
  import jax  # pylint: disable=g-import-not-at-top  (sweeps that only run run.py skip it)
  if jax.default_backend() == 'cpu':
    return host
  devices = jax.devices()
  return f'{len(devices)} x {devices[0].device_kind} ({jax.default_backend()}); host {host}'


def table_head(title: str, command: str, caption: str, header: str, align: str) -> list[str]:
  """The first lines of a table section of BENCHMARKS.md: its title, the command that
  wrote it, the machine and the date with a caption, and the table's header rows."""
  return [f'## {title}', '', f'    {command}', '',
          f'Machine: {machine()}. Table written {today()}. {caption}', '', header, align]


def today() -> str:
  return datetime.date.today().isoformat()


def earlier_rows(path: str, section: str, key: str) -> list[str]:
  """The rows of section `section`'s table, as the markdown file has it, whose
  first cell is `key`: a row measured before whose runs are not in this
  checkout's runs dir (runs do not travel with a clone), kept as it was."""
  begin, end = f'<!-- {section}:begin -->', f'<!-- {section}:end -->'
  text = open(path).read() if os.path.exists(path) else ''
  if begin not in text or end not in text:
    return []
  table = text[text.index(begin):text.index(end)]
  return [line for line in table.splitlines() if line.startswith(f'| {key} |')]


def replace_section(path: str, name: str, text: str) -> None:
  """Puts `text` between the markers of section `name` in a markdown file
  (appending the section if absent), atomically."""
  begin, end = f'<!-- {name}:begin -->', f'<!-- {name}:end -->'
  try:
    atomic.check_replaceable(path)  # Before reading: a pipe would block.
    old = open(path).read() if os.path.exists(path) else ''
    block = f'{begin}\n{text.rstrip()}\n{end}'
    if begin in old and end in old:
      new = old[:old.index(begin)] + block + old[old.index(end) + len(end):]
    else:
      new = old.rstrip() + '\n\n' + block + '\n'
    atomic.write_text(path, new)
  except OSError as e:  # Not a file (--benchmarks=/dev/null), unreadable, a full disk.
    fail(os.path.basename(sys.argv[0]), f'cannot write {path}: {e.strerror or e}')
