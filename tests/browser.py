"""Headless Chromium for tests, driven through chromedriver's W3C WebDriver API.

Debian's `chromium` and `chromium-driver` packages (.ci/run installs them); the
client is the few WebDriver calls the tests use, over urllib, so no driver is
ever downloaded (selenium-manager's habit) and no package is added.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

CHROMIUM, CHROMEDRIVER = '/usr/bin/chromium', '/usr/bin/chromedriver'
ARGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run',
        '--disable-dev-shm-usage', '--window-size=1280,900')
ELEMENT = 'element-6066-11e4-a52e-4f735466cecf'  # The W3C key of an element reference.


def missing() -> str | None:
  """Why the browser cannot be had here, or None."""
  absent = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
  if absent:
    return (f'{" and ".join(absent)} not installed (Debian: apt-get install chromium '
            'chromium-driver; .ci/run does it)')
  return None


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


class Browser:
  """One headless Chromium session with a fresh profile in profile_dir."""

  def __init__(self, profile_dir: str, timeout: float = 30):
    port = free_port()
    self.driver = subprocess.Popen([CHROMEDRIVER, f'--port={port}'],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    self.base = f'http://127.0.0.1:{port}'
    deadline = time.monotonic() + timeout
    while True:
      try:
        if self._call('GET', '/status')['ready']:
          break
      except (OSError, urllib.error.URLError):
        pass
      if time.monotonic() > deadline or self.driver.poll() is not None:
        self.driver.kill()
        raise RuntimeError('chromedriver did not start')
      time.sleep(0.1)
    try:
      session = self._call('POST', '/session', {'capabilities': {'alwaysMatch': {
          'browserName': 'chrome', 'goog:chromeOptions': {
              'binary': CHROMIUM, 'args': [*ARGS, f'--user-data-dir={profile_dir}']}}}})
    except Exception:
      self.driver.kill()
      raise
    self.session = f'/session/{session["sessionId"]}'

  def _call(self, method: str, path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={'Content-Type': 'application/json'})
    try:
      with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)['value']
    except urllib.error.HTTPError as e:
      raise RuntimeError(f'WebDriver {method} {path}: {e.read().decode()[:500]}') from None

  def call(self, method: str, path: str, body=None):
    return self._call(method, self.session + path, body)

  def get(self, url: str) -> None:
    self.call('POST', '/url', {'url': url})

  def run(self, script: str, *args):
    """Runs JavaScript in the page (a function body; `arguments` are args)."""
    return self.call('POST', '/execute/sync', {'script': script, 'args': list(args)})

  def wait_for(self, script: str, *args, timeout: float = 20):
    """Waits until the script returns something truthy; returns it."""
    deadline = time.monotonic() + timeout
    while True:
      value = self.run(script, *args)
      if value:
        return value
      if time.monotonic() > deadline:
        raise TimeoutError(f'waited {timeout}s for: {script}')
      time.sleep(0.1)

  def click(self, css: str) -> None:
    """A real mouse click on the element css finds."""
    element = self.call('POST', '/element', {'using': 'css selector', 'value': css})[ELEMENT]
    self.call('POST', f'/element/{element}/click', {})

  def press(self, key: str) -> None:
    """A real key press (down and up) on the page; W3C key codes for special keys
    (Enter '\\ue007', Backspace '\\ue003', Delete '\\ue017')."""
    self.call('POST', '/actions', {'actions': [{'type': 'key', 'id': 'keyboard', 'actions': [
        {'type': 'keyDown', 'value': key}, {'type': 'keyUp', 'value': key}]}]})

  def screenshot(self, path: str) -> None:
    with open(path, 'wb') as f:
      f.write(base64.b64decode(self.call('GET', '/screenshot')))

  def quit(self) -> None:
    try:
      self.call('DELETE', '')
    except (OSError, RuntimeError):
      pass
    finally:
      self.driver.kill()
      self.driver.wait()
