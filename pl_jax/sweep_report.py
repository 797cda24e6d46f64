"""Sweep report: one table and a few figures over many runs, e.g. a threshold sweep.

  python -m pl_jax.report RUN_DIR RUN_DIR ... [--out=DIR]  # each run, and a sweep report

or write_sweep_report from a script (experiments/sweep_threshold.py). One table
row per run, linked to the run's own report (report.py). Everything is read from
the runs' results.json; nothing is recomputed.
"""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import cm, colors

from pl_jax import atomic
from pl_jax import report_common as common

MARKERS = 'os^Dvp*'
# The settings that tell a sweep's runs apart: the table's order and columns.
RUN_ORDER = ('n_labeled', 'threshold', 'seed')


def by_value(value):
  """Sort key: numbers by value, before anything else (as text)."""
  return (0, value, '') if isinstance(value, (int, float)) else (1, 0, str(value))


def gains(results: dict) -> np.ndarray:
  """Test accuracy of each iteration minus iteration 1's, in percentage points."""
  test = common.percent(results, 'test_accuracy')
  return test - test[0]


def sweep_title(runs: dict[str, dict]) -> str:
  datasets = sorted({str(r.get('dataset')) for r in runs.values()})
  n_labeled = sorted({common.setting(r, 'n_labeled') for r in runs.values()}, key=by_value)
  seeds = sorted({common.setting(r, 'seed') for r in runs.values()}, key=by_value)
  return (f"{', '.join(datasets)}, n_labeled={', '.join(map(str, n_labeled))}, "
          f"seeds {', '.join(map(str, seeds))}, {len(runs)} run{'s' * (len(runs) != 1)}")


def by_n_labeled(runs: dict[str, dict]) -> dict:
  """Runs grouped by n_labeled (sorted), each group a list of results."""
  groups = {}
  for results in runs.values():
    groups.setdefault(common.setting(results, 'n_labeled'), []).append(results)
  return dict(sorted(groups.items(), key=lambda item: by_value(item[0])))


# --- Figures: each takes runs (name -> results), returns a figure or None ------


def threshold_axes(ax, runs: dict[str, dict], ylabel: str, title: str,
                   legend_fontsize=None) -> None:
  """What both sweep figures have: the threshold on x, a grid, the legend, and
  the sweep in the title."""
  ax.grid(alpha=0.3)
  ax.legend(loc='best', fontsize=legend_fontsize)
  ax.set_xlabel('threshold (confidence)')
  ax.set_ylabel(ylabel)
  ax.set_title(f'{title}\n{sweep_title(runs)}')


def scatter_gains(ax, group: list[dict], marker: str, cmap, norm) -> None:
  """One n_labeled's runs: each later iteration's gain over iteration 1 at the
  run's threshold, coloured by iteration."""
  x = np.concatenate([np.full(len(r['iterations']) - 1, common.setting(r, 'threshold'))
                      for r in group])
  y = np.concatenate([gains(r)[1:] for r in group])
  iteration = np.concatenate([common.column(r, 'iteration')[1:] for r in group])
  ax.scatter(x, y, c=iteration, cmap=cmap, norm=norm, marker=marker, s=30,
             edgecolors='none')


def plot_gain_vs_threshold(runs: dict[str, dict]):
  """Every iteration after the first of every run: its gain over iteration 1.
  Runs of a single iteration have no such point (see the final-accuracy figure)."""
  runs = {k: r for k, r in runs.items() if len(r['iterations']) > 1}
  if not runs:
    return None
  last = max(len(r['iterations']) for r in runs.values())
  # One colour per iteration (2 .. last), with the colour bar ticks on them.
  cmap = plt.get_cmap('viridis', last - 1)
  norm = colors.Normalize(vmin=1.5, vmax=last + 0.5)
  figure, ax = plt.subplots(figsize=(8, 4.8))
  for marker, (n_labeled, group) in zip(MARKERS, by_n_labeled(runs).items()):
    scatter_gains(ax, group, marker, cmap, norm)
    # Legend entries in gray: the colour is the iteration, the shape n_labeled.
    ax.scatter([], [], color='gray', marker=marker, label=f'n_labeled={n_labeled}')
  ax.axhline(0, color='gray', linewidth=1)
  colorbar = figure.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax,
                             ticks=range(2, last + 1))
  colorbar.set_label('iteration')
  threshold_axes(ax, runs, 'test accuracy gain over iteration 1 (% points)',
                 'Test accuracy gain over iteration 1, each later iteration of each run')
  return figure


def plot_finals(ax, group: list[dict], n_labeled, color: str, marker: str) -> None:
  """One n_labeled's runs: each run's final test accuracy (hollow if unfinished)
  and a line through the mean over the seeds per threshold."""
  x = np.array([common.setting(r, 'threshold') for r in group])
  y = np.array([100 * r['final_test_accuracy'] for r in group])
  finished = np.array([r.get('stop_reason') is not None for r in group])
  ax.scatter(x[finished], y[finished], color=color, marker=marker, s=28,
             label=f'n_labeled={n_labeled}, one run')
  ax.scatter(x[~finished], y[~finished], facecolors='none', edgecolors=color,
             marker=marker, s=28)
  thresholds = np.unique(x)
  # The mean as a dash, so that a single run's marker stays visible under it.
  ax.plot(thresholds, [y[x == t].mean() for t in thresholds], '-', marker='_',
          markersize=16, color=color, alpha=0.7, label=f'n_labeled={n_labeled}, mean')


def plot_final_vs_threshold(runs: dict[str, dict]):
  """Final test accuracy of every run (light; hollow if unfinished) and a line
  through the mean over the seeds per threshold, one per n_labeled."""
  runs = {k: r for k, r in runs.items() if r.get('final_test_accuracy') is not None}
  if not runs:
    return None
  figure, ax = plt.subplots(figsize=(8, 4.8))
  for i, (n_labeled, group) in enumerate(by_n_labeled(runs).items()):
    plot_finals(ax, group, n_labeled, f'C{i}', MARKERS[i % len(MARKERS)])
  if not all(r.get('stop_reason') for r in runs.values()):
    ax.scatter([], [], facecolors='none', edgecolors='gray',
               label='unfinished run (its last iteration so far)')
  threshold_axes(ax, runs, 'final test accuracy (%)', 'Final test accuracy by threshold',
                 legend_fontsize=8)
  return figure


SWEEP_FIGURES = {
    'gain_vs_threshold.png': (plot_gain_vs_threshold,
                              'Test accuracy gain over iteration 1, by threshold'),
    'final_vs_threshold.png': (plot_final_vs_threshold,
                               'Final test accuracy, by threshold'),
}


# --- Markdown --------------------------------------------------------------


def sweep_row(name: str, link: str, results: dict) -> list[str]:
  test = [row.get('test_accuracy') for row in results['iterations']]
  first, last = (test[0], test[-1]) if test else (None, None)
  gain = '-' if first is None or last is None else f'{100 * (last - first):+.2f}'
  return ([f'[{name}]({link})'] + [str(common.setting(results, key)) for key in RUN_ORDER]
          + [str(len(results['iterations'])), common.format_percent(first),
             common.format_percent(last), gain, common.stop_text(results)])


def sweep_markdown(rows: list[list[str]], runs: dict[str, dict],
                   figures: dict[str, str]) -> str:
  """report.md of a sweep: one table row per run (sorted), then the figures."""
  headers = ['run', *RUN_ORDER, 'iterations', 'test acc. iteration 1 %',
             'final test acc. %', 'gain (% points)', 'stop reason']
  lines = [f'# Sweep report: {sweep_title(runs)}', '',
           'One row per run (each links to its own report). Gain: final minus '
           'iteration-1 test accuracy.', '',
           common.markdown_table(headers, rows, 'lrrrrrrrl'), '']
  return '\n'.join(lines + common.figure_sections(figures))


def run_key(results: dict):
  """Sweep table order: by RUN_ORDER's settings."""
  return tuple(by_value(common.setting(results, name)) for name in RUN_ORDER)


def run_names(run_dirs: list[str], out_dir: str) -> list[str]:
  """The runs' names in the sweep: their directories' base names, unless two
  runs share one; then their paths relative to out_dir."""
  names = [os.path.basename(os.path.normpath(d)) for d in run_dirs]
  if len(set(names)) < len(names):
    names = [os.path.relpath(d, out_dir) for d in run_dirs]
  return names


def write_sweep_report(run_dirs: list[str], out_dir: str) -> str:
  """Writes out_dir/figures/*.png and out_dir/report.md over the given runs (their
  own reports are not touched); returns report.md's path."""
  loaded = {run_dir: common.load_run(run_dir) for run_dir in run_dirs}
  order = sorted(loaded, key=lambda run_dir: run_key(loaded[run_dir]))
  names = run_names(order, out_dir)
  runs = {name: loaded[d] for name, d in zip(names, order)}
  rows = [sweep_row(name, os.path.relpath(os.path.join(d, 'report.md'), out_dir),
                    loaded[d]) for name, d in zip(names, order)]
  figures = common.write_figures(SWEEP_FIGURES, runs, out_dir)
  path = os.path.join(out_dir, 'report.md')
  atomic.write_text(path, sweep_markdown(rows, runs, figures))
  return path
