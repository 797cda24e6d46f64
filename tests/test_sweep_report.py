"""The sweep report from hand-made results.json files (test_report.py's): its
figures, and one table row per run, sorted, linked to the run's report."""

from test_report import assert_png, read, synthetic_results, write_run

from pl_jax import sweep_report


def test_sweep_report(tmp_path):
  run_dirs = [write_run(tmp_path / f't{threshold}', synthetic_results(threshold))
              for threshold in (0.99, 0.5, 0.9)]
  path = sweep_report.write_sweep_report(run_dirs, str(tmp_path / 'sweep'))
  text = read(path)
  for name in sweep_report.SWEEP_FIGURES:
    assert_png(tmp_path / 'sweep' / 'figures' / name)
    assert f'](figures/{name})' in text
  rows = [line for line in text.splitlines() if line.startswith('| [')]
  # Sorted by threshold, each links to its run's report.
  assert [row.split('|')[3].strip() for row in rows] == ['0.5', '0.9', '0.99']
  assert rows[0].startswith('| [t0.5](../t0.5/report.md) | 100 | 0.5 | 0 | 3 | 83.00 | '
                            '89.00 | +6.00 | max_iterations |')
