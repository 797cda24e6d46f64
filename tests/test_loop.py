import dataclasses
import json
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pl_jax import loop, metrics, models, predict, score, select, timing

ROW_FIELDS = {'iteration', 'n_train', 'n_human', 'n_pseudo', 'train_label_accuracy',
              'train_accuracy', 'test_accuracy', 'pool_size', 'pool_accuracy', 'n_selected',
              'selected_accuracy', 'n_rejected', 'rejected_accuracy', 'train_seconds',
              'score_seconds', 'compile_seconds', 'epochs', 'final_loss', 'test_calibration',
              'pool_confidence_histogram'}

# Every layer trained and 40 steps, enough to select something each iteration.
TINY = loop.Config(n_labeled=300, threshold=0.9, iterations=3, epochs=1, min_steps=40,
                   batch_size=64, score_chunk_size=256, frozen=())


def test_tiny_loop_on_real_mnist(small_mnist, tmp_path):
  compiles_after = []
  with timing.CompileClock() as clock:
    record = loop.self_train(small_mnist, TINY, str(tmp_path), progress=False,
                             log=lambda line: compiles_after.append(clock.compilations)).record
  # Masks change every iteration; nothing compiles after the first.
  assert len(compiles_after) == 3
  assert compiles_after[0] > 0 and compiles_after[-1] == compiles_after[0]
  compile_seconds = [row['compile_seconds'] for row in record['iterations']]
  assert compile_seconds[0] > 0 and compile_seconds[1:] == [0, 0]

  saved = json.loads((tmp_path / 'results.json').read_text())
  assert saved['stop_reason'] == loop.STOP_MAX_ITERATIONS == record['stop_reason']
  assert saved['data_source'] == small_mnist.source
  assert saved['config']['n_labeled'] == 300
  rows = saved['iterations']
  assert [row['iteration'] for row in rows] == [1, 2, 3]
  for row in rows:
    assert set(row) == ROW_FIELDS
    for name in ('train_label_accuracy', 'train_accuracy', 'test_accuracy',
                 'pool_accuracy', 'selected_accuracy'):
      assert 0 <= row[name] <= 1, (name, row[name])
    assert row['n_train'] == row['n_human'] + row['n_pseudo']
    assert row['pool_size'] == row['n_selected'] + row['n_rejected']
    assert row['n_train'] + row['pool_size'] == 2000
  assert saved['final_test_accuracy'] == rows[-1]['test_accuracy']
  # Each iteration trains on what the one before selected.
  for before, after in zip(rows, rows[1:]):
    assert after['n_pseudo'] == before['n_pseudo'] + before['n_selected']
  assert rows[0]['n_pseudo'] == 0 and rows[0]['train_label_accuracy'] == 1.0
  assert rows[0]['test_accuracy'] > 0.5  # 300 real labels, one epoch: it learned.

  labels = np.load(tmp_path / 'labels.npz')
  assert labels['source_names'].tolist() == ['none', 'human', 'pseudo']
  source, iteration = labels['source'], labels['iteration']
  assert (source == select.HUMAN).sum() == 300
  assert (source == select.PSEUDO).sum() == rows[-1]['n_pseudo'] + rows[-1]['n_selected']
  for row in rows:
    assert (iteration == row['iteration']).sum() == row['n_selected']
  pseudo = source == select.PSEUDO
  assert (labels['confidence'][pseudo] > TINY.threshold).all()
  human = source == select.HUMAN
  np.testing.assert_array_equal(labels['labels'][human], small_mnist.train_labels[human])
  assert (labels['labels'][source == select.NONE] == -1).all()
  assert not [f for f in os.listdir(tmp_path) if f.startswith('.tmp')]


def test_same_seed_same_numbers(small_mnist):
  config = loop.Config(n_labeled=100, threshold=0.8, iterations=2, epochs=1, min_steps=20,
                       frozen=())
  first, second = (loop.self_train(small_mnist, config, progress=False, log=lambda _: None)
                   for _ in range(2))
  strip = lambda rows: [{k: v for k, v in r.items() if not k.endswith('_seconds')}
                        for r in rows]
  assert strip(first.record['iterations']) == strip(second.record['iterations'])
  np.testing.assert_array_equal(first.labels.labels, second.labels.labels)


def test_every_label_known_trains_once(small_mnist):
  config = loop.Config(n_labeled=2000, iterations=5, epochs=1, min_steps=0)
  record = loop.self_train(small_mnist, config, progress=False, log=lambda _: None).record
  assert record['stop_reason'] == loop.STOP_POOL_EMPTY
  [row] = record['iterations']
  assert row['pool_size'] == 0 and row['pool_accuracy'] is None


@pytest.mark.parametrize('row,iteration,expected', [
    ({'pool_size': 0, 'n_selected': 0}, 1, loop.STOP_POOL_EMPTY),
    ({'pool_size': 5, 'n_selected': 0}, 1, loop.STOP_NO_NEW_LABELS),
    ({'pool_size': 5, 'n_selected': 2}, 10, loop.STOP_MAX_ITERATIONS),
    ({'pool_size': 5, 'n_selected': 2}, 3, None),
])
def test_stop_reason(row, iteration, expected):
  assert loop.stop_reason(row, iteration, 10) == expected


def test_oracle_metrics_are_named_in_the_readme():
  readme = open(os.path.join(os.path.dirname(__file__), '..', 'README.md')).read()
  for name in metrics.ORACLE_METRICS:
    assert f'`{name}` (oracle)' in readme


@pytest.mark.parametrize('selection', ['balanced', 'class_share'])
def test_every_lever_together_compiles_once(small_mnist, selection):
  """Revisable, balanced (or class share), curriculum, augmentation, cosine,
  consistency, EMA, mixup, human examples in every batch, the GCE loss, scoring
  views."""
  config = loop.Config(n_labeled=300, threshold=0.5, iterations=3, epochs=1, min_steps=40,
                       frozen=(), max_shift=2, max_degrees=10.0, max_scale=0.1,
                       selection=selection, curriculum_step=0.3, revise=True, stratified=True,
                       lr_schedule='cosine', consistency_weight=1.0, consistency_threshold=0.5,
                       strong_max_degrees=20.0, strong_cutout=8, ema_decay=0.99,
                       mixup=0.4, human_per_batch=8, warm_start=True, gce_q=0.7,
                       score_views=2, predict_views=2)
  compiles_after = []
  with timing.CompileClock() as clock:
    result = loop.self_train(small_mnist, config, progress=False,
                             log=lambda _: compiles_after.append(clock.compilations))
  assert compiles_after[-1] == compiles_after[0]  # No recompilation across iterations.
  rows = result.record['iterations']
  for before, after in zip(rows, rows[1:]):
    # Revisable: the previous selection is the whole pseudo-labeled set.
    assert after['n_pseudo'] == before['n_selected']
    assert after['pool_size'] == 2000 - 300  # Every non-human example is a candidate.
  for iteration, row in enumerate(rows, 1):
    # Either rule takes at most the curriculum's share (rounded up per class).
    share = select.curriculum_share(iteration, 0.3)
    assert 0 < row['n_selected'] <= share * 1700 + 10
  labels = result.labels
  source = np.asarray(labels.source)
  picked = np.asarray(labels.labels)[source == select.PSEUDO]
  if selection == 'balanced':
    last_cap = select.curriculum_per_class(1700, 10, 3, 0.3)
    assert np.bincount(picked, minlength=10).max() <= last_cap
  assert (np.asarray(labels.iteration)[source == select.PSEUDO] == 3).all()


def test_the_last_iteration_trains_final_epochs(small_mnist):
  # A threshold at chance selects every candidate, and with revise every
  # non-human example stays one: iteration 2 is the last by its number.
  config = loop.Config(n_labeled=300, threshold=0.1, iterations=2, epochs=1, min_steps=0,
                       final_epochs=3, frozen=(), revise=True)
  rows = loop.self_train(small_mnist, config, progress=False, log=lambda _: None
                         ).record['iterations']
  assert [row['epochs'] for row in rows] == [1, 3]
  # Every label human: no candidate, so the first iteration is the last.
  everything = dataclasses.replace(config, n_labeled=len(small_mnist.train_labels))
  rows = loop.self_train(small_mnist, everything, progress=False, log=lambda _: None
                         ).record['iterations']
  assert [row['epochs'] for row in rows] == [3]


def test_class_slack_lets_a_larger_class_be_labeled_whole():
  # Ten confident candidates: six predicted 0, four predicted 1. The equal share
  # is 5 per class; 20 % slack makes it 6, and the threshold rule ignores it.
  confidence = jnp.linspace(0.999, 0.99, 10) + 0.0005
  predicted = jnp.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1], jnp.int32)
  scores = (confidence, predicted, confidence)
  candidates = jnp.ones(10, bool)

  def chosen(selection, slack):
    config = loop.Config(selection=selection, curriculum_step=1.0, class_slack=slack)
    return np.asarray(loop.choose(config, scores, candidates, 2, iteration=1)).nonzero()[0]

  np.testing.assert_array_equal(chosen('balanced', 0.0), [0, 1, 2, 3, 4, 6, 7, 8, 9])
  np.testing.assert_array_equal(chosen('balanced', 0.2), np.arange(10))
  np.testing.assert_array_equal(chosen('threshold', 0.0), np.arange(10))
  np.testing.assert_array_equal(chosen('threshold', 0.2), np.arange(10))


def test_max_share_leaves_the_least_confident_candidates_in_the_pool():
  confidence = jnp.linspace(0.999, 0.99, 10) + 0.0005  # Falling with the index.
  predicted = jnp.array([0, 1] * 5, jnp.int32)
  scores = (confidence, predicted, confidence)
  candidates = jnp.ones(10, bool)

  def chosen(selection, curriculum_step):
    config = loop.Config(selection=selection, curriculum_step=curriculum_step, max_share=0.6)
    return np.asarray(loop.choose(config, scores, candidates, 2, iteration=5)).nonzero()[0]

  # Whatever the rule, 6 of the 10 at most, each class's (or the whole's) most confident.
  for selection in ('balanced', 'class_share'):
    np.testing.assert_array_equal(chosen(selection, 0.2), [0, 1, 2, 3, 4, 5])
  np.testing.assert_array_equal(chosen('threshold', 0.2), [0, 1, 2, 3, 4, 5])
  np.testing.assert_array_equal(chosen('threshold', 0.0), [0, 1, 2, 3, 4, 5])


def test_predict_views_predict_the_test_set_over_views(small_mnist, tmp_path):
  """The run's test accuracy is its predictor's (the mean over the image and its
  views, keys fixed for the run), the plain model's is recorded beside it, and
  run.py --predict predicts with the same views."""
  config = loop.Config(n_labeled=300, threshold=0.5, iterations=1, epochs=1, min_steps=20,
                       max_shift=2, max_degrees=10.0, predict_views=3)
  result = loop.self_train(small_mnist, config, str(tmp_path), progress=False,
                           log=lambda _: None)
  row = result.record['iterations'][-1]
  test_images = jnp.asarray(small_mnist.test_images)
  confidence, predicted, _ = jax.device_get(score.score(
      result.model.apply, result.params, test_images, config.score_chunk_size, None,
      config.augmentation, 3, loop.predict_view_key(config.seed)))
  plain_confidence, plain_predicted, _ = jax.device_get(score.score(
      result.model.apply, result.params, test_images, config.score_chunk_size))
  assert row['test_accuracy'] == metrics.accuracy(predicted, small_mnist.test_labels)
  assert row['test_accuracy_plain'] == metrics.accuracy(plain_predicted,
                                                        small_mnist.test_labels)
  assert not np.allclose(confidence, plain_confidence)  # The views count.
  predicted_confidence, predicted_again, _ = predict.predict(
      str(tmp_path), small_mnist.test_images, chunk_size=config.score_chunk_size)
  np.testing.assert_array_equal(predicted_again, predicted)
  np.testing.assert_allclose(predicted_confidence, confidence, rtol=1e-6)
  # Without views the plain accuracy is the test accuracy, and not recorded twice.
  plain = loop.self_train(small_mnist, dataclasses.replace(config, predict_views=0),
                          progress=False, log=lambda _: None)
  assert 'test_accuracy_plain' not in plain.record['iterations'][-1]
  assert plain.record['iterations'][-1]['test_accuracy'] == row['test_accuracy_plain']


def test_final_models_predict_by_their_mean_softmax(small_mnist, tmp_path):
  """A run with final_models=3 leaves the last model and two more trained from
  fresh starts; its test accuracy, its predictor and a resume are their
  ensemble's, the loop before them is unchanged."""
  config = loop.Config(n_labeled=300, threshold=0.9, iterations=2, epochs=1, min_steps=20,
                       frozen=(), final_models=3)
  lines = []
  result = loop.self_train(small_mnist, config, str(tmp_path), progress=False,
                           log=lines.append)
  chex.assert_tree_shape_prefix(result.params, (3,))
  members = [jax.tree.map(lambda leaf, i=i: leaf[i], result.params) for i in range(3)]
  # The first is the last iteration's model, as a run of one final model leaves it.
  single = loop.self_train(small_mnist, dataclasses.replace(config, final_models=1),
                           progress=False, log=lambda _: None)
  chex.assert_trees_all_close(members[0], single.params)
  assert not np.allclose(members[1]['fc2']['kernel'], members[2]['fc2']['kernel'])

  test_images = jnp.asarray(small_mnist.test_images)
  softmax = [np.asarray(jax.nn.softmax(result.model.apply({'params': p}, test_images)))
             for p in members]
  mean = np.mean(softmax, axis=0)
  row, single_row = result.record['iterations'][-1], single.record['iterations'][-1]
  assert row['test_accuracy_final_models'] == [
      metrics.accuracy(np.argmax(s, -1), small_mnist.test_labels) for s in softmax]
  assert row['test_accuracy'] == metrics.accuracy(np.argmax(mean, -1), small_mnist.test_labels)
  assert row['test_accuracy_last_model'] == single_row['test_accuracy']
  assert result.record['final_test_accuracy'] == row['test_accuracy']
  # Selection and labels are the last model's, as without the other two.
  for name in ('n_train', 'n_selected', 'pool_size', 'train_accuracy'):
    assert row[name] == single_row[name]
  np.testing.assert_array_equal(result.labels.labels, single.labels.labels)
  assert '(3 models; last alone' in lines[-1]

  confidence, predicted, _ = predict.predict(str(tmp_path), small_mnist.test_images)
  np.testing.assert_array_equal(predicted, np.argmax(mean, -1))
  np.testing.assert_allclose(confidence, mean.max(-1), rtol=1e-5)
  # Resuming the finished run gives back all three.
  resumed = loop.self_train(small_mnist, config, str(tmp_path), progress=False,
                            log=lambda _: None)
  chex.assert_trees_all_close(resumed.params, result.params)
  assert isinstance(resumed.apply_fn, models.Ensemble)
  assert single.apply_fn == single.model.apply


def test_final_models_must_be_at_least_one():
  with pytest.raises(ValueError, match='final_models must be >= 1'):
    loop.Config(final_models=0)
