"""Module boundaries: the imports among pl_jax's modules form no cycle."""

import ast
import json
import os
import subprocess
import sys

PACKAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'pl_jax')


def import_graph() -> dict[str, set[str]]:
  """Module -> the pl_jax modules it imports, function-level imports included.

  Read in a fresh interpreter (this file run as a script): in a long test
  process CPython 3.11.7's ast.parse once failed with "AST constructor
  recursion depth mismatch", an interpreter bug, not a property of the source."""
  done = subprocess.run([sys.executable, os.path.abspath(__file__)], capture_output=True,
                        text=True, timeout=120, check=True)
  return {module: set(imported) for module, imported in json.loads(done.stdout).items()}


def read_import_graph() -> dict[str, set[str]]:
  """import_graph's work, in this process."""
  modules = {f[:-3] for f in os.listdir(PACKAGE) if f.endswith('.py')}
  graph = {}
  for module in modules:
    with open(os.path.join(PACKAGE, module + '.py')) as f:
      tree = ast.parse(f.read())
    imported = set()
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        for alias in node.names:
          parts = alias.name.split('.')
          if parts[0] == 'pl_jax':
            imported.add(parts[1] if len(parts) > 1 else '__init__')
      elif isinstance(node, ast.ImportFrom):
        parts = ('pl_jax.' * bool(node.level) + (node.module or '')).strip('.').split('.')
        if parts[0] != 'pl_jax':
          continue
        if len(parts) > 1:
          imported.add(parts[1])
        else:  # from pl_jax import x, y: modules, or names of __init__.
          imported.update(a.name if a.name in modules else '__init__' for a in node.names)
    graph[module] = (imported & modules) - {module}
  return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
  """The import cycles: each a path that returns to its first module."""
  found, done = [], set()

  def visit(module, path):
    if module in path:
      found.append(path[path.index(module):] + [module])
      return
    if module in done:
      return
    for imported in sorted(graph[module]):
      visit(imported, path + [module])
    done.add(module)

  for module in sorted(graph):
    visit(module, [])
  return found


def test_the_graph_is_read_from_the_source():
  graph = import_graph()
  assert 'user_data' in graph['data']  # load_dataset hands npz: and folder: to it.
  assert 'data_types' in graph['user_data']
  assert 'api' in graph['__init__']  # A function-level import counts.


def test_no_import_cycles():
  assert cycles(import_graph()) == []


def test_a_cycle_is_found():
  assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == [['a', 'b', 'c', 'a']]


if __name__ == '__main__':
  print(json.dumps({module: sorted(imported) for module, imported in read_import_graph().items()}))
