import pytest

from pl_jax import loop, recipes


def test_seed_recipe_is_the_case_study():
  config = recipes.make_config('seed')
  assert config == loop.Config()
  assert config.frozen == ('fc1',) and config.epochs == 10 and config.batch_size == 64
  assert config.selection == 'threshold' and not config.revise and not config.warm_start


def test_explicit_settings_win():
  config = recipes.make_config('strong', iterations=3, threshold=0.9)
  assert config.iterations == 3 and config.threshold == 0.9
  assert config.revise and config.warm_start and config.max_shift == 2
  assert config.final_epochs == 20 and config.ema_decay == 0.999
  assert config.score_views == 8 and recipes.make_config('strong').iterations == 12


def test_unknown_recipe_or_setting():
  with pytest.raises(ValueError, match='unknown recipe'):
    recipes.make_config('magic')
  with pytest.raises(ValueError, match='unknown settings'):
    recipes.make_config('seed', speed=11)
  with pytest.raises(ValueError, match='selection must be one of'):
    recipes.make_config('seed', selection='random')


def test_run_py_and_the_api_default_to_the_same_recipe():
  import inspect  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  from pl_jax import api  # pylint: disable=g-import-not-at-top
  assert recipes.DEFAULT in recipes.RECIPES and recipes.DEFAULT != 'seed'
  assert inspect.signature(api.self_train).parameters['recipe'].default == recipes.DEFAULT
  run_py = open(os.path.join(os.path.dirname(__file__), '..', 'run.py')).read()
  assert f"flags.DEFINE_string('recipe', '{recipes.DEFAULT}'," in run_py
