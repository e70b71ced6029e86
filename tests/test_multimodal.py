"""The multimodal task, the coverage criterion, and whether QVPO keeps several optima."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th

import sb3_qvpo.envs  # noqa: F401  (registers the tasks)
from sb3_qvpo import QVPO
from sb3_qvpo.envs import MultimodalBanditEnv, mode_shares

RADIUS = 0.3  # two bump widths
MIN_SHARE = 0.15  # a "non-trivial share" of the samples


def n_covered(actions: np.ndarray, optima: np.ndarray) -> int:
    """How many optima receive at least MIN_SHARE of the sampled actions."""
    return int((mode_shares(actions, optima, RADIUS) >= MIN_SHARE).sum())


def test_optima_are_equal_and_well_separated():
    env = gym.make("sb3_qvpo/MultimodalBandit-v0").unwrapped
    assert isinstance(env, MultimodalBanditEnv)
    np.testing.assert_allclose(env.reward(env.optima), 1.0)
    distances = np.linalg.norm(env.optima[:, None] - env.optima[None], axis=-1)
    assert distances[~np.eye(len(env.optima), dtype=bool)].min() >= 8 * env.width  # far apart compared with their width
    assert env.reward(np.zeros(2)) < 1e-6  # almost nothing between them
    env.reset(seed=0)
    _, reward, terminated, truncated, _ = env.step(env.optima[1])
    assert reward == pytest.approx(1.0) and terminated and not truncated
    with pytest.raises(ValueError, match="optima"):
        MultimodalBanditEnv(optima=((2.0, 0.0), (0.0, 0.0)))


def test_coverage_criterion_can_fail():
    env = gym.make("sb3_qvpo/MultimodalBandit-v0").unwrapped
    rng = np.random.default_rng(0)
    near = [optimum + 0.05 * rng.standard_normal((250, 2)) for optimum in env.optima]
    assert n_covered(np.concatenate(near), env.optima) == 4
    assert n_covered(np.concatenate(near[:2]), env.optima) == 2
    assert n_covered(near[0], env.optima) == 1  # one mode only
    assert n_covered(rng.uniform(-1, 1, (1000, 2)), env.optima) == 0  # spread out, near no optimum
    # an untrained diffusion policy does not meet it either
    model = QVPO("DiffusionPolicy", env, n_diffusion_steps=5, policy_kwargs=dict(net_arch=[64, 64]), seed=0)
    assert n_covered(model.actor.sample(th.zeros(1, 1), 1000)[0].numpy(), env.optima) == 0


@pytest.mark.expensive
def test_qvpo_keeps_several_optima_online():
    """
    The paper's claim (b) on this task: QVPO trained online, with small settings, ends with a diffusion policy
    whose samples reach at least two of the four optima, each with a non-trivial share. The settings that do
    this keep every candidate, weighted by its Q-value (``relu``), with a 10-step linear schedule and a constant
    entropy coefficient of 0.1 (README, Evidence: multimodality; with the paper's clipped advantage and best
    candidate only, one optimum wins).
    """
    env = gym.make("sb3_qvpo/MultimodalBandit-v0")
    model = QVPO(
        "DiffusionPolicy",
        env,
        learning_starts=1000,
        batch_size=128,
        learning_rate=3e-3,
        actor_learning_rate=1e-3,
        n_diffusion_steps=10,
        beta_schedule="linear",
        n_train_candidates=16,
        n_kept_candidates=16,
        n_eval_candidates=16,
        weight_transform="relu",
        ent_coef=0.1,
        ent_coef_min=0.1,
        policy_kwargs=dict(net_arch=[64, 64]),
        seed=0,
    )
    model.learn(4000)
    actions = model.actor.sample(th.zeros(1, 1), 1000)[0].numpy()
    shares = mode_shares(actions, env.unwrapped.optima, RADIUS)
    # a uniform policy puts ~7% of its samples near each optimum, a policy on one optimum covers one
    assert n_covered(actions, env.unwrapped.optima) >= 2, f"QVPO did not keep two optima: {shares}"
