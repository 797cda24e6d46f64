"""The review page: a person labels the images a run's model is least sure about.

  python -m pl_jax.review_server WORKDIR [--port=0] [--host=127.0.0.1]

serves <WORKDIR>/review (written by run.py --export_review=K) on a local page:
each image with the model's top guesses; a class by key or click, skip, "none
of these"; every answer written at once, atomically, into review/review.csv,
so a closed browser or a killed server loses nothing; and the follow-up run
(--manual_labels) to start from the page or by the printed command.

Python's standard library only (http.server): the page is one inline
HTML/CSS/JS document, its images come from the run's review folder, and a
Content-Security-Policy keeps the browser from loading anything else. The
server holds the workdir's lock (pl_jax.lock) while it runs, so a second one
on the same run is refused. It binds 127.0.0.1 unless told otherwise; write
requests need the page's token and a local Host, so another site open in the
same browser cannot post answers.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import urllib.parse

from pl_jax import lock, review

RESERVED_KEYS = ('s', 'n')  # Skip and "none of these".
MAX_BODY = 4096
LOOPBACK = ('127.0.0.1', 'localhost', '::1')
FOLLOWUP_LOG = 'followup.log'


def class_keys(classes: list[str]) -> list[str]:
  """The key that labels each class: the class's own name where the classes are
  single digits (MNIST), else 1..9, 0, then letters (not s and n); '' past those."""
  if all(len(c) == 1 and c.isdigit() for c in classes) and len(set(classes)) == len(classes):
    return list(classes)
  keys = [*'1234567890', *(c for c in 'abcdefghijklmnopqrstuvwxyz' if c not in RESERVED_KEYS)]
  return [keys[i] if i < len(keys) else '' for i in range(len(classes))]


class Refused(Exception):
  """A request refused: (HTTP status, one-line message for the person)."""

  def __init__(self, status: int, message: str):
    super().__init__(message)
    self.status = status


class Review:
  """A run's review: the page's items (review.json) and the answers (the CSV on
  disk, the one source of truth, re-read for every request)."""

  def __init__(self, workdir: str):
    self.workdir = workdir
    self.directory = os.path.join(workdir, review.REVIEW_DIR)
    self.csv = os.path.join(self.directory, review.REVIEW_CSV)
    self.page = review.load_page(workdir)
    self.classes = tuple(self.page['classes'])
    self.indices = {item['index'] for item in self.page['items']}
    self.images = {os.path.basename(item['image']) for item in self.page['items']}
    review.answers(self.csv)  # Refuse to start on a CSV that cannot be read.
    self.saving = threading.Lock()
    self.followup: subprocess.Popen | None = None

  def state(self) -> dict:
    found = review.answers(self.csv)
    items = [{**item, 'label': found.get(item['index'], ('', ''))[0],
              'status': found.get(item['index'], ('', ''))[1]} for item in self.page['items']]
    return {'run': self.page.get('run', self.workdir), 'classes': list(self.classes),
            'keys': class_keys(list(self.classes)), 'ranked_by': self.page.get('ranked_by'),
            'guesses_from': self.page.get('guesses_from'), 'items': items,
            'csv': self.csv, 'next_command': self.next_command_text(),
            'followup': self.followup_state()}

  def answer(self, body: dict) -> dict:
    """Records {'index', 'label'} or {'index', 'status'} (or neither: clear)."""
    index, label, status = body.get('index'), body.get('label', ''), body.get('status', '')
    if not isinstance(index, int) or isinstance(index, bool):
      raise Refused(400, f'index must be a number, got {index!r}')
    if index not in self.indices:
      raise Refused(404, f'index {index} is not one of this review\'s images')
    if not isinstance(label, str) or not isinstance(status, str):
      raise Refused(400, 'label and status must be strings')
    with self.saving:
      try:
        review.record_answer(self.csv, index, label, status, self.classes)
      except review.ReviewError as e:
        raise Refused(400, str(e)) from None
    return {'index': index, 'label': label, 'status': status}

  # The follow-up run.

  def next_command_text(self) -> str | None:
    next_run = self.page.get('next_run')
    if not next_run:
      return None
    argv = ['python', *next_run['argv']]
    if os.path.realpath(next_run['cwd']) != os.path.realpath(os.getcwd()):
      return f'cd {shlex.quote(next_run["cwd"])} && {shlex.join(argv)}'
    return shlex.join(argv)

  def followup_state(self) -> dict | None:
    if self.followup is None:
      return None
    log = os.path.join(self.directory, FOLLOWUP_LOG)
    try:
      with open(log, errors='replace') as f:
        tail = [line for line in f.read().splitlines() if line.strip()][-2:]
    except OSError:
      tail = []
    return {'pid': self.followup.pid, 'returncode': self.followup.poll(), 'log': log,
            'tail': tail}

  def start_followup(self) -> dict:
    next_run = self.page.get('next_run')
    if not next_run:
      raise Refused(409, 'this review names no follow-up run (exported without run.py); '
                    f'run run.py with --manual_labels={self.csv}')
    if self.followup is not None and self.followup.poll() is None:
      raise Refused(409, f'the follow-up run is already running (pid {self.followup.pid})')
    if not any(label for label, _ in review.answers(self.csv).values()):
      raise Refused(409, 'no image is labeled yet')
    log = open(os.path.join(self.directory, FOLLOWUP_LOG), 'w')  # pylint: disable=consider-using-with
    with log:
      # Its own session: the run goes on when the server stops (Ctrl-C included).
      self.followup = subprocess.Popen(
          [sys.executable, *next_run['argv']], cwd=next_run['cwd'], stdout=log,
          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return self.followup_state()


class Handler(http.server.BaseHTTPRequestHandler):
  """The page, its state and images, and the answers."""
  server_version = 'pl_jax-review'
  timeout = 30  # Seconds a silent connection may hold a thread.
  review: Review  # Set on the subclass that serve() makes.
  token: str
  hosts: tuple[str, ...]  # Host headers accepted (DNS rebinding); empty: any.

  def log_message(self, format, *args):  # pylint: disable=redefined-builtin
    del format, args  # Quiet: the terminal shows the address and refusals only.

  def send(self, status: int, body: bytes, content_type: str, extra=()) -> None:
    self.send_response(status)
    self.send_header('Content-Type', content_type)
    self.send_header('Content-Length', str(len(body)))
    self.send_header('Cache-Control', 'no-store')
    self.send_header('X-Content-Type-Options', 'nosniff')
    for name, value in extra:
      self.send_header(name, value)
    self.end_headers()
    self.wfile.write(body)

  def send_json(self, status: int, obj) -> None:
    self.send(status, json.dumps(obj).encode(), 'application/json')

  def refuse(self, error: Refused) -> None:
    print(f'pl_jax.review_server: refused {self.command} {self.path[:200]}: {error}',
          file=sys.stderr, flush=True)
    self.send_json(error.status, {'error': str(error)})

  def checked_path(self) -> str:
    if self.hosts and self.headers.get('Host', '') not in self.hosts:
      raise Refused(403, f'refused: Host {self.headers.get("Host")!r} is not this server')
    path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
    if '..' in path.split('/') or '\\' in path or '\0' in path:
      raise Refused(403, f'refused: {path!r} is outside the run\'s review directory')
    return path

  def do_GET(self):  # pylint: disable=invalid-name
    try:
      path = self.checked_path()
      if path in ('/', '/index.html'):
        nonce = secrets.token_urlsafe(12)
        self.send(200, page_html(self.token, nonce).encode(), 'text/html; charset=utf-8', [(
            'Content-Security-Policy', f"default-src 'none'; img-src 'self'; connect-src "
            f"'self'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")])
      elif path == '/api/state':
        try:
          self.send_json(200, self.review.state())
        except review.ReviewError as e:
          raise Refused(500, str(e)) from None
      elif path.startswith(f'/{review.IMAGES_DIR}/'):
        self.send_image(path[len(review.IMAGES_DIR) + 2:])
      elif path == '/favicon.ico':
        self.send(204, b'', 'image/x-icon')
      else:
        raise Refused(404, f'no page {path!r} here')
    except Refused as e:
      self.refuse(e)

  def send_image(self, name: str) -> None:
    """An image of the review, from review/images/ and nowhere else."""
    folder = os.path.realpath(os.path.join(self.review.directory, review.IMAGES_DIR))
    real = os.path.realpath(os.path.join(folder, name))
    if os.path.commonpath([folder, real]) != folder:
      raise Refused(403, f'refused: {name!r} is outside the run\'s review directory')
    if name not in self.review.images:
      raise Refused(404, f'no image {name!r} in this review')
    try:
      with open(real, 'rb') as f:
        self.send(200, f.read(), 'image/png')
    except OSError as e:
      raise Refused(404, f'image {name!r} cannot be read ({type(e).__name__})') from None

  def do_POST(self):  # pylint: disable=invalid-name
    try:
      path = self.checked_path()
      if not secrets.compare_digest(self.headers.get('X-Review-Token', ''), self.token):
        raise Refused(403, 'refused: this request does not come from the review page')
      length = int(self.headers.get('Content-Length') or 0)
      if length > MAX_BODY:
        raise Refused(413, f'refused: a body of {length} bytes (at most {MAX_BODY})')
      try:
        body = json.loads(self.rfile.read(length) or b'{}')
      except ValueError:
        raise Refused(400, 'the body is not JSON') from None
      if not isinstance(body, dict):
        raise Refused(400, 'the body is not a JSON object')
      if path == '/api/answer':
        self.send_json(200, self.review.answer(body))
      elif path == '/api/start':
        self.send_json(202, self.review.start_followup())
      else:
        raise Refused(404, f'no action {path!r} here')
    except Refused as e:
      self.refuse(e)


def serve(workdir: str, host: str = '127.0.0.1', port: int = 0) -> None:
  """Serves the review of workdir until interrupted, holding the workdir's lock.

  Raises:
    lock.LockedError: another process (a run, another server) holds the workdir.
    review.ReviewError: no usable review in workdir.
    OSError: the address cannot be bound.
  """
  the_review = Review(workdir)
  with lock.hold(workdir, 'review server'):
    handler = type('BoundHandler', (Handler,), {
        'review': the_review, 'token': secrets.token_urlsafe(24), 'hosts': ()})
    server_class = type('Server', (http.server.ThreadingHTTPServer,), {
        'daemon_threads': True,
        'address_family': socket.AF_INET6 if ':' in host else socket.AF_INET})
    httpd = server_class((host, port), handler)
    bound = httpd.server_address[1]
    if host in LOOPBACK:  # Refuse other Host headers (DNS rebinding).
      handler.hosts = tuple(f'{name}:{bound}' for name in ('127.0.0.1', 'localhost', '[::1]'))
    url = f'http://{f"[{host}]" if ":" in host else host}:{bound}/'
    state = the_review.state()
    done = sum(1 for item in state['items'] if item['label'] or item['status'])
    print(f'pl_jax review: {url}  ({len(state["items"])} images, {done} answered; answers '
          f'go to {the_review.csv}; Ctrl-C stops)', flush=True)
    if host not in LOOPBACK:
      print(f'pl_jax review: warning: {host} is reachable from other machines, and the page '
            'has no password', file=sys.stderr, flush=True)
    if state['next_command']:
      print(f'pl_jax review: then the follow-up run: {state["next_command"]}', flush=True)
    try:
      httpd.serve_forever()
    except KeyboardInterrupt:
      pass
    finally:
      httpd.server_close()


class Client:
  """The page's API from Python: a review server started in a subprocess (how
  experiments/review_oracle.py answers, and the tests). Its stderr is this
  process's."""

  def __init__(self, workdir: str):
    # From the checkout this module is in, so that the server is this pl_jax.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    self.process = subprocess.Popen(
        [sys.executable, '-m', 'pl_jax.review_server', os.path.abspath(workdir), '--port=0'],
        cwd=root, stdout=subprocess.PIPE, text=True)
    line = self.process.stdout.readline()
    match = re.search(r'http://127\.0\.0\.1:(\d+)/', line)
    if not match:
      self.process.wait()
      raise RuntimeError(f'the review server did not start (exit code '
                         f'{self.process.returncode}): {line.strip()}')
    self.port = int(match.group(1))
    self.token = re.search(r'const TOKEN = "([^"]+)"',
                           self.request('GET', '/')[2].decode()).group(1)

  def request(self, method: str, path: str, body=None, headers=None):
    """(status, headers, content) of one request; path is sent as given."""
    connection = http.client.HTTPConnection('127.0.0.1', self.port, timeout=30)
    try:
      connection.request(method, path, body=None if body is None else json.dumps(body),
                         headers=headers or {})
      response = connection.getresponse()
      return response.status, dict(response.getheaders()), response.read()
    finally:
      connection.close()

  def post(self, path: str, body, token: bool = True, headers=()) -> tuple[int, dict]:
    extra = {'X-Review-Token': self.token} if token else {}
    status, _, content = self.request('POST', path, body, {**extra, **dict(headers)})
    return status, json.loads(content)

  def state(self) -> dict:
    return json.loads(self.request('GET', '/api/state')[2])

  def answer(self, index: int, label: str = '', status: str = '') -> None:
    """What a click on the page does: one answer, saved before this returns."""
    code, body = self.post('/api/answer', {'index': index, 'label': label, 'status': status})
    if code != 200:
      raise RuntimeError(f'answer for {index} refused ({code}): {body.get("error")}')

  def stop(self, sig=signal.SIGTERM) -> None:
    """Stops the server (SIGTERM: as Ctrl-C; SIGKILL: a crash); killed if it has
    not stopped within 10 s."""
    if self.process.poll() is None:
      self.process.send_signal(sig)
    try:
      self.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
      self.process.kill()
      self.process.wait()
    self.process.stdout.close()


def _interrupt(signum, frame):
  del signum, frame
  raise KeyboardInterrupt


def fail(message: str) -> None:
  print(f'pl_jax.review_server: error: {message}', file=sys.stderr)
  sys.exit(2)


class _Parser(argparse.ArgumentParser):
  """argparse, but a usage error is one line on stderr and exit code 2."""

  def error(self, message):
    fail(message)


def main(argv: list[str] | None = None) -> None:
  parser = _Parser(prog='python -m pl_jax.review_server',
                   description='A local page to label the images of a run\'s review '
                   '(run.py --export_review=K).')
  parser.add_argument('workdir', metavar='WORKDIR', help='the run directory')
  parser.add_argument('--port', type=int, default=0, help='port (default 0: any free one)')
  parser.add_argument('--host', default='127.0.0.1', help='address to bind (default '
                      '127.0.0.1: this machine only)')
  args = parser.parse_args(argv)
  if not 0 <= args.port <= 65535:
    fail(f'--port must be in 0..65535, got {args.port}')
  if not os.path.isdir(args.workdir):
    fail(f'{args.workdir} is not a run directory')
  # SIGTERM stops it as Ctrl-C does (and SIGINT too where the shell that started
  # it in the background set it to be ignored).
  signal.signal(signal.SIGTERM, _interrupt)
  signal.signal(signal.SIGINT, _interrupt)
  try:
    serve(args.workdir, args.host, args.port)
  except (lock.LockedError, review.ReviewError) as e:
    fail(str(e))
  except OSError as e:
    fail(f'cannot serve on {args.host}:{args.port}: {e.strerror or e}')


# --- The page ----------------------------------------------------------------


def page_html(token: str, nonce: str) -> str:
  return PAGE.replace('__TOKEN__', json.dumps(token)).replace('__NONCE__', nonce)


PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pl_jax review</title>
<style nonce="__NONCE__">
:root { --ink:#1d2330; --muted:#667085; --line:#d9dee7; --bg:#f5f7fa; --card:#fff;
  --accent:#2f6fdf; --ok:#1f9d55; --skip:#b7791f; --none:#8e44ad; --bad:#c53030; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color:var(--ink); background:var(--bg); }
header { display:flex; align-items:center; gap:18px; padding:10px 20px; background:var(--card);
  border-bottom:1px solid var(--line); position:sticky; top:0; z-index:2; }
header h1 { font-size:17px; margin:0; white-space:nowrap; }
header .run { color:var(--muted); font-size:13px; overflow:hidden; text-overflow:ellipsis;
  white-space:nowrap; max-width:32vw; }
.progress { flex:1; min-width:180px; }
.bar { height:8px; background:#e8ecf2; border-radius:4px; overflow:hidden; display:flex; }
.bar span { display:block; height:100%; }
.bar .l { background:var(--ok); } .bar .s { background:var(--skip); } .bar .n { background:var(--none); }
.counts { font-size:13px; color:var(--muted); margin-top:3px; }
.counts b { color:var(--ink); }
#saved { font-size:13px; color:var(--muted); white-space:nowrap; }
#saved.err { color:var(--bad); font-weight:600; }
main { display:grid; grid-template-columns:minmax(260px, 360px) 1fr; gap:22px; padding:18px 20px;
  max-width:1100px; margin:0 auto; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:16px; }
#shot { width:100%; aspect-ratio:1; display:block; image-rendering:pixelated; background:#000;
  border-radius:6px; object-fit:contain; }
.where { margin-top:10px; font-size:13px; color:var(--muted); }
.where b { color:var(--ink); }
#answer { margin-top:8px; font-size:15px; min-height:22px; }
.tag { display:inline-block; padding:1px 8px; border-radius:10px; color:#fff; font-size:13px; }
.tag.l { background:var(--ok); } .tag.s { background:var(--skip); } .tag.n { background:var(--none); }
h2 { font-size:13px; text-transform:uppercase; letter-spacing:.06em; color:var(--muted);
  margin:0 0 8px; }
.guess { display:grid; grid-template-columns:auto 1fr 58px; align-items:center; gap:10px;
  width:100%; padding:7px 10px; margin-bottom:6px; border:1px solid var(--line);
  border-radius:8px; background:#fbfcfe; cursor:pointer; font:inherit; text-align:left; }
.guess:hover { border-color:var(--accent); }
.guess .name { font-weight:600; min-width:60px; }
.guess .meter { height:10px; background:#e8ecf2; border-radius:5px; overflow:hidden; }
.guess .meter span { display:block; height:100%; background:var(--accent); }
.guess .pct { text-align:right; font-variant-numeric:tabular-nums; color:var(--muted); }
.classes { display:grid; grid-template-columns:repeat(auto-fill, minmax(92px, 1fr)); gap:8px;
  margin-top:16px; }
button { font:inherit; }
.cls, .act { padding:9px 8px; border:1px solid var(--line); border-radius:8px; background:#fff;
  cursor:pointer; text-align:left; }
.cls:hover, .act:hover { border-color:var(--accent); }
.cls.chosen { background:var(--ok); color:#fff; border-color:var(--ok); }
kbd { display:inline-block; min-width:20px; padding:0 5px; margin-right:6px; border:1px solid #c9d0db;
  border-bottom-width:2px; border-radius:4px; font:12px ui-monospace, monospace; text-align:center;
  background:#f7f8fa; color:var(--ink); }
.cls.chosen kbd { background:#fff; }
.acts { display:flex; flex-wrap:wrap; gap:8px; margin-top:14px; }
.act.chosen-s { background:var(--skip); color:#fff; } .act.chosen-n { background:var(--none); color:#fff; }
.hint { font-size:12px; color:var(--muted); margin-top:12px; }
#strip { display:flex; flex-wrap:wrap; align-content:flex-start; gap:4px; padding:6px; max-width:1060px;
  margin:0 auto 14px; max-height:122px; overflow-y:auto; position:relative; background:var(--card);
  border:1px solid var(--line); border-radius:10px; }
#strip img { width:30px; height:30px; image-rendering:pixelated; border:2px solid #c9d0db;
  border-radius:4px; cursor:pointer; opacity:.75; background:#000; }
#strip img.l { border-color:var(--ok); opacity:1; } #strip img.s { border-color:var(--skip); }
#strip img.n { border-color:var(--none); } #strip img.cur { outline:3px solid var(--accent); opacity:1; }
footer { max-width:1100px; margin:0 auto 30px; padding:0 20px; }
footer h2.wide { width:100%; margin:0; }
footer .card { display:flex; flex-wrap:wrap; gap:10px; align-items:center; }
#cmd { flex:1; min-width:260px; font:12px ui-monospace, monospace; background:#f3f5f8;
  padding:8px 10px; border-radius:6px; overflow-x:auto; white-space:nowrap; }
.primary { background:var(--accent); color:#fff; border:0; border-radius:8px; padding:9px 14px;
  cursor:pointer; }
.primary:disabled { background:#a9b7cf; cursor:default; }
#followup { font-size:13px; color:var(--muted); width:100%; }
#done { display:none; margin-bottom:12px; padding:10px 14px; border-radius:8px;
  background:#e7f6ec; color:#14532d; }
</style></head>
<body>
<header>
  <h1>pl_jax review</h1><div class="run" id="run"></div>
  <div class="progress"><div class="bar"><span class="l" id="bl"></span><span class="s" id="bs"></span>
    <span class="n" id="bn"></span></div><div class="counts" id="counts">loading…</div></div>
  <div id="saved"></div>
</header>
<main>
  <div class="card">
    <img id="shot" alt="the image to label">
    <div class="where" id="where"></div>
    <div id="answer"></div>
  </div>
  <div class="card">
    <div id="done"></div>
    <h2>The model's guesses</h2>
    <div id="guesses"></div>
    <div class="classes" id="classes"></div>
    <div class="acts">
      <button class="act" id="accept"><kbd>Enter</kbd>accept the top guess</button>
      <button class="act" id="skip"><kbd>S</kbd>skip</button>
      <button class="act" id="none"><kbd>N</kbd>none of these</button>
      <button class="act" id="prev"><kbd>&larr;</kbd>back</button>
      <button class="act" id="next"><kbd>&rarr;</kbd>next</button>
      <button class="act" id="clear"><kbd>Del</kbd>clear</button>
    </div>
    <div class="hint">Every answer is saved to the review CSV at once; close the page or stop the
      server at any time and come back. Labeled, skipped and "none of these" images are marked in
      the strip below; click one to go back to it.</div>
  </div>
</main>
<div id="strip"></div>
<footer><div class="card">
  <h2 class="wide">Then: the follow-up run, from the labels given here</h2>
  <div id="cmd"></div><button class="act" id="copy">Copy</button>
  <button class="primary" id="start">Start the follow-up run</button>
  <div id="followup"></div>
</div></footer>
<script nonce="__NONCE__">
"use strict";
const TOKEN = __TOKEN__;
let S = null, cur = 0, queue = Promise.resolve(), pending = 0, failed = false;
const $ = (id) => document.getElementById(id);
const answered = (it) => it.label !== "" || it.status !== "";
const kind = (it) => it.label ? "l" : it.status === "skipped" ? "s" : it.status ? "n" : "";

async function load() {
  const r = await fetch("/api/state", {cache: "no-store"});
  if (!r.ok) { $("saved").textContent = "cannot load the review"; $("saved").className = "err"; return; }
  S = await r.json();
  $("run").textContent = S.run;
  $("run").title = "ranked by " + S.ranked_by + "; guesses of the " + S.guesses_from;
  $("cmd").textContent = S.next_command || ("python run.py ... --manual_labels=" + S.csv);
  if (!S.next_command) $("start").disabled = true;
  buildClasses(); buildStrip();
  const first = S.items.findIndex((it) => !answered(it));
  show(first < 0 ? 0 : first);
  followup(S.followup);
}

function buildClasses() {
  const box = $("classes"); box.textContent = "";
  S.classes.forEach((c, i) => {
    const b = document.createElement("button");
    b.className = "cls"; b.dataset.cls = c;
    if (S.keys[i]) { const k = document.createElement("kbd"); k.textContent = S.keys[i]; b.append(k); }
    b.append(c); b.onclick = () => label(c); box.append(b);
  });
}

function buildStrip() {
  const strip = $("strip"); strip.textContent = "";
  S.items.forEach((it, i) => {
    const im = document.createElement("img");
    im.src = "/" + it.image; im.alt = it.name;
    im.onclick = () => show(i); strip.append(im);
  });
}

function pct(p) { return (100 * p).toFixed(1) + " %"; }

function show(i) {
  if (!S.items.length) { $("where").textContent = $("counts").textContent = "This review has no images."; return; }
  cur = Math.max(0, Math.min(S.items.length - 1, i));
  const it = S.items[cur];
  $("shot").src = "/" + it.image;
  $("where").innerHTML = "";
  const b = document.createElement("b"); b.textContent = "#" + (cur + 1) + " of " + S.items.length;
  $("where").append(b, " · " + it.name + " · ranked by " + S.ranked_by + " " +
    (S.ranked_by === "margin" ? it.margin : it.confidence).toFixed(3));
  const g = $("guesses"); g.textContent = "";
  it.guesses.forEach(([c, p]) => {
    const row = document.createElement("button"); row.className = "guess"; row.dataset.cls = c;
    const name = document.createElement("span"); name.className = "name";
    const key = S.keys[S.classes.indexOf(c)];
    if (key) { const k = document.createElement("kbd"); k.textContent = key; name.append(k); }
    name.append(c);
    const meter = document.createElement("span"); meter.className = "meter";
    const fill = document.createElement("span"); fill.style.width = (100 * p).toFixed(1) + "%";
    meter.append(fill);
    const v = document.createElement("span"); v.className = "pct"; v.textContent = pct(p);
    row.append(name, meter, v); row.onclick = () => label(c); g.append(row);
  });
  for (let k = 1; k <= 3; k++) { const n = S.items[cur + k]; if (n) new Image().src = "/" + n.image; }
  paint();
}

function paint() {
  const it = S.items[cur];
  document.querySelectorAll(".cls").forEach((b) => b.classList.toggle("chosen", b.dataset.cls === it.label));
  $("skip").classList.toggle("chosen-s", it.status === "skipped");
  $("none").classList.toggle("chosen-n", it.status === "none of these");
  const a = $("answer"); a.textContent = "";
  if (answered(it)) {
    const t = document.createElement("span"); t.className = "tag " + kind(it);
    t.textContent = it.label ? "labeled " + it.label : it.status; a.append(t);
  }
  const strip = $("strip").children;
  S.items.forEach((x, i) => {
    strip[i].className = kind(x) + (i === cur ? " cur" : "");
    strip[i].title = "#" + (i + 1) + " " + x.name + (x.label ? ": " + x.label : x.status ? ": " + x.status : "");
  });
  const box = $("strip"), el = strip[cur];  // Keep the current image in the strip's view.
  if (el.offsetTop < box.scrollTop || el.offsetTop + el.offsetHeight > box.scrollTop + box.clientHeight)
    box.scrollTop = el.offsetTop - box.clientHeight / 2;
  const n = S.items.length, l = S.items.filter((x) => x.label).length;
  const s = S.items.filter((x) => x.status === "skipped" && !x.label).length;
  const no = S.items.filter((x) => x.status === "none of these" && !x.label).length;
  $("bl").style.width = (100 * l / n) + "%"; $("bs").style.width = (100 * s / n) + "%";
  $("bn").style.width = (100 * no / n) + "%";
  $("counts").innerHTML = "";
  const b = document.createElement("b"); b.textContent = (l + s + no) + " of " + n + " answered";
  $("counts").append(b, " · " + l + " labeled · " + s + " skipped · " + no + " none of these");
  $("done").style.display = l + s + no === n ? "block" : "none";
  $("done").textContent = "All " + n + " images answered (" + l + " labeled). Start the follow-up run below.";
  $("start").disabled = !S.next_command || l === 0;
  if (!failed) $("saved").textContent = pending ? "saving…" : "all answers saved";
}

function answer(body) {
  const it = S.items[cur];
  it.label = body.label || ""; it.status = body.status || "";
  pending++; paint();
  queue = queue.then(() => fetch("/api/answer", {method: "POST",
      headers: {"Content-Type": "application/json", "X-Review-Token": TOKEN},
      body: JSON.stringify(Object.assign({index: it.index}, body))}).then(async (r) => {
        if (!r.ok) throw new Error((await r.json()).error || r.statusText);
      })).catch((e) => {
        failed = true; $("saved").textContent = "NOT SAVED: " + e.message; $("saved").className = "err";
        return reloadAnswers();
      }).finally(() => { pending--; paint(); });
  advance();
}

async function reloadAnswers() {
  const r = await fetch("/api/state", {cache: "no-store"});
  if (r.ok) { const fresh = await r.json(); fresh.items.forEach((x, i) => {
    S.items[i].label = x.label; S.items[i].status = x.status; }); }
}

function advance() {
  const n = S.items.length;
  for (let k = 1; k <= n; k++) { const i = (cur + k) % n; if (!answered(S.items[i])) return show(i); }
  show(Math.min(cur + 1, n - 1));
}

function label(c) { failed = false; $("saved").className = ""; answer({label: c}); }
function status(s) { failed = false; $("saved").className = ""; answer({status: s}); }

$("accept").onclick = () => label(S.items[cur].guesses[0][0]);
$("skip").onclick = () => status("skipped");
$("none").onclick = () => status("none of these");
$("prev").onclick = () => show(cur - 1);
$("next").onclick = () => show(cur + 1);
$("clear").onclick = () => { answer({}); };
$("copy").onclick = () => {
  const text = $("cmd").textContent;
  (navigator.clipboard ? navigator.clipboard.writeText(text) : Promise.reject()).then(
    () => { $("copy").textContent = "Copied"; },
    () => { const r = document.createRange(); r.selectNodeContents($("cmd"));
            const sel = getSelection(); sel.removeAllRanges(); sel.addRange(r); });
};
$("start").onclick = async () => {
  $("start").disabled = true;
  await queue;
  const r = await fetch("/api/start", {method: "POST",
    headers: {"Content-Type": "application/json", "X-Review-Token": TOKEN}, body: "{}"});
  const body = await r.json();
  if (!r.ok) { $("followup").textContent = body.error; $("start").disabled = false; return; }
  followup(body);
};

function followup(f) {
  if (!f) return;
  const state = f.returncode === null ? "running (pid " + f.pid + ")"
      : f.returncode === 0 ? "finished" : "failed (exit code " + f.returncode + ")";
  $("followup").textContent = "Follow-up run " + state + "; its log: " + f.log +
      (f.tail.length ? " — " + f.tail[f.tail.length - 1] : "");
  $("start").textContent = "Follow-up run " + (f.returncode === null ? "running…" : state);
  if (f.returncode === null) setTimeout(async () => {
    const r = await fetch("/api/state", {cache: "no-store"});
    if (r.ok) followup((await r.json()).followup);
  }, 2000);
}

// A clicked button keeps no focus, so that Enter or Space never presses it again.
document.addEventListener("click", () => { if (document.activeElement !== document.body) document.activeElement.blur(); });
document.addEventListener("keydown", (e) => {
  if (!S || e.ctrlKey || e.metaKey || e.altKey) return;
  const k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  const i = S.keys.indexOf(k);
  if (i >= 0 && k !== "") label(S.classes[i]);
  else if (k === "Enter") label(S.items[cur].guesses[0][0]);
  else if (k === "s") status("skipped");
  else if (k === "n") status("none of these");
  else if (k === "ArrowLeft" || k === "Backspace") show(cur - 1);
  else if (k === "ArrowRight") show(cur + 1);
  else if (k === "Delete") answer({});
  else return;
  e.preventDefault();
});
load();
</script>
</body></html>
"""


if __name__ == '__main__':
  main()
