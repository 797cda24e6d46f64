"""Recipes: named overrides of config.Config's defaults (which are the default
recipe's). A setting given explicitly wins over the recipe."""

from pl_jax import config as config_lib

RECIPES = {
    # Towards 99 % from 100 labels within 5 minutes on 2 CPU cores
    # (BENCHMARKS.md: targets): the defaults. MNIST's images deskewed, the
    # first convolution kept at its random init below 200 labels (1.3-1.5x
    # the training rate), augmentation in the step, class-balanced selection
    # whose share grows each iteration, of the predictions that label spreading from
    # the human labels agrees with; revisable pseudo-labels, one model trained
    # on across 12 iterations, a weight EMA; batches of 128 in 8 parts (1.8x
    # the training rate of 64 in one on 2 cores), a step floor of 500, the pool
    # scored over 2 augmented views, a last iteration of 6 epochs (and the
    # epochs of the iterations it skips, when every label is known). Chosen on
    # the validation split, tuning seeds 100-102 (BENCHMARKS.md: tuning).
    'fast': {},
    # The default of 2026-11-29 to 2026-12-03, 5x the wall time of `fast`:
    # batches of 64 in one part, at least 1,500 steps an iteration, the pool
    # scored over 8 views, a last iteration of 20 epochs and a second final
    # model from a fresh start.
    'strong': dict(batch_size=64, learning_rate=1e-3, batch_splits=1, min_steps=1500,
                   final_epochs=20, final_models=2, score_views=8, deskew='never',
                   full_budget=False, graph_check='never', frozen=()),
    # For a few labels per class (50, 20, 10; issue 23): the fast recipe, its
    # first pseudo-labels taken by label spreading over a nearest-neighbour
    # graph of the deskewed images before any model is trained (propagate.py).
    # Why: the first model from a label or two per class is weak, and its
    # confident mistakes take whole classes. Chosen on the validation split
    # (tuning seed 100, BENCHMARKS.md: tuning): from 10 labels 97.95 %, where
    # the earlier few_labels recipe (a first selection of 5 % growing 5 % an
    # iteration, over 24) was at 74.85 % after 11; from 20, 97.70 % against
    # its 91.49 %.
    # Its images as they come and every layer trained: the runs that chose it
    # and its reported table ran before `fast` deskewed them (the graph deskews
    # on its own) and froze conv1.
    'few_labels': dict(propagate=True, deskew='never', graph_check='never', frozen=()),
    # The case study (../shared/SEED.md), exactly: 1,000 labels, a fresh model
    # every iteration for 10 epochs of batch 64 at Adam 1e-3, fc1 never
    # trained, no augmentation, every pool example above the threshold adopted
    # for good.
    'case_study': dict(n_labeled=1000, deskew='never', epochs=10, min_steps=160, final_epochs=0,
                       batch_size=64, learning_rate=1e-3, batch_splits=1,
                       iterations=10, frozen=('fc1',), frozen_below=0, warm_start=False,
                       ema_decay=0.0, max_shift=0, max_degrees=0.0, max_scale=0.0,
                       selection='threshold', curriculum_step=0.0, revise=False,
                       score_views=0, full_budget=False, graph_check='never'),
}

# What run.py and pl_jax.self_train use when no recipe is named.
DEFAULT = 'fast'


def make_config(recipe: str, **explicit) -> config_lib.Config:
  """The recipe's settings, then the explicitly given ones on top.

  Raises:
    config_lib.ConfigError: an unknown recipe or setting, or a value not allowed.
  """
  if recipe not in RECIPES:
    raise config_lib.ConfigError(f'recipe must be one of {", ".join(RECIPES)}, '
                                 f'got {recipe!r}')
  return config_lib.make(**{**RECIPES[recipe], **explicit})


def config_of(recorded: dict) -> config_lib.Config:
  """The Config a run recorded (loop.recipe). Settings a run of an older
  version did not record take the case study's values, which were then the
  defaults; settings since removed are ignored."""
  known = {name: recorded[name] for name in config_lib.names() & set(recorded)}
  # graph_check was a switch for a few hours of 2026-12-04 (then applied to
  # any data set) before it took digits, always or never.
  if isinstance(known.get('graph_check'), bool):
    known['graph_check'] = 'always' if known['graph_check'] else 'never'
  return config_lib.make(**{**RECIPES['case_study'], **known})
