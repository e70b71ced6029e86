"""QVPO must actually learn: a continuous bandit solved to near-optimal reward."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th

import sb3_qvpo.envs  # noqa: F401  (registers the tasks)
from sb3_qvpo import QVPO


@pytest.mark.expensive
def test_solves_continuous_bandit():
    env = gym.make("sb3_qvpo/ContinuousBandit-v0", target=(0.5, -0.3))
    model = QVPO(
        "DiffusionPolicy",
        env,
        learning_starts=200,
        batch_size=64,
        n_diffusion_steps=5,
        n_train_candidates=16,
        n_eval_candidates=16,
        learning_rate=1e-3,
        actor_learning_rate=1e-3,
        policy_kwargs=dict(net_arch=[64, 64]),
        seed=0,
    )
    obs, _ = env.reset(seed=0)
    random_reward = np.mean([env.step(env.action_space.sample())[1] for _ in range(500)])
    model.learn(2000)
    action, _ = model.predict(obs, deterministic=True)
    reward = env.step(action)[1]
    behaviour_rewards = [env.step(model.predict(obs, deterministic=False)[0])[1] for _ in range(100)]
    # the diffusion policy itself, without best-of-K selection by the critic
    policy_actions = model.actor.sample(th.zeros(1, 1), 200)[0].numpy()
    policy_reward = np.mean(1 - np.sum((policy_actions - env.unwrapped.target) ** 2, axis=1))
    behaviour_reward = np.mean(behaviour_rewards)
    print(f"random {random_reward:.3f}, policy {policy_reward:.3f}, behaviour {behaviour_reward:.3f}, eval {reward:.3f}")
    assert random_reward < 0.5
    assert policy_reward > 0.9
    assert behaviour_reward > 0.95
    assert reward > 0.97
