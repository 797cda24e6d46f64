"""Run report: figures and a report.md for one run; the reports' command line.

  python -m pl_jax.report RUN_DIR                       # rebuild one run's report
  python -m pl_jax.report RUN_DIR RUN_DIR ... [--out=DIR]  # each run, and a sweep report

run.py writes the report after each iteration; the command rebuilds it, also
while the run is still going (results.json is replaced atomically, so reading
needs no lock). The sweep report is sweep_report.py's.

Everything is read from the runs' results.json; nothing is recomputed. Figures
of oracle metrics (hidden labels, see metrics.ORACLE_METRICS) say "(oracle)".
A figure whose data a run does not have (no hidden labels, no test split) is
left out rather than drawn empty.
"""

from __future__ import annotations

import argparse
import os
import sys

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import ticker

from pl_jax import atomic, metrics
from pl_jax import report_common as common
from pl_jax import sweep_report

# One colour per quantity, the same in every figure.
COLORS = {'test': 'tab:blue', 'pool': 'tab:orange', 'human': 'tab:blue',
          'pseudo': 'tab:orange', 'labels': 'tab:purple', 'selected': 'tab:green',
          'rejected': 'tab:red', 'correct': 'tab:green', 'wrong': 'tab:red',
          'all': 'tab:gray', 'threshold': 'black'}


def has_data(*series: np.ndarray) -> bool:
  return any(np.isfinite(s).any() for s in series)


def run_title(results: dict) -> str:
  """What identifies a run in every title: data set, labels, threshold, seed."""
  title = (f"{results.get('dataset') or common.setting(results, 'dataset', '?')}, "
           f"n_labeled={common.setting(results, 'n_labeled', '?')}, "
           f"threshold={common.setting(results, 'threshold', '?')}, "
           f"seed {common.setting(results, 'seed', '?')}")
  if results.get('stop_reason') is None:
    title += ' (unfinished)'
  return title


# --- Per-run figures: each takes results, returns a figure or None ------------


def iterations_axis(ax, results: dict) -> np.ndarray:
  """Integer iteration ticks on the x axis; returns the iteration numbers."""
  x = common.column(results, 'iteration')
  ax.set_xlabel('iteration')
  ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
  ax.set_xlim(x.min() - 0.5, x.max() + 0.5)
  ax.grid(alpha=0.3)
  return x


def label_points(ax, x, y, color, below=None) -> None:
  """Writes each point's value (percent, 2 decimals) above it, or below it where
  `below` (bool[I]) is set."""
  below = np.zeros(len(x), bool) if below is None else below
  for xi, yi, down in zip(x, y, below):
    if np.isfinite(yi):
      # A white box keeps the number legible where it crosses a line.
      ax.annotate(f'{yi:.2f}', (xi, yi), textcoords='offset points',
                  xytext=(0, -8 if down else 6), va='top' if down else 'bottom',
                  ha='center', fontsize=8, color=color,
                  bbox={'boxstyle': 'round,pad=0.1', 'fc': 'white', 'ec': 'none',
                        'alpha': 0.8})


def label_two_series(ax, x, a, b, colors) -> None:
  """Labels two series' points, the higher one's above and the lower one's below,
  so that values of points close together do not overlap."""
  with np.errstate(invalid='ignore'):
    a_lower = a < b
  label_points(ax, x, a, colors[0], below=a_lower)
  label_points(ax, x, b, colors[1], below=~a_lower & np.isfinite(a))


def legend_below(ax) -> None:
  """The legend under the axes, where it cannot hide a line."""
  ax.legend(loc='upper center', bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize=9,
            frameon=False)


def one_series_figure(results: dict, name: str, color: str, ylabel: str, title: str):
  """A fraction-valued field by iteration, in percent, each point's value written
  on it; None if the run has no value of it."""
  y = common.percent(results, name)
  if not has_data(y):
    return None
  figure, ax = plt.subplots(figsize=(7, 4.2))
  x = iterations_axis(ax, results)
  ax.plot(x, y, 'o-', color=color)
  label_points(ax, x, y, color)
  ax.margins(y=0.15)
  ax.set_ylabel(ylabel)
  ax.set_title(f'{title}\n{run_title(results)}')
  return figure


def plot_test_accuracy(results: dict):
  return one_series_figure(results, 'test_accuracy', COLORS['test'], 'test accuracy (%)',
                           'Test accuracy by iteration')


def plot_accuracy_over_time(results: dict):
  """Test and validation accuracy against the run's wall-clock seconds (each
  point an iteration's end): time to accuracy. None without either figure or
  without recorded wall seconds (runs of earlier versions)."""
  seconds = common.column(results, 'wall_seconds')
  series = [(name, common.percent(results, name)) for name in
            ('test_accuracy', 'validation_accuracy')]
  series = [(name, y) for name, y in series if has_data(y)]
  if not series or not has_data(seconds):
    return None
  figure, ax = plt.subplots(figsize=(7, 4.2))
  for (name, y), color in zip(series, (COLORS['test'], 'tab:green')):
    ax.plot(seconds, y, 'o-', color=color, label=name.replace('_', ' '))
  ax.set_xlabel('wall-clock seconds since the run began')
  ax.set_ylabel('accuracy (%)')
  ax.set_xlim(left=0)
  legend_below(ax)
  ax.set_title(f'Accuracy against time\n{run_title(results)}')
  return figure


def plot_training_set(results: dict):
  human, pseudo = common.column(results, 'n_human'), common.column(results, 'n_pseudo')
  figure, ax = plt.subplots(figsize=(7, 4.2))
  x = iterations_axis(ax, results)
  ax.bar(x, human, color=COLORS['human'], label='human labels')
  ax.bar(x, pseudo, bottom=human, color=COLORS['pseudo'], label='pseudo-labels')
  for xi, total in zip(x, human + pseudo):
    ax.annotate(f'{total:,.0f}', (xi, total), textcoords='offset points', xytext=(0, 3),
                ha='center', fontsize=8)
  ax.margins(y=0.1)
  ax.yaxis.set_major_formatter(ticker.StrMethodFormatter('{x:,.0f}'))
  ax.set_ylabel('training examples (count)')
  ax.legend(loc='upper left')
  ax.set_title(f'Training set by iteration: human + pseudo-labeled\n{run_title(results)}')
  return figure


def plot_train_label_accuracy(results: dict):
  return one_series_figure(results, 'train_label_accuracy', COLORS['labels'],
                           'correct training labels (%, oracle)',
                           'Share of correct labels in the training set (oracle)')


def two_series_figure(results: dict, first: tuple, second: tuple, ylabel: str,
                      title: str):
  """Two accuracy series by iteration, their values labelled apart.

  first, second: (values in %, marker style, color, legend label).
  """
  figure, ax = plt.subplots(figsize=(7, 4.2))
  x = iterations_axis(ax, results)
  for values, style, color, label in (first, second):
    ax.plot(x, values, style, color=color, label=label)
  label_two_series(ax, x, first[0], second[0], (first[2], second[2]))
  ax.margins(y=0.15)
  ax.set_ylabel(ylabel)
  legend_below(ax)
  ax.set_title(f'{title}\n{run_title(results)}')
  return figure


def plot_selection_accuracy(results: dict):
  selected = common.percent(results, 'selected_accuracy')
  rejected = common.percent(results, 'rejected_accuracy')
  if not has_data(selected, rejected):
    return None
  threshold = common.setting(results, 'threshold')
  return two_series_figure(
      results,
      (selected, 'o-', COLORS['selected'], f'selected (confidence > {threshold})'),
      (rejected, 's-', COLORS['rejected'], f'rejected (confidence <= {threshold})'),
      'accuracy of the predictions (%, oracle)',
      'Accuracy of the pool predictions, selected vs rejected (oracle)')


def plot_pool_and_test_accuracy(results: dict):
  pool = common.percent(results, 'pool_accuracy')
  test = common.percent(results, 'test_accuracy')
  if not has_data(pool):
    return None
  return two_series_figure(
      results, (test, 'o-', COLORS['test'], 'test accuracy'),
      (pool, 's-', COLORS['pool'], 'pool accuracy (oracle): examples still unlabeled'),
      'accuracy (%)', 'Pool accuracy (oracle) beside test accuracy')


def small_multiples(n: int, **kwargs):
  """A grid of n panels (at most 5 a row), shared axes; unused panels hidden."""
  ncols = min(n, 5)
  nrows = -(-n // ncols)
  figure, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.8 * nrows + 0.9),
                              squeeze=False, **kwargs)
  for ax in axes.flat[n:]:
    ax.set_visible(False)
  return figure, axes.flat[:n]


def nines_tick_label(nines: float) -> str:
  """The confidence a number of nines stands for: 1 -> '0.9', 3 -> '0.999'."""
  return '0' if nines == 0 else f'{1 - 10.0 ** -nines:.{int(nines)}f}'


def label_outer_panels(panels, xlabel: str, ylabel: str) -> None:
  """Axis labels only where they are needed: x on the bottom row, y on the left."""
  for ax in panels:
    if ax.get_subplotspec().is_last_row():
      ax.set_xlabel(xlabel)
    if ax.get_subplotspec().is_first_col():
      ax.set_ylabel(ylabel)


def confidence_panel(ax, row: dict, oracle: bool, threshold: float) -> None:
  """One iteration's pool confidence histogram (log counts, nines scale) with
  the threshold; correct and wrong apart where oracle, else all together."""
  ax.set_title(f"iteration {row['iteration']}: pool {row['pool_size']:,}", fontsize=9)
  ax.set_yscale('log')
  ax.grid(alpha=0.3)
  histogram = row.get('pool_confidence_histogram')
  if not histogram:
    return
  edges = np.array(histogram['nines_edges'])
  parts = ('correct', 'wrong') if oracle else ('all',)
  if not any(sum(histogram[part]) for part in parts):
    # Nothing to draw on a log scale (matplotlib would warn about it).
    ax.text(0.5, 0.5, 'empty pool', transform=ax.transAxes, ha='center', color='gray')
    return
  for part in parts:
    counts = np.array(histogram[part], np.float64)
    ax.stairs(counts, edges, color=COLORS[part], linewidth=1.5,
              label=f'{part} (oracle)' if oracle else 'pool predictions')
  ax.axvline(metrics.nines(np.array([threshold]))[0], color=COLORS['threshold'],
             linestyle='--', linewidth=1, label=f'threshold {threshold}')
  ticks = range(0, int(edges[-1]) + 1)
  ax.set_xticks(ticks)
  ax.set_xticklabels([nines_tick_label(k) for k in ticks], rotation=45, ha='right',
                     rotation_mode='anchor', fontsize=7)


def plot_pool_confidence(results: dict):
  histograms = [row.get('pool_confidence_histogram') for row in results['iterations']]
  if not any(histograms):
    return None
  oracle = any(h and h.get('correct') is not None for h in histograms)
  figure, panels = small_multiples(len(histograms), sharex=True, sharey=True)
  for ax, row in zip(panels, results['iterations']):
    confidence_panel(ax, row, oracle, common.setting(results, 'threshold'))
  label_outer_panels(panels, 'confidence (nines scale)', 'pool examples (count)')
  figure.legend(*panels[0].get_legend_handles_labels(), loc='lower center', ncol=3,
                fontsize=8, frameon=False)
  figure.suptitle('Confidence of the pool predictions, '
                  f"{'correct vs wrong (oracle)' if oracle else 'all'}; "
                  'the last bin also holds all above 0.999999\n'
                  f'{run_title(results)}', fontsize=10)
  figure.tight_layout(rect=(0, 0.06, 1, 1))  # Room for the legend below.
  return figure


def reliability_panel(ax, row: dict, threshold: float) -> None:
  """One iteration's reliability diagram of the test set, the threshold marked."""
  ax.set_title(f"iteration {row['iteration']}", fontsize=9)
  ax.plot([0, 100], [0, 100], color='gray', linestyle=':', linewidth=1,
          label='perfect calibration')
  ax.axvline(100 * threshold, color=COLORS['threshold'], linestyle='--', linewidth=1,
             label=f'threshold {threshold}')
  ax.grid(alpha=0.3)
  calibration = row.get('test_calibration')
  if not calibration:
    return
  confidence, accuracy, count = np.array(
      [(100 * c, 100 * a, n) for c, a, n in zip(calibration['confidence'],
                                                 calibration['accuracy'],
                                                 calibration['count']) if n]).T
  ax.plot(confidence, accuracy, 'o-', color=COLORS['test'], linewidth=1, markersize=3,
          label=f"test set, ECE {100 * calibration['ece']:.2f} %")
  # Marker area shows how many test examples a bin holds: a bin of one example
  # can sit anywhere and should not look as weighty as one of thousands.
  ax.scatter(confidence, accuracy, s=4 + 250 * count / count.sum(), alpha=0.6,
             color=COLORS['test'], zorder=3, clip_on=False)
  ax.legend(fontsize=7, loc='upper left')


def plot_reliability(results: dict):
  calibrations = [row.get('test_calibration') for row in results['iterations']]
  if not any(calibrations):
    return None
  figure, panels = small_multiples(len(calibrations), sharex=True, sharey=True)
  for ax, row in zip(panels, results['iterations']):
    reliability_panel(ax, row, common.setting(results, 'threshold'))
  for ax in panels:
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
  label_outer_panels(panels, 'mean confidence (%)', 'accuracy (%)')
  figure.suptitle('Reliability diagram on the test set: one point per confidence bin '
                  '(area: its share of the test set)\n'
                  f'{run_title(results)}', fontsize=10)
  figure.tight_layout()
  return figure


# file name -> (figure function, caption in report.md); the report's order.
RUN_FIGURES = {
    'test_accuracy.png': (plot_test_accuracy, 'Test accuracy by iteration'),
    'accuracy_over_time.png': (plot_accuracy_over_time,
                               'Test and validation accuracy against wall-clock time'),
    'training_set.png': (plot_training_set, 'Training set: human and pseudo-labels'),
    'train_label_accuracy.png': (plot_train_label_accuracy,
                                 'Correct training labels (oracle)'),
    'selection_accuracy.png': (plot_selection_accuracy,
                               'Selected vs rejected predictions (oracle)'),
    'pool_and_test_accuracy.png': (plot_pool_and_test_accuracy,
                                   'Pool accuracy (oracle) beside test accuracy'),
    'pool_confidence.png': (plot_pool_confidence, 'Pool confidence histograms'),
    'reliability.png': (plot_reliability, 'Reliability diagrams (test set)'),
}


# --- Markdown --------------------------------------------------------------


def format_count(value) -> str:
  return '-' if value is None else f'{value:,}'


def oracle_header(name: str, header: str) -> str:
  return f'{header} (oracle)' if name in metrics.ORACLE_METRICS else header


# field -> (column header, formatter), in table order.
RUN_TABLE = {
    'iteration': ('iteration', str),
    'n_train': ('train examples', format_count),
    'n_pseudo': ('of which pseudo', format_count),
    'train_label_accuracy': ('train labels correct %', common.format_percent),
    'test_accuracy': ('test acc. %', common.format_percent),
    'validation_accuracy': ('validation acc. %', common.format_percent),
    'wall_seconds': ('wall s', lambda v: '-' if v is None else f'{v:.0f}'),
    'pool_size': ('pool', format_count),
    'pool_accuracy': ('pool acc. %', common.format_percent),
    'n_selected': ('selected', format_count),
    'selected_accuracy': ('selected acc. %', common.format_percent),
    'rejected_accuracy': ('rejected acc. %', common.format_percent),
}


def run_table(results: dict) -> str:
  """One row per iteration: the main figures, oracle columns marked."""
  headers = [oracle_header(name, header) for name, (header, _) in RUN_TABLE.items()]
  rows = [[fmt(row.get(name)) for name, (_, fmt) in RUN_TABLE.items()]
          for row in results['iterations']]
  return common.markdown_table(headers, rows)


def first_selection_table(results: dict) -> str | None:
  """The run's first pseudo-labels by predicted class, and how many are right
  (oracle; metrics.first_selection); None if the run did not record them."""
  selected, correct = metrics.first_selection(results)
  if selected is None:
    return None
  names = results.get('model', {}).get('class_names') or [str(k) for k in range(len(selected))]
  rows = [[name, format_count(n),
           '-' if correct is None else format_count(correct[k]),
           '-' if correct is None or not n else f'{100 * correct[k] / n:.2f}']
          for k, (name, n) in enumerate(zip(names, selected))]
  return common.markdown_table(
      ['predicted class', 'selected', 'right (oracle)', 'right % (oracle)'], rows)


def mistakes_table(results: dict) -> str | None:
  """The last iteration's commonest wrong training labels (oracle;
  metrics.commonest_mistakes); None where the run did not record them or has none."""
  rows = results['iterations']
  matrix = rows[-1].get('train_label_confusion') if rows else None
  mistakes = metrics.commonest_mistakes(matrix) if matrix else []
  if not mistakes:
    return None
  names = results.get('model', {}).get('class_names') or [str(k) for k in range(len(matrix))]
  wrong = metrics.mistakes(matrix)
  return common.markdown_table(
      ['true class', 'labeled as', 'examples', 'of the wrong labels'],
      [[names[true], names[label], format_count(count), f'{100 * count / wrong:.0f} %']
       for true, label, count in mistakes])


def run_markdown(results: dict, figures: dict[str, str]) -> str:
  """report.md of one run; figures: caption -> path relative to the run dir."""
  config = ', '.join(f'{k}={v}' for k, v in results['config'].items()
                     if k not in ('data_dir', 'workdir'))
  lines = [
      f'# Run report: {run_title(results)}', '',
      f"- data set: {results.get('dataset')} from {results.get('data_source')}",
      f'- config: {config}',
      f'- stop reason: {common.stop_text(results)}',
      f"- final test accuracy: {common.format_percent(results.get('final_test_accuracy'))}"
      f"{'' if results.get('final_test_accuracy') is None else ' %'}",
  ]
  last = results['iterations'][-1] if results['iterations'] else {}
  if 'test_accuracy_final_models' in last:
    final_models = last['test_accuracy_final_models']
    each = ', '.join(f'{common.format_percent(a)} %' for a in final_models)
    lines.append(f"- the final test accuracy is the mean softmax of "
                 f"{len(final_models)} final models; each alone: {each} "
                 f"(the first is the last iteration's)")
  if 'wall_seconds' in results:
    lines.append(f"- wall time: {results['wall_seconds'] / 60:.1f} min")
  lines += ['', 'Accuracies in percent. Oracle columns use hidden true labels, which a '
            'real user does not have.', '', run_table(results), '']
  first = first_selection_table(results)
  if first is not None:  # Where a run with few labels goes wrong first.
    lines += ['## The first pseudo-labels, by class', '', first, '']
  mistakes = mistakes_table(results)
  if mistakes is not None:  # Systematic: the largest cells name what goes wrong.
    lines += ['## The commonest wrong training labels, last iteration (oracle)', '',
              mistakes, '']
  return '\n'.join(lines + common.figure_sections(figures))


def write_run_report(run_dir: str) -> str:
  """Writes run_dir/figures/*.png and run_dir/report.md; returns report.md's path."""
  results = common.load_run(run_dir)
  figures = {}
  if results['iterations']:
    figures = common.write_figures(RUN_FIGURES, results, run_dir)
  path = os.path.join(run_dir, 'report.md')
  atomic.write_text(path, run_markdown(results, figures))
  return path


# --- Command line ----------------------------------------------------------


class _Parser(argparse.ArgumentParser):
  """argparse, but a usage error is one line on stderr and exit code 2."""

  def error(self, message):
    fail(message)


def fail(message: str) -> None:
  print(f'pl_jax.report: error: {message}', file=sys.stderr)
  sys.exit(2)


def main(argv: list[str] | None = None) -> None:
  # argparse here, not absl flags: absl would register global flags in every
  # process that imports this module, run.py included.
  parser = _Parser(prog='python -m pl_jax.report',
                   description='Figures and report.md for runs of run.py.')
  parser.add_argument('run_dirs', nargs='+', metavar='DIR', help='run directories')
  parser.add_argument('--out', help='where the sweep report goes (written for several '
                      'runs, or for one when --out is given); default: the common '
                      'parent of the runs')
  args = parser.parse_args(argv)
  try:
    for run_dir in args.run_dirs:  # Check every input before writing anything.
      common.load_run(run_dir)
    for run_dir in args.run_dirs:
      print(write_run_report(run_dir))
    if len(args.run_dirs) > 1 or args.out:
      out = args.out or os.path.commonpath([os.path.abspath(d) for d in args.run_dirs])
      print(sweep_report.write_sweep_report(args.run_dirs, out))
  except common.ReportError as e:
    fail(str(e))
  except OSError as e:
    fail(f'cannot write the report: {e}')


if __name__ == '__main__':
  main()
