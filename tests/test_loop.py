import dataclasses
import json
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pl_jax import config as config_lib
from pl_jax import (augment, data_types, loop, metrics, models, predict, recipes, score, select,
                    timing)

ROW_FIELDS = {'iteration', 'n_train', 'n_human', 'n_pseudo', 'train_label_accuracy',
              'train_label_confusion',
              'train_accuracy', 'test_accuracy', 'pool_size', 'pool_accuracy', 'n_selected',
              'selected_accuracy', 'n_selected_per_class', 'selected_correct_per_class',
              'n_rejected', 'rejected_accuracy', 'train_seconds',
              'score_seconds', 'compile_seconds', 'epochs', 'final_loss', 'test_calibration',
              'pool_confidence_histogram', 'validation_accuracy', 'images_trained',
              'images_scored', 'wall_seconds'}

# Every layer trained and 40 steps, enough to select something each iteration.
TINY = recipes.make_config('case_study', n_labeled=300, threshold=0.9, iterations=3,
                           epochs=1, min_steps=40, batch_size=64, score_chunk_size=256,
                           frozen=())


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
  # The machine's speed when the run started, beside its wall times.
  assert 0 < saved['devices']['matmul_gflops'] < 1e6
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
    assert sum(row['n_selected_per_class']) == row['n_selected']
    assert sum(row['selected_correct_per_class']) == round(
        row['selected_accuracy'] * row['n_selected'])
    assert row['n_train'] + row['pool_size'] == 2000
    confusion = np.asarray(row['train_label_confusion'])
    assert confusion.shape == (10, 10) and confusion.sum() == row['n_train']
    assert np.trace(confusion) == round(row['train_label_accuracy'] * row['n_train'])
  assert saved['final_test_accuracy'] == rows[-1]['test_accuracy']
  # Each iteration trains on what the one before selected.
  for before, after in zip(rows, rows[1:]):
    assert after['n_pseudo'] == before['n_pseudo'] + before['n_selected']
  assert rows[0]['n_pseudo'] == 0 and rows[0]['train_label_accuracy'] == 1.0
  assert rows[0]['test_accuracy'] > 0.5  # 300 real labels, one epoch: it learned.

  labels = np.load(tmp_path / 'labels.npz')
  assert labels['source_names'].tolist() == ['none', 'human', 'pseudo', 'validation']
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


def test_a_deskewing_run_trains_scores_and_predicts_on_deskewed_images(small_mnist, tmp_path):
  """A deskewing run's model only ever sees deskewed images: the run's test
  accuracy is its model's on the deskewed test images, and its predictor (the
  result's, and the saved run's) deskews images as they come."""
  config = dataclasses.replace(TINY, iterations=1, deskew='digits')
  assert loop.deskews(config, small_mnist)  # MNIST is handwritten digits.
  result = loop.self_train(small_mnist, config, str(tmp_path), progress=False,
                           log=lambda _: None)
  logits = lambda images: result.model.apply({'params': result.params}, jnp.asarray(images))
  predicted = np.argmax(logits(augment.deskewed(small_mnist.test_images)), -1)
  assert result.record['final_test_accuracy'] == pytest.approx(
      np.mean(predicted == small_mnist.test_labels))
  assert not np.array_equal(np.argmax(logits(small_mnist.test_images), -1), predicted)
  as_they_come = jnp.asarray(small_mnist.test_images)
  np.testing.assert_array_equal(
      np.argmax(result.apply_fn({'params': result.params}, as_they_come), -1), predicted)
  _, saved_predicted, _ = predict.predict(str(tmp_path), small_mnist.test_images)
  np.testing.assert_array_equal(saved_predicted, predicted)


@pytest.mark.parametrize('deskew,digits,expected', [
    ('digits', True, True), ('digits', False, False), ('always', False, True),
    ('never', True, False)])
def test_which_runs_deskew_and_check_with_a_graph(small_mnist, deskew, digits, expected):
  dataset = dataclasses.replace(small_mnist, handwritten_digits=digits)
  assert loop.deskews(dataclasses.replace(TINY, deskew=deskew), dataset) is expected
  checked = recipes.make_config('fast', graph_check=deskew)
  run = loop.prepare(dataset, checked, loop.initial_label_state(dataset, checked), False)
  assert (run.graph is not None) is expected


@pytest.mark.parametrize('n_labeled,frozen_below,expected', [
    (300, 301, ('conv1',)), (300, 300, ()), (300, 0, ('conv1',))])
def test_the_frozen_layers_stay_at_their_init_only_below_frozen_below(
    small_mnist, n_labeled, frozen_below, expected):
  config = recipes.make_config('fast', n_labeled=n_labeled, frozen_below=frozen_below,
                               graph_check='never')
  initial = loop.initial_label_state(small_mnist, config)
  run = loop.prepare(small_mnist, config, initial, False)
  assert loop.frozen_layers(config, initial) == run.frozen == expected
  params = loop.new_model(run, jax.random.key(0)).params
  updates, _ = run.optimizer.update(jax.tree.map(jnp.ones_like, params),
                                    run.optimizer.init(params), params)
  assert (np.max(np.abs(updates['conv1']['kernel'])) == 0) == bool(expected)
  assert np.max(np.abs(updates['conv2']['kernel'])) > 0


@pytest.mark.parametrize('backend,expected', [('cpu', 8), ('gpu', 1), ('tpu', 1)])
def test_a_batch_is_split_in_parts_on_a_cpu_only(small_mnist, monkeypatch, backend, expected):
  config = recipes.make_config('fast', graph_check='never')
  assert config.batch_splits == 8
  monkeypatch.setattr(jax, 'default_backend', lambda: backend)
  initial = loop.initial_label_state(small_mnist, config)
  run = loop.prepare(small_mnist, config, initial, False)
  assert loop.batch_parts(config) == run.options.splits == expected
  assert loop.new_record(run, initial, None)['devices']['batch_parts'] == expected


@pytest.mark.slow
def test_same_seed_same_numbers(small_mnist):
  config = recipes.make_config('case_study', n_labeled=100, threshold=0.8, iterations=2, epochs=1, min_steps=20,
                       frozen=())
  first, second = (loop.self_train(small_mnist, config, progress=False, log=lambda _: None)
                   for _ in range(2))
  strip = lambda rows: [{k: v for k, v in r.items() if not k.endswith('_seconds')}
                        for r in rows]
  assert strip(first.record['iterations']) == strip(second.record['iterations'])
  np.testing.assert_array_equal(first.labels.labels, second.labels.labels)


def test_every_label_known_trains_once(small_mnist):
  config = recipes.make_config('case_study', n_labeled=2000, iterations=5, epochs=1, min_steps=0)
  record = loop.self_train(small_mnist, config, progress=False, log=lambda _: None).record
  assert record['stop_reason'] == loop.STOP_POOL_EMPTY
  [row] = record['iterations']
  assert row['pool_size'] == 0 and row['pool_accuracy'] is None


@pytest.mark.parametrize('iteration,last,full_budget,expected', [
    (3, False, True, 1),       # A middle iteration: config.epochs.
    (12, True, True, 6),       # The last by its number: final_epochs.
    (1, True, False, 6),       # Early, without the full budget: final_epochs.
    # Early: also the 11 skipped iterations, each 1 epoch raised to 500 steps:
    # 50,000 examples in batches of 128 is 391 steps an epoch, so 2 epochs each.
    (1, True, True, 6 + 11 * 2),
    (10, True, True, 6 + 2 * 2),
])
def test_iteration_epochs(iteration, last, full_budget, expected):
  config = recipes.make_config('fast', full_budget=full_budget)
  assert (config.iterations, config.epochs, config.final_epochs, config.min_steps) == (12, 1, 6, 500)
  assert loop.iteration_epochs(config, iteration, last, 50_000) == expected


# 6 s of training; the fast tier checks the epochs' arithmetic (test_iteration_epochs).
@pytest.mark.slow
def test_a_run_whose_every_label_is_known_trains_its_whole_budget(small_mnist):
  config = recipes.make_config('fast', n_labeled=len(small_mnist.train_labels), iterations=4,
                               final_epochs=2, min_steps=0, score_views=0)
  record = loop.self_train(small_mnist, config, progress=False, log=lambda _: None).record
  [row] = record['iterations']
  assert row['epochs'] == 2 + 3 * 1  # Its own 2, and the 3 skipped iterations' one each.
  assert row['images_trained'] == 5 * len(small_mnist.train_labels)
  assert config.graph_check == 'digits' and 'graph_check' not in record  # Nothing left to check.


def test_the_validation_split_is_held_out_and_measured(small_mnist):
  """The last `validation` examples are never labeled, pseudo-labeled or in the
  pool; each row's validation_accuracy is the model's on them; the labeled
  draw is the one of a run of the first N - validation examples."""
  config = recipes.make_config('case_study', n_labeled=200, threshold=0.5, iterations=2,
                               epochs=1, min_steps=30, frozen=(), revise=True,
                               validation=500)
  result = loop.self_train(small_mnist, config, progress=False, log=lambda _: None)
  source = np.asarray(result.labels.source)
  held_out = np.zeros(2000, bool)
  held_out[-500:] = True
  np.testing.assert_array_equal(source == select.VALIDATION, held_out)
  assert (np.asarray(result.labels.labels)[held_out] == -1).all()
  for row in result.record['iterations']:
    # Revise: every example but the 200 human and 500 held out is a candidate.
    assert row['pool_size'] == 1300 and row['n_train'] <= 1500
    assert 0.5 < row['validation_accuracy'] <= 1
  validation = jnp.asarray(small_mnist.train_images[-500:])
  _, predicted, _ = score.score(result.model.apply, result.params, validation, 256)
  assert result.record['iterations'][-1]['validation_accuracy'] == metrics.accuracy(
      np.asarray(predicted), small_mnist.train_labels[-500:])
  first_1500 = dataclasses.replace(small_mnist, train_images=small_mnist.train_images[:1500],
                                   train_labels=small_mnist.train_labels[:1500])
  without = loop.initial_label_state(first_1500, dataclasses.replace(config, validation=0))
  np.testing.assert_array_equal(source[:1500][np.asarray(without.source) == select.HUMAN],
                                select.HUMAN)
  assert (source == select.HUMAN).sum() == 200


def test_validation_of_a_users_data_is_some_of_its_labeled_examples(small_mnist):
  labels = np.where(np.arange(2000) < 300, small_mnist.train_labels, -1)
  own = dataclasses.replace(small_mnist, name='arrays', train_labels=labels.astype(np.int32))
  assert not own.is_benchmark
  state = loop.initial_label_state(own, recipes.make_config('strong', validation=100))
  source = np.asarray(state.source)
  assert (source == select.VALIDATION).sum() == 100 and (source == select.HUMAN).sum() == 200
  assert (labels[source == select.VALIDATION] >= 0).all()
  with pytest.raises(data_types.DataError, match='leaves no labeled example'):
    loop.initial_label_state(own, recipes.make_config('strong', validation=300))


@pytest.mark.slow
def test_a_propagated_start_gives_the_first_model_its_first_pseudo_labels(small_mnist):
  config = recipes.make_config('fast', n_labeled=20, stratified=True, iterations=1,
                               min_steps=20, final_epochs=1, curriculum_step=0.1,
                               validation=500, score_views=0, propagate=True,
                               graph_check='never')  # As the few_labels recipe.
  lines = []
  result = loop.self_train(small_mnist, config, progress=False, log=lines.append)
  propagated = result.record['propagation']
  selected, correct = propagated['n_selected_per_class'], propagated['selected_correct_per_class']
  # iteration 1's share of the 1,480 candidates: ceil(0.1 * 1480 / 10) a class.
  assert len(selected) == 10 and max(selected) <= 15 and sum(selected) >= 140
  assert sum(correct) / sum(selected) > 0.7  # Far above chance (0.1) from 2 labels a class.
  assert lines[0].startswith(f'iter  0 | propagated {sum(selected)} pseudo-labels')
  assert metrics.first_selection(result.record) == (selected, correct)
  first = result.record['iterations'][0]
  assert first['n_pseudo'] == sum(selected) and first['n_train'] == 20 + sum(selected)
  assert first['train_label_accuracy'] == pytest.approx((20 + sum(correct)) / (20 + sum(selected)))
  source = np.asarray(result.labels.source)
  assert (source[-500:] == select.VALIDATION).all()  # Held out: never propagated to.
  without = loop.self_train(small_mnist, dataclasses.replace(config, propagate=False),
                            progress=False, log=lambda _: None).record
  assert 'propagation' not in without and without['iterations'][0]['n_pseudo'] == 0
  # A follow-up that keeps a run's pseudo-labels is not overwritten by a propagated start.
  kept = select.adopt_pseudo_labels(loop.initial_label_state(small_mnist, config),
                                    jnp.arange(2000) < 30, jnp.asarray(small_mnist.train_labels),
                                    jnp.ones(2000), 3)
  lines = []
  follow_up = loop.self_train(small_mnist, config, initial=kept, progress=False,
                              log=lines.append).record
  assert 'propagation' not in follow_up and lines[0].startswith('note: no propagated start')
  n_kept = int(np.sum(np.asarray(kept.source) == select.PSEUDO))
  assert n_kept > 20 and follow_up['iterations'][0]['n_pseudo'] == n_kept


@pytest.mark.slow
def test_a_graph_check_adopts_only_what_label_spreading_agrees_with(small_mnist):
  config = recipes.make_config('fast', n_labeled=40, iterations=1, min_steps=30,
                               final_epochs=1, threshold=0.5, curriculum_step=0.0,
                               validation=500, score_views=0, graph_check='digits')
  lines = []
  result = loop.self_train(small_mnist, config, progress=False, log=lines.append)
  initial = loop.initial_label_state(small_mnist, config)
  graph = loop.spread_human_labels(small_mnist, initial)
  chex.assert_shape(graph.classes, (2000,))
  np.testing.assert_array_equal(graph.classes[-500:], -1)  # Held out: not in the graph.
  entry, row = result.record['graph_check'], result.record['iterations'][0]
  assert 0.7 < entry['pool_correct'] < 1 and entry['seconds'] > 0
  assert lines[0].startswith('iter  0 | graph check: label spreading from the human labels '
                             f'({100 * entry["pool_correct"]:.2f}% correct)')
  labels, source = np.asarray(result.labels.labels), np.asarray(result.labels.source)
  pseudo = source == select.PSEUDO
  assert pseudo.sum() > 500
  np.testing.assert_array_equal(labels[pseudo], graph.classes[pseudo])
  # The same model without the check adopts the predictions it refused.
  unchecked = loop.self_train(small_mnist, dataclasses.replace(config, graph_check='never'),
                              progress=False, log=lambda _: None)
  assert 'graph_check' not in unchecked.record
  unchecked_pseudo = np.asarray(unchecked.labels.source) == select.PSEUDO
  refused = unchecked_pseudo & (np.asarray(unchecked.labels.labels) != graph.classes)
  assert row['graph_disagreements'] >= refused.sum() > 0
  np.testing.assert_array_equal(pseudo, unchecked_pseudo & ~refused)


@pytest.mark.parametrize('row,iteration,expected', [
    ({'pool_size': 0, 'n_selected': 0}, 1, loop.STOP_POOL_EMPTY),
    ({'pool_size': 5, 'n_selected': 0}, 1, loop.STOP_NO_NEW_LABELS),
    ({'pool_size': 5, 'n_selected': 2}, 10, loop.STOP_MAX_ITERATIONS),
    ({'pool_size': 5, 'n_selected': 2}, 3, None),
])
def test_stop_reason(row, iteration, expected):
  assert loop.stop_reason(row, iteration, 10) == expected


def test_oracle_metrics_are_labelled_so_in_the_docs():
  docs = open(os.path.join(os.path.dirname(__file__), '..', 'docs', 'output.md')).read()
  for name in metrics.ORACLE_METRICS:
    assert f'`{name}` (oracle)' in docs


@pytest.mark.slow
@pytest.mark.parametrize('selection', ['balanced', 'threshold'])
def test_every_setting_together_compiles_once(small_mnist, selection):
  """The default recipe's settings (revisable, balanced or capped threshold
  selection, curriculum, augmentation, EMA, warm start, scoring views) with
  the batch in parts (one final model: the ensemble's own compilations at the
  end are test_final_models_...'s)."""
  config = recipes.make_config('strong', n_labeled=300, threshold=0.5, iterations=3,
                               epochs=1, min_steps=40, final_epochs=1, selection=selection,
                               curriculum_step=0.3, stratified=True, ema_decay=0.99,
                               score_views=2, batch_splits=2, final_models=1)
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


@pytest.mark.slow
def test_the_last_iteration_trains_final_epochs(small_mnist):
  # A threshold at chance selects every candidate, and with revise every
  # non-human example stays one: iteration 2 is the last by its number.
  config = recipes.make_config('case_study', n_labeled=300, threshold=0.1, iterations=2, epochs=1, min_steps=0,
                       final_epochs=3, frozen=(), revise=True)
  rows = loop.self_train(small_mnist, config, progress=False, log=lambda _: None
                         ).record['iterations']
  assert [row['epochs'] for row in rows] == [1, 3]
  # Every label human: no candidate, so the first iteration is the last.
  everything = dataclasses.replace(config, n_labeled=len(small_mnist.train_labels))
  rows = loop.self_train(small_mnist, everything, progress=False, log=lambda _: None
                         ).record['iterations']
  assert [row['epochs'] for row in rows] == [3]


@pytest.mark.slow
def test_final_models_predict_by_their_mean_softmax(small_mnist, tmp_path):
  """A run with final_models=3 leaves the last model and two more trained from
  fresh starts; its test accuracy, its predictor and a resume are their
  ensemble's, the loop before them is unchanged."""
  config = recipes.make_config('case_study', n_labeled=300, threshold=0.9, iterations=2, epochs=1, min_steps=20,
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
  with pytest.raises(config_lib.ConfigError, match='final_models must be >= 1, got 0'):
    recipes.make_config('case_study', final_models=0)


# The resumed case trains (6 s): the fast tier keeps the refusal only.
@pytest.mark.parametrize('recorded, refused', [
    pytest.param('constant', False, marks=pytest.mark.slow), ('cosine', True)])
def test_a_run_recorded_with_a_removed_setting_resumes_only_as_it_ran(
    small_mnist, tmp_path, recorded, refused):
  # lr_schedule is gone; `constant` is how every run trains now, `cosine` is not.
  assert config_lib.REMOVED == {'lr_schedule': 'constant'}
  config = dataclasses.replace(TINY, iterations=1)
  initial = loop.initial_label_state(small_mnist, config)
  theirs = {**loop.recipe(small_mnist, config, initial), 'lr_schedule': recorded}
  (tmp_path / 'results.json').write_text(json.dumps({'recipe': theirs, 'iterations': []}))
  if refused:
    with pytest.raises(loop.WorkdirError, match=r'holds another run \(differs in: lr_schedule\)'):
      loop.self_train(small_mnist, config, str(tmp_path), progress=False, log=lambda _: None)
  else:  # This recipe's results.json without a checkpoint: the run starts over.
    record = loop.self_train(small_mnist, config, str(tmp_path), progress=False,
                             log=lambda _: None).record
    assert record['stop_reason'] == loop.STOP_MAX_ITERATIONS
    assert 'lr_schedule' not in json.loads((tmp_path / 'results.json').read_text())['recipe']
