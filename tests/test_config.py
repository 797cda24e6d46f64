import dataclasses

import pytest

from pl_jax import config as config_lib
from pl_jax import recipes


@pytest.mark.parametrize('settings,message', [
    (dict(recipe='magic'), "recipe must be one of fast, strong, few_labels, case_study, got 'magic'"),
    (dict(speed=11), 'unknown setting speed'),
    (dict(selection='random'), "selection must be one of threshold, balanced, got 'random'"),
    (dict(threshold=1.5), 'threshold must be in (0, 1), got 1.5'),
    (dict(threshold=float('nan')), 'threshold must be in (0, 1), got nan'),
    (dict(frozen=('fc9',)), 'frozen must be one of conv1, conv2, fc1, fc2, got fc9'),
    (dict(iterations=2.5), 'iterations must be a int, got 2.5'),
    (dict(revise=1), 'revise must be a bool, got 1'),
    (dict(batch_splits=3), 'batch_size (128) must split into batch_splits=3 equal parts'),
])
def test_a_bad_value_is_one_line_naming_the_setting(settings, message):
  recipe = settings.pop('recipe', recipes.DEFAULT)
  with pytest.raises(config_lib.ConfigError) as error:
    recipes.make_config(recipe, **settings)
  assert str(error.value).startswith(message) and '\n' not in str(error.value)


def test_values_from_json_and_flags_are_coerced():
  config = config_lib.Config(threshold=1 - 1e-9, max_degrees=10, frozen=['fc1'])
  assert config.max_degrees == 10.0 and type(config.max_degrees) is float
  assert config.frozen == ('fc1',)


def test_allowed_reads_as_it_checks():
  unit = config_lib.Allowed(0, 1, high_open=True)
  assert str(unit) == 'in [0, 1)' and 0 in unit and 0.5 in unit and 1 not in unit
  assert str(config_lib.Allowed(0, low_open=True)) == '> 0' and 0 not in config_lib.Allowed(
      0, low_open=True)
  assert float('inf') not in config_lib.Allowed(0)
  layers = config_lib.Allowed(choices=('a', 'b'))
  assert ('a', 'b') in layers and () in layers and ('a', 'c') not in layers


def test_every_setting_is_declared_with_help_group_and_a_default_it_allows():
  for field in dataclasses.fields(config_lib.Config):
    assert field.metadata['help'].endswith('.'), field.name
    assert field.metadata['group'] in config_lib.GROUPS
    assert field.default in field.metadata['allowed'], field.name
  assert all(config_lib.fields_of(group) for group in config_lib.GROUPS)
  config_lib.check(config_lib.Config())  # The defaults pass their own checks.


def test_a_removed_setting_is_dropped_only_where_it_ran_as_pl_jax_now_runs():
  assert config_lib.without_removed({'threshold': 0.99, 'lr_schedule': 'constant'}) == {
      'threshold': 0.99}
  assert config_lib.without_removed({'threshold': 0.99, 'lr_schedule': 'cosine'}) == {
      'threshold': 0.99, 'lr_schedule': 'cosine'}
  assert not config_lib.REMOVED.keys() & config_lib.names()
