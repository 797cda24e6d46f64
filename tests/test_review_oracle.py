"""experiments/review_oracle.py on tiny settings: a run, the oracle's answers
through the page and the Label Studio export, the follow-up runs, the table."""

import json

import pytest

from conftest import run_script

pytestmark = pytest.mark.slow
TINY = ('--n_labeled=100,--iterations=1,--epochs=1,--final_epochs=1,--min_steps=60,'
        '--frozen=,--final_models=1,--score_views=0,--threshold=0.9999')


def test_review_oracle_tiny(tmp_path):
  benchmarks = tmp_path / 'BENCHMARKS.md'
  benchmarks.write_text('# Benchmarks\n\n## Current\n\nnew\n\n## History\n\nold\n')
  args = ('experiments/review_oracle.py', '--seeds=0', '--label_studio_seeds=0',
          '--n_review=20', f'--run_flags={TINY}', f'--runs_dir={tmp_path}/runs',
          f'--benchmarks={benchmarks}')
  done = run_script(*args, timeout=900)
  assert done.returncode == 0, done.stderr[-3000:]
  oracle = json.loads((tmp_path / 'runs/base-s0/review/oracle.json').read_text())
  assert oracle['labeled'] == 20 and oracle['label_studio_equal']
  page = json.loads((tmp_path / 'runs/page-s0/results.json').read_text())
  from_ls = json.loads((tmp_path / 'runs/ls-s0/results.json').read_text())
  assert page['iterations'][0]['n_human'] == 120 and page['iterations'][0]['n_pseudo'] == 0
  assert page['config']['manual_labels'].endswith('base-s0/review/review.csv')
  assert from_ls['config']['manual_labels'].endswith('review/label_studio_export.json')
  # The same labels and settings: the same run, to the bit.
  assert from_ls['iterations'][-1]['test_accuracy'] == page['iterations'][-1]['test_accuracy']

  text = benchmarks.read_text()
  assert text.index('<!-- review_oracle:begin -->') < text.index('## History')
  assert text.index('## Current') < text.index('<!-- review_oracle:begin -->')
  assert 'ORACLE' in text and '| 0 | ' in text and ' | yes | ' in text
  done = run_script(*args, '--summarize_only')
  assert done.returncode == 0, done.stderr
  assert benchmarks.read_text().count('<!-- review_oracle:begin -->') == 1
  bad = run_script(*args, '--seeds=100')
  assert bad.returncode == 2 and 'is for tuning' in bad.stderr
