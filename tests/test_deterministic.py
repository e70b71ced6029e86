"""Seeded runs repeat exactly; predict(deterministic=True) is a function of the observation."""

import numpy as np
import torch as th

from sb3_qvpo import QVPO


def test_same_seed_same_run(tiny):
    params, actions = [], []
    for _ in range(2):
        model = QVPO("DiffusionPolicy", "Pendulum-v1", seed=3, **tiny())
        model.learn(150)
        params.append(model.policy.state_dict())
        actions.append(model.predict(np.ones((4, 3), dtype=np.float32), deterministic=False)[0])
    for key in params[0]:
        th.testing.assert_close(params[0][key], params[1][key], rtol=0, atol=0)
    np.testing.assert_array_equal(actions[0], actions[1])


def test_deterministic_prediction_is_a_function_of_the_observation(tiny):
    model = QVPO("DiffusionPolicy", "Pendulum-v1", seed=0, **tiny(n_eval_candidates=8))
    model.learn(100)
    obs = np.stack([model.observation_space.sample() for _ in range(6)])
    batch, _ = model.predict(obs, deterministic=True)
    # same observations, same actions, whatever the global random state and the batch around them
    th.manual_seed(123)
    np.testing.assert_array_equal(batch, model.predict(obs, deterministic=True)[0])
    single = np.stack([model.predict(o, deterministic=True)[0] for o in obs])
    np.testing.assert_allclose(batch, single, atol=1e-6)
    # the behaviour policy is stochastic
    stochastic = np.stack([model.predict(obs[0], deterministic=False)[0] for _ in range(20)])
    assert np.unique(stochastic.round(6)).size > 1
