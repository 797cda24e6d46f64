"""The review page in a real browser (headless Chromium): a person labels a few
images by key and by mouse, the server is killed and restarted, the labels are
still there, and the page starts the follow-up run on them."""

import json
import os
import signal

import numpy as np
import pytest

import browser
from conftest import own_arrays, run_script
from pl_jax import review, review_server

pytestmark = pytest.mark.slow
TINY = ('--iterations=1', '--epochs=1', '--final_epochs=1', '--min_steps=60', '--frozen=',
        '--final_models=1', '--score_views=0', '--noprogress')
ENTER = '\ue007'


def test_label_in_the_browser_kill_restart_and_follow_up(tmp_path, mnist):
  why = browser.missing()
  if why:
    pytest.skip(f'no browser for the review page test: {why}')
  arrays, true_labels = own_arrays(mnist)
  np.savez(tmp_path / 'own.npz', **arrays)
  names = list(arrays['class_names'])
  first = tmp_path / 'first'
  done = run_script('run.py', f'--dataset=npz:{tmp_path}/own.npz', *TINY,
                    '--threshold=0.9999', '--export_review=10', f'--workdir={first}')
  assert done.returncode == 0, done.stderr
  assert f'python -m pl_jax.review_server {first}' in done.stdout
  shots = os.environ.get('PL_JAX_SCREENSHOTS', str(tmp_path))

  server = review_server.Client(first)
  page = browser.Browser(str(tmp_path / 'profile'))
  try:
    page.get(f'http://127.0.0.1:{server.port}/')
    page.wait_for('return typeof S !== "undefined" && S && document.getElementById("counts").textContent'
                  '.startsWith("0 of 10 answered")')
    assert page.run('return S.keys') == ['1', '2', '3']
    expected = {}

    def act(step: int, how: str):
      """Answers the image on screen; the page moves on to the next by itself."""
      index = page.run('return S.items[cur].index')
      truth = names[true_labels[index]]
      if how == 'key':
        page.press(str(names.index(truth) + 1))
        expected[index] = (truth, '')
      elif how == 'mouse':
        page.click(f'.cls[data-cls="{truth}"]')
        expected[index] = (truth, '')
      elif how == 'enter':
        expected[index] = (page.run('return S.items[cur].guesses[0][0]'), '')
        page.press(ENTER)
      else:
        page.press(how)
        expected[index] = ('', {'s': 'skipped', 'n': 'none of these'}[how])
      page.wait_for('return cur === arguments[0]', step + 1)

    for step, how in enumerate(['key', 'key', 'mouse', 's', 'n', 'enter']):
      act(step, how)
    page.wait_for('return document.getElementById("saved").textContent === '
                  '"all answers saved"')
    page.screenshot(os.path.join(shots, 'review_page.png'))
    found = review.answers(str(first / 'review' / 'review.csv'))
    assert {i: found[i] for i in expected} == expected  # On disk, before any shutdown.

    server.stop(signal.SIGKILL)  # SIGKILL: no chance to flush or clean up anything.
    server = review_server.Client(first)
    page.get(f'http://127.0.0.1:{server.port}/')
    page.wait_for('return typeof S !== "undefined" && S && document.getElementById("counts").textContent'
                  '.startsWith("6 of 10 answered")')
    shown = page.run('return S.items.map(it => [it.index, it.label, it.status])')
    assert {i: (label, status) for i, label, status in shown[:6]} == expected
    assert page.run('return cur') == 6  # Back at the first image without an answer.
    strip = page.run('return [...document.querySelectorAll("#strip img")]'
                     '.map(im => im.className)')
    assert strip[:7] == ['l', 'l', 'l', 's', 'n', 'l', ' cur']

    page.click('#start')
    page.wait_for('return /finished|failed/.test(document.getElementById("followup")'
                  '.textContent)', timeout=400)
    page.screenshot(os.path.join(shots, 'review_page_followup.png'))
    assert 'finished' in page.run('return document.getElementById("followup").textContent'), \
        (first / 'review' / 'followup.log').read_text()[-2000:]
  finally:
    page.quit()
    server.stop(signal.SIGKILL)
  results = json.loads((tmp_path / 'first-reviewed' / 'results.json').read_text())
  labeled = sum(1 for label, _ in expected.values() if label)
  assert results['config']['manual_labels'] == str(first / 'review' / 'review.csv')
  assert results['iterations'][0]['n_human'] == 100 + labeled
