"""What the run report (report.py) and the sweep report (sweep_report.py) share:
reading a run's results.json, its series and settings, and writing figures and
markdown.

Importing this module sets matplotlib's backend to Agg (files only); both
reports import it before they draw.
"""

from __future__ import annotations

import io
import json
import os

import matplotlib

matplotlib.use('Agg')  # Files only: no display, also on machines without one.
# pylint: disable=g-import-not-at-top,wrong-import-position
import matplotlib.pyplot as plt
import numpy as np

from pl_jax import atomic

FIGURES_DIR = 'figures'


class ReportError(Exception):
  """Input a report cannot be made from (missing or unreadable results.json)."""


# --- Reading ---------------------------------------------------------------


def load_run(run_dir: str) -> dict:
  """The run's results.json, checked for what a report needs; ReportError if not."""
  path = os.path.join(run_dir, 'results.json')
  if not os.path.isfile(path):
    raise ReportError(f'{run_dir}: no results.json (not a run directory?)')
  try:
    with open(path) as f:
      results = json.load(f)
  except (OSError, UnicodeDecodeError) as e:
    raise ReportError(f'{path}: cannot read: {e}') from e
  except ValueError as e:
    raise ReportError(f'{path}: not valid JSON: {e}') from e
  if not (isinstance(results, dict) and isinstance(results.get('config'), dict)
          and isinstance(results.get('iterations'), list)):
    raise ReportError(f'{path}: not a pl_jax results file (no config or iterations)')
  return results


def column(results: dict, name: str) -> np.ndarray:
  """One field over the iterations as float[I]; None (nothing measured) is NaN,
  which matplotlib leaves out of lines."""
  return np.array([np.nan if row.get(name) is None else row[name]
                   for row in results['iterations']], np.float64)


def percent(results: dict, name: str) -> np.ndarray:
  """A fraction-valued field over the iterations, in percent. float[I]."""
  return 100 * column(results, name)


def setting(results: dict, name: str, default=None):
  return results['config'].get(name, default)


def stop_text(results: dict) -> str:
  if results.get('stop_reason') is None:
    return f"unfinished ({len(results['iterations'])} iteration(s) so far)"
  return results['stop_reason']


# --- Writing ---------------------------------------------------------------


def save_figure(figure, path: str) -> None:
  """Writes a PNG atomically (atomic.write_bytes: a temp file in the same
  directory, then os.replace), so a reader never sees half an image; closes the
  figure."""
  buffer = io.BytesIO()
  try:
    figure.savefig(buffer, format='png', dpi=110, bbox_inches='tight')
  finally:
    plt.close(figure)
  atomic.write_bytes(path, buffer.getvalue())


def write_figures(plots: dict, source, out_dir: str) -> dict[str, str]:
  """Draws each figure of plots (file name -> (figure function, caption)) from
  source and saves it in out_dir/figures/, leaving out those a function returns
  None for; returns caption -> path relative to out_dir, in plots' order."""
  figures = {}
  for name, (plot, caption) in plots.items():
    figure = plot(source)
    if figure is not None:
      save_figure(figure, os.path.join(out_dir, FIGURES_DIR, name))
      figures[caption] = f'{FIGURES_DIR}/{name}'
  return figures


def format_percent(value) -> str:
  return '-' if value is None else f'{100 * value:.2f}'


def markdown_table(headers: list[str], rows: list[list[str]], align: str = '') -> str:
  """A markdown table; align: 'l' or 'r' per column, default: the first column
  left (names), the rest right (numbers)."""
  align = align or 'l' + 'r' * (len(headers) - 1)
  lines = ['| ' + ' | '.join(headers) + ' |',
           '|' + ''.join('---|' if a == 'l' else '---:|' for a in align)]
  lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
  return '\n'.join(lines)


def figure_sections(figures: dict[str, str]) -> list[str]:
  """report.md's lines for the figures (caption -> path): a section each."""
  lines = []
  for caption, path in figures.items():
    lines += [f'## {caption}', '', f'![{caption}]({path})', '']
  return lines
