import dataclasses

from pl_jax import config as config_lib
from pl_jax import recipes


def test_case_study_recipe_is_the_case_study():
  """SEED.md's reference: 1,000 labels, a fresh model every iteration, 10 epochs
  of batch 64 at Adam 1e-3 (fc1 never trained), no augmentation, every pool
  example above 0.99 adopted for good, 10 iterations."""
  config = recipes.make_config('case_study')
  assert (config.n_labeled, config.iterations, config.epochs, config.batch_size) == (
      1000, 10, 10, 64)
  assert config.learning_rate == 1e-3 and config.frozen == ('fc1',)
  assert config.threshold == 0.99 and config.selection == 'threshold'
  assert config.curriculum_step == 0 and not config.revise and not config.warm_start
  assert config.augmentation.is_identity and config.score_views == 0
  assert config.final_models == 1 and config.ema_decay == 0 and config.final_epochs == 0
  # 10 epochs over 1,000 labels is 160 steps: the floor changes nothing there.
  assert config.min_steps == 160


def test_the_default_recipe_is_the_declared_defaults():
  assert recipes.RECIPES[recipes.DEFAULT] == {}
  assert recipes.make_config(recipes.DEFAULT) == config_lib.Config()
  assert recipes.make_config('case_study') != config_lib.Config()


def test_strong_recipe_is_the_recipe_of_2026_11_29():
  """The defaults before the fast recipe took their place (commit 10d6a27)."""
  config = recipes.make_config('strong')
  assert (config.batch_size, config.learning_rate, config.batch_splits) == (64, 1e-3, 1)
  assert (config.iterations, config.min_steps, config.final_epochs) == (12, 1500, 20)
  assert (config.final_models, config.score_views, config.curriculum_step) == (2, 8, 0.2)
  assert config.selection == 'balanced' and config.revise and config.warm_start
  assert config.frozen == ()  # Every layer trained, as then.


def test_few_labels_recipe_is_the_fast_one_with_a_propagated_start():
  """... on its images as they come, every layer trained and without the graph
  check, as it was measured."""
  config = recipes.make_config('few_labels', n_labeled=20, stratified=True)
  assert config.propagate and config.deskew == 'never' and config.graph_check == 'never'
  assert dataclasses.replace(config, propagate=False, deskew='digits', graph_check='digits',
                             frozen=('conv1',), n_labeled=100,
                             stratified=False) == config_lib.Config()


def test_recipes_name_only_declared_settings_and_differ_from_the_defaults():
  defaults = config_lib.Config()
  for name, overrides in recipes.RECIPES.items():
    assert set(overrides) <= config_lib.names(), name
    for setting, value in overrides.items():
      assert getattr(defaults, setting) != value, (name, setting)  # Each override overrides.


def test_explicit_settings_win():
  config = recipes.make_config('case_study', iterations=3, threshold=0.9)
  assert config.iterations == 3 and config.threshold == 0.9 and config.frozen == ('fc1',)


def test_config_of_reads_back_a_recorded_config_and_older_ones():
  config = recipes.make_config('strong', seed=7, iterations=3)
  recorded = {**dataclasses.asdict(config), 'frozen': list(config.frozen),
              'dataset': 'mnist', 'consistency_weight': 0.0}  # A removed setting.
  assert recipes.config_of(recorded) == config
  # An older run that recorded no final_models had the case study's one.
  del recorded['final_models']
  assert recipes.config_of(recorded).final_models == 1
  # A run of the version whose graph check was a switch.
  assert recipes.config_of({**recorded, 'graph_check': True}).graph_check == 'always'
  assert recipes.config_of({**recorded, 'graph_check': False}).graph_check == 'never'


def test_run_py_and_the_api_default_to_the_same_recipe():
  import inspect  # pylint: disable=g-import-not-at-top
  from pl_jax import api  # pylint: disable=g-import-not-at-top
  assert inspect.signature(api.self_train).parameters['recipe'].default == recipes.DEFAULT
