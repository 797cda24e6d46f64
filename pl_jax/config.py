"""Config: every setting that decides a run's numbers, declared once.

Each field of `Config` carries its default, its allowed values and one line of
help. run.py's flags, the flag reference (docs/flags.md) and the checks that
both the command line and `pl_jax.self_train` go through are all made from this
declaration. The defaults are the default recipe's; recipes.py names the
overrides of the others (the case study's among them).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

# Parameter names of models.CNN's layers (the reference model's), which
# `frozen` may name; kept here so that settings are checked before JAX loads.
LAYERS = ('conv1', 'conv2', 'fc1', 'fc2')
SELECTIONS = ('threshold', 'balanced')
# Where a setting for images like MNIST's applies: to handwritten digits (where
# it was measured), to any images, or nowhere.
APPLIES = ('digits', 'always', 'never')
GROUPS = ('labels', 'images', 'training', 'augmentation', 'selection', 'scoring')


class ConfigError(ValueError):
  """A setting's value is not allowed; the message is one line naming it."""


@dataclasses.dataclass(frozen=True)
class Allowed:
  """The values a setting takes: an interval (either end open or closed, None
  for unbounded) or a set of choices (for a tuple, of each element)."""
  low: float | None = None
  high: float | None = None
  low_open: bool = False
  high_open: bool = False
  choices: tuple[str, ...] | None = None

  def __contains__(self, value: Any) -> bool:
    if self.choices is not None:
      values = value if isinstance(value, tuple) else (value,)
      return all(v in self.choices for v in values)
    if isinstance(value, float) and not math.isfinite(value):
      return False
    above = self.low is None or (value > self.low if self.low_open else value >= self.low)
    below = self.high is None or (value < self.high if self.high_open else value <= self.high)
    return above and below

  def __str__(self) -> str:
    if self.choices is not None:
      return 'one of ' + ', '.join(self.choices)
    if self.high is None:
      return f'{">" if self.low_open else ">="} {self.low:g}'
    return (f'in {"(" if self.low_open else "["}{self.low:g}, '
            f'{self.high:g}{")" if self.high_open else "]"}')


def setting(default: Any, help: str, group: str, allowed: Allowed = Allowed()):  # pylint: disable=redefined-builtin
  """A Config field: its default, one line of help, its group and allowed values."""
  assert group in GROUPS, group
  return dataclasses.field(default=default,
                           metadata={'help': help, 'group': group, 'allowed': allowed})


AT_LEAST_0, AT_LEAST_1 = Allowed(0), Allowed(1)
PROBABILITY_OPEN = Allowed(0, 1, low_open=True, high_open=True)


@dataclasses.dataclass(frozen=True)
class Config:
  """Everything that decides a run's numbers; the defaults are the default recipe."""
  # Labels.
  n_labeled: int = setting(100, 'Human-labeled training examples, drawn from the known '
                           'labels (benchmarks; your own data brings its labels).',
                           'labels', AT_LEAST_1)
  stratified: bool = setting(False, 'Draw n_labeled / num_classes labels per class.', 'labels')
  seed: int = setting(0, 'Seeds the labeled draw, the model inits, the shuffling and '
                      'the augmentation.', 'labels', AT_LEAST_0)
  # 0 for a user's run (a person with 100 labels does not have 10,000 more);
  # every script that chooses a setting holds out MNIST's standard 10,000.
  validation: int = setting(0, 'Labeled examples held out of training as the validation '
                            'split that choices are made on: the last N of a benchmark\'s '
                            'training set, or N of your labeled examples; never trained on, '
                            'pseudo-labeled or in the pool.', 'labels', AT_LEAST_0)
  # Images.
  # Why: from a few labels a model must otherwise learn every slant of a digit.
  deskew: str = setting('digits', 'Deskew the images before the model sees them (training, '
                        'scoring, test, prediction), sheared upright about their centre of '
                        'mass: digits: when the data set is handwritten digits (MNIST); '
                        'always; never.', 'images', Allowed(choices=APPLIES))
  # Training.
  epochs: int = setting(1, 'Epochs over the current training set per iteration.',
                        'training', AT_LEAST_1)
  # A floor, because 10 epochs over 100 labels is 20 steps, too few to learn
  # anything (train.num_epochs); 160 is the case study's 10 epochs of 1,000.
  min_steps: int = setting(500, 'At least this many optimizer steps per iteration (more '
                           'epochs when the training set is small).', 'training', AT_LEAST_0)
  final_epochs: int = setting(6, 'Epochs of the last iteration, which trains the model the '
                              'run leaves (at least epochs; 0: as the others).',
                              'training', AT_LEAST_0)
  batch_size: int = setting(128, 'Training batch size.', 'training', AT_LEAST_1)
  learning_rate: float = setting(1.4e-3, 'Adam learning rate.', 'training',
                                 Allowed(0, low_open=True))
  # Why conv1: without its kernel gradient the train step also skips the second
  # convolution's input gradient, 1.3-1.5x the training rate on 2 cores, and
  # 32 random 3x3 filters cost nothing that the validation split shows
  # (BENCHMARKS.md: tuning).
  frozen: tuple[str, ...] = setting(('conv1',), 'Layers kept at their random init (the '
                                    'case study\'s code never trains fc1); empty: every '
                                    'layer trained.', 'training', Allowed(choices=LAYERS))
  # Why: from 200, 300, 500 and 1,000 labels the random conv1 costs 0.08-0.22
  # points of validation accuracy, where from 100 it is level (BENCHMARKS.md:
  # tuning); between 100 and 200 it was not measured.
  frozen_below: int = setting(200, 'Keep the `frozen` layers at their init only in runs with '
                              'fewer human labels than this; 0: in every run.', 'training',
                              AT_LEAST_0)
  warm_start: bool = setting(True, 'Train on from the previous iteration\'s model instead '
                             'of a fresh one.', 'training')
  ema_decay: float = setting(0.999, 'Score and predict with a moving average of the weights '
                             'of this decay per step; 0: the weights themselves.',
                             'training', Allowed(0, 1, high_open=True))
  # Why: XLA:CPU runs independent parts at once (BENCHMARKS.md, "A batch in parts").
  batch_splits: int = setting(8, 'On a CPU, each batch\'s gradient as the sum of this many '
                              'parts, each its own pass: the same gradient up to rounding, '
                              'faster on a multi-core CPU (a GPU or TPU takes each batch in '
                              'one part).', 'training', AT_LEAST_1)
  full_budget: bool = setting(True, 'When the run ends early (no candidates left, as when '
                              'every training example is labeled), its last iteration also '
                              'trains the epochs of the iterations it skips.', 'training')
  final_models: int = setting(1, 'Models the run ends with: the last iteration\'s and this '
                              'many minus one more, trained from fresh starts on the final '
                              'labels; they predict by their mean softmax.',
                              'training', AT_LEAST_1)
  # Augmentation, inside the train step (augment.Augmentation).
  max_shift: int = setting(2, 'Random shifts of up to this many pixels.', 'augmentation',
                           AT_LEAST_0)
  max_degrees: float = setting(10.0, 'Random rotations of up to this angle.', 'augmentation',
                               Allowed(0, 180))
  max_scale: float = setting(0.1, 'Random scaling by a factor in 1 +- this.', 'augmentation',
                             Allowed(0, 1, high_open=True))
  # Selection.
  threshold: float = setting(0.99, 'Adopt a prediction when its confidence is above this.',
                             'selection', PROBABILITY_OPEN)
  iterations: int = setting(12, 'Most train / score / select rounds.', 'selection',
                            AT_LEAST_1)
  selection: str = setting('balanced', 'threshold: every candidate above the threshold; '
                           'balanced: at most an equal share of them per predicted class.',
                           'selection', Allowed(choices=SELECTIONS))
  curriculum_step: float = setting(0.2, 'Iteration k selects at most a share min(1, k * '
                                   'step) of the candidates; 0: no cap.', 'selection',
                                   Allowed(0, 1))
  # Why: with a label or two per class the first model's confident mistakes
  # take whole classes; the images' neighbourhoods do far better (propagate.py).
  propagate: bool = setting(False, 'Take the first pseudo-labels, before any model is trained, '
                            'from label spreading over a nearest-neighbour graph of the '
                            'deskewed training images: the best-ranked share of each class '
                            'that iteration 1 would select.', 'selection')
  # Why: a model's confident mistakes are systematic (from 100 labels, 7s with a
  # crossbar taken for 2s); label spreading errs elsewhere, so a pseudo-label
  # the two disagree on is more often wrong (BENCHMARKS.md: tuning).
  graph_check: str = setting('digits', 'Adopt a pseudo-label only where label spreading from '
                             'the human labels over a nearest-neighbour graph of the deskewed '
                             'training images gives the same class: digits: when the data set '
                             'is handwritten digits (MNIST); always; never.', 'selection',
                             Allowed(choices=APPLIES))
  revise: bool = setting(True, 'Re-label every non-human example each iteration '
                         '(pseudo-labels may change or return to the pool).', 'selection')
  # Scoring.
  score_views: int = setting(2, 'Score the pool by the mean softmax over each image and this '
                             'many augmented views of it; 0: the image alone.', 'scoring',
                             AT_LEAST_0)
  score_chunk_size: int = setting(1024, 'Images per chunk when scoring.', 'scoring',
                                  AT_LEAST_1)

  def __post_init__(self):
    for field in dataclasses.fields(self):  # JSON and flags give lists and ints.
      value, kind = getattr(self, field.name), type(field.default)
      if (kind is float and type(value) is int) or (kind is tuple and type(value) is list):  # pylint: disable=unidiomatic-typecheck
        object.__setattr__(self, field.name, kind(value))
    check(self)

  @property
  def augmentation(self):
    from pl_jax import augment  # pylint: disable=g-import-not-at-top  (JAX: only when used)
    return augment.Augmentation(self.max_shift, self.max_degrees, self.max_scale)


def check(config: Config) -> None:
  """Raises ConfigError naming the first setting whose value is not allowed."""
  for field in dataclasses.fields(config):
    value, kind = getattr(config, field.name), type(field.default)
    if type(value) is not kind:  # pylint: disable=unidiomatic-typecheck
      raise ConfigError(f'{field.name} must be a {kind.__name__}, got {value!r}')
    if value not in field.metadata['allowed']:
      shown = ','.join(value) if kind is tuple else repr(value)
      raise ConfigError(f'{field.name} must be {field.metadata["allowed"]}, got {shown}')
  if config.batch_size % config.batch_splits:
    raise ConfigError(f'batch_size ({config.batch_size}) must split into batch_splits='
                      f'{config.batch_splits} equal parts')


def make(**settings) -> Config:
  """Config(**settings), refusing an unknown name with one line (ConfigError)."""
  unknown = sorted(set(settings) - names())
  if unknown:
    raise ConfigError(f'unknown setting {", ".join(unknown)}; the settings are '
                      f'{", ".join(sorted(names()))}')
  return Config(**settings)


def names() -> set[str]:
  return {field.name for field in dataclasses.fields(Config)}


# Settings since removed, with the one behaviour pl_jax kept: a run that
# recorded that value ran as pl_jax runs now, so it may be resumed.
REMOVED = {'lr_schedule': 'constant'}  # Removed 2026-12-05 (BENCHMARKS.md).


def without_removed(recorded: dict) -> dict:
  """A recorded run's settings less the removed ones it ran as pl_jax now
  always does (REMOVED); a removed setting recorded with another value stays,
  so that run is not taken for one of today's."""
  return {name: value for name, value in recorded.items()
          if not (name in REMOVED and value == REMOVED[name])}


def fields_of(group: str) -> list[dataclasses.Field]:
  return [f for f in dataclasses.fields(Config) if f.metadata['group'] == group]
