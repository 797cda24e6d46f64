"""The review page's server, over plain HTTP: answers saved at once and
atomically, refusals (labels outside the classes, paths outside the run, other
sites, a second server) that leave the CSV as it was. The browser test is
test_review_browser.py."""

import http.client
import json
import os
import re
import signal

import pytest

from conftest import assert_one_line_error, run_script
from pl_jax import review, review_server


def test_class_keys():
  assert review_server.class_keys(['0', '1', '2']) == ['0', '1', '2']
  assert review_server.class_keys(['cat', 'dog']) == ['1', '2']
  keys = review_server.class_keys([f'c{i}' for i in range(40)])
  assert keys[:11] == [*'1234567890', 'a'] and 's' not in keys and 'n' not in keys
  assert keys[-1] == '' and len(set(keys[:34])) == 34


@pytest.fixture
def served(tmp_path):
  from reviews import make_review
  files = make_review(tmp_path / 'run', k=6, next_run=None)
  server = review_server.Client(tmp_path / 'run')
  yield server, files
  if server.process.poll() is None:
    server.stop(signal.SIGKILL)


def test_the_page_is_self_contained(served):
  server, _ = served
  status, headers, page = server.request('GET', '/')
  assert status == 200 and headers['Content-Type'].startswith('text/html')
  assert "default-src 'none'" in headers['Content-Security-Policy']
  # Nothing from outside the machine: no URL but the page's own paths.
  assert not re.search(r'(https?:)?//[a-z]', page.decode().replace('http://127', ''))
  status, _, state = server.request('GET', '/api/state')
  state = json.loads(state)
  assert state['classes'] == ['cat', 'dog', 'bird'] and state['keys'] == ['1', '2', '3']
  assert len(state['items']) == 6 and state['next_command'] is None
  status, headers, image = server.request('GET', '/' + state['items'][0]['image'])
  assert status == 200 and image[:4] == b'\x89PNG'


def test_answers_are_saved_at_once_and_survive_a_kill(served, tmp_path):
  server, files = served
  indices = list(review.answers(files.csv))
  assert server.post('/api/answer', {'index': indices[0], 'label': 'dog'}) == (
      200, {'index': indices[0], 'label': 'dog', 'status': ''})
  assert server.post('/api/answer', {'index': indices[1], 'status': 'skipped'})[0] == 200
  assert server.post('/api/answer', {'index': indices[2], 'status': 'none of these'})[0] == 200
  found = review.answers(files.csv)  # On disk already, before any shutdown.
  assert [found[i] for i in indices[:3]] == [('dog', ''), ('', 'skipped'),
                                             ('', 'none of these')]
  server.stop(signal.SIGKILL)
  again = review_server.Client(tmp_path / 'run')
  try:
    state = json.loads(again.request('GET', '/api/state')[2])
    assert [(it['label'], it['status']) for it in state['items'][:3]] == [
        ('dog', ''), ('', 'skipped'), ('', 'none of these')]
    assert again.post('/api/answer', {'index': indices[0]})[0] == 200  # Clear.
    assert review.answers(files.csv)[indices[0]] == ('', '')
  finally:
    again.stop()  # SIGTERM: as Ctrl-C.
  assert again.process.returncode == 0


def test_bad_answers_are_refused_and_change_nothing(served):
  server, files = served
  index = list(review.answers(files.csv))[0]
  server.post('/api/answer', {'index': index, 'label': 'cat'})
  before = open(files.csv, 'rb').read()
  for body, status, message in [
      ({'index': index, 'label': 'horse'}, 400, "label 'horse' is not a class (cat, dog, bird)"),
      ({'index': index, 'label': '0'}, 400, "label '0' is not a class"),
      ({'index': index, 'status': 'maybe'}, 400, "status 'maybe' is not one of"),
      ({'index': index, 'label': 'cat', 'status': 'skipped'}, 400, 'not both'),
      ({'index': 0, 'label': 'cat'}, 404, 'index 0 is not one of this review'),
      ({'index': '3', 'label': 'cat'}, 400, 'index must be a number'),
      ({'index': index, 'label': ['cat']}, 400, 'must be strings'),
  ]:
    answer = server.post('/api/answer', body)
    assert answer[0] == status and message in answer[1]['error'], (body, answer)
  assert server.post('/api/answer', {'index': index, 'label': 'dog'}, token=False) == (
      403, {'error': 'refused: this request does not come from the review page'})
  connection = http.client.HTTPConnection('127.0.0.1', server.port, timeout=10)
  connection.request('POST', '/api/answer', body='{"index": ', headers={
      'X-Review-Token': server.token})
  response = connection.getresponse()
  assert response.status == 400 and b'not JSON' in response.read()
  connection.close()
  status, body = server.post('/api/answer', {'index': index, 'label': 'x' * 5000})
  assert status == 413
  status, body = server.post('/api/answer', {'index': index, 'label': 'dog'},
                             headers={'Host': 'evil.example:80'})
  assert status == 403 and 'Host' in body['error']
  assert server.post('/api/start', {})[0] == 409  # This review names no follow-up run.
  assert open(files.csv, 'rb').read() == before
  assert review.answers(files.csv)[index] == ('cat', '')


@pytest.mark.parametrize('path', [
    '/images/../../results.json', '/images/../review.csv', '/images/..%2f..%2fscores.npz',
    '/images/%2e%2e/%2e%2e/labels.npz', '/../../../etc/passwd', '/images/..\\..\\labels.npz',
    '/images/outside.png'])
def test_paths_outside_the_review_are_refused(served, tmp_path, path):
  server, _ = served
  (tmp_path / 'run' / 'results.json').write_text('{"secret": 1}')
  os.symlink(tmp_path / 'run' / 'results.json',
             tmp_path / 'run' / 'review' / 'images' / 'outside.png')
  status, _, content = server.request('GET', path)
  assert status == 403, (path, status, content)
  assert 'outside the run\'s review directory' in json.loads(content)['error']
  assert b'secret' not in content
  assert server.request('GET', '/images/0.png')[0] == 404  # Not an image of this review.


def test_a_second_server_on_the_run_is_refused(served, tmp_path):
  server, _ = served
  done = run_script('-m', 'pl_jax.review_server', tmp_path / 'run')
  assert_one_line_error(done, f'is in use by pid {server.process.pid}: review server')


def test_a_run_without_a_review_is_refused(tmp_path):
  done = run_script('-m', 'pl_jax.review_server', tmp_path)
  assert_one_line_error(done, 'no review/review.json; write the review with run.py '
                        '--export_review=K first')
  done = run_script('-m', 'pl_jax.review_server', tmp_path, '--port=70000')
  assert_one_line_error(done, '--port must be in 0..65535')
