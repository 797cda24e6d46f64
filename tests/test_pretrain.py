"""Contrastive pretraining: the loss, the layers it hands on, and the loop's use of it."""

import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pl_jax import config as config_lib
from pl_jax import loop, models, pretrain, train


def test_nt_xent_of_perfect_twins_matches_the_formula():
  # 4 images, 2 views each: twins identical, everything else orthogonal.
  basis = jnp.eye(8)[:4] * 3.0  # Any length: the loss is on cosine similarity.
  projections = jnp.concatenate([basis, basis])
  n, logit = 8, 1 / pretrain.TEMPERATURE
  expected = -np.log(np.exp(logit) / (np.exp(logit) + (n - 2)))
  loss = pretrain.nt_xent(projections)
  chex.assert_shape(loss, ())
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  # Pairing each view with another image's twin costs more.
  swapped = jnp.concatenate([basis, basis[::-1]])
  assert pretrain.nt_xent(swapped) > loss + 1.0


def test_projection_head_and_features_shapes():
  model = models.CNN()
  state = pretrain.init_state(jax.random.PRNGKey(0), model, (28, 28, 1))
  views = jnp.zeros((2 * 4, 28, 28, 1), jnp.uint8)
  chex.assert_shape(model.apply({'params': state.params['cnn']}, views, features=True),
                    (8, 128))
  chex.assert_shape(pretrain.embed(model, state.params, views, splits=4),
                    (8, pretrain.PROJECTION[-1]))


def test_a_fresh_model_starts_from_the_pretrained_layers():
  model, optimizer = models.CNN(), train.make_optimizer(1e-3)
  plain = train.create_train_state(jax.random.PRNGKey(0), model, (28, 28, 1), optimizer)
  other = train.create_train_state(jax.random.PRNGKey(1), model, (28, 28, 1), optimizer)
  pretrained = {name: other.params[name] for name in pretrain.CARRIED}
  state = train.create_train_state(jax.random.PRNGKey(0), model, (28, 28, 1), optimizer,
                                   ema_decay=0.999, pretrained=pretrained)
  for name in pretrain.CARRIED:
    chex.assert_trees_all_equal(state.params[name], other.params[name])
    chex.assert_trees_all_equal(state.ema_params[name], other.params[name])
  chex.assert_trees_all_equal(state.params['fc2'], plain.params['fc2'])  # Fresh.


@pytest.mark.slow
def test_pretraining_learns_reproducibly_without_labels(small_mnist):
  model = models.CNN(pixel_mean=small_mnist.pixel_mean, pixel_std=small_mnist.pixel_std)
  images = jnp.asarray(small_mnist.train_images)
  members = jnp.arange(1000, dtype=jnp.int32)
  run = lambda: pretrain.pretrain(jax.random.PRNGKey(0), model, images, members, steps=60,
                                  splits=2, progress=False)
  (params, losses), (again, _) = run(), run()
  assert sorted(params) == sorted(pretrain.CARRIED)
  fresh = model.init(jax.random.PRNGKey(0), images[:1])['params']
  chex.assert_trees_all_equal_shapes(params, {k: fresh[k] for k in pretrain.CARRIED})
  chex.assert_trees_all_equal(params, again)  # Same key, same layers.
  assert len(losses) == 2 and all(np.isfinite(losses))
  assert losses[-1] < losses[0]  # It learns to tell twins apart.


@pytest.mark.slow
def test_the_loop_pretrains_on_the_training_images_not_held_out(small_mnist):
  config = config_lib.make(n_labeled=20, stratified=True, validation=500, iterations=1,
                           min_steps=5, final_epochs=1, batch_size=32, batch_splits=1,
                           score_views=0, pretrain_steps=5)
  result = loop.self_train(small_mnist, config, progress=False, log=lambda _: None)
  pretraining = result.record['pretraining']
  assert pretraining['steps'] == 5 and pretraining['images'] == 2000 - 500
  assert np.isfinite(pretraining['last_loss'])
  plain = loop.self_train(small_mnist, dataclasses.replace(config, pretrain_steps=0),
                          progress=False, log=lambda _: None)
  assert 'pretraining' not in plain.record
  assert (result.record['iterations'][0]['final_loss']
          != plain.record['iterations'][0]['final_loss'])
