"""Bad input is refused with an error that names the problem."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from sb3_qvpo import QVPO


class SpaceEnv(gym.Env):
    def __init__(self, action_space: spaces.Space):
        self.observation_space = spaces.Box(-1, 1, shape=(2,), dtype=np.float32)
        self.action_space = action_space

    def reset(self, *, seed=None, options=None):
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(2, dtype=np.float32), 0.0, True, False, {}


@pytest.mark.parametrize(
    "action_space",
    [spaces.Discrete(3), spaces.MultiDiscrete([2, 3]), spaces.MultiBinary(4)],
    ids=["Discrete", "MultiDiscrete", "MultiBinary"],
)
def test_non_box_action_spaces(action_space):
    with pytest.raises(ValueError, match=f"needs a continuous Box action space, got {type(action_space).__name__}"):
        QVPO("DiffusionPolicy", SpaceEnv(action_space))


def test_infinite_action_bounds():
    with pytest.raises(ValueError, match="needs finite action bounds"):
        QVPO("DiffusionPolicy", SpaceEnv(spaces.Box(-np.inf, np.inf, shape=(2,))))
    with pytest.raises(ValueError, match="needs finite action bounds"):
        QVPO("DiffusionPolicy", SpaceEnv(spaces.Box(np.array([-1.0, -1.0]), np.array([1.0, np.inf]))))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(weight_transform="softmax"), "Unknown weight_transform 'softmax'"),
        (dict(beta_schedule="quadratic"), "Unknown beta_schedule 'quadratic'"),
        (dict(n_diffusion_steps=0), "n_diffusion_steps must be a positive integer, got 0"),
        (dict(n_train_candidates=-4), "n_train_candidates must be a positive integer, got -4"),
        (dict(n_kept_candidates=0), "n_kept_candidates must be a positive integer"),
        (dict(n_behavior_candidates=0), "n_behavior_candidates must be a positive integer"),
        (dict(n_target_candidates=0), "n_target_candidates must be a positive integer"),
        (dict(n_eval_candidates=0), "n_eval_candidates must be a positive integer"),
        (dict(n_train_candidates=2.5), "n_train_candidates must be a positive integer, got 2.5"),
        (dict(n_uniform_samples=-1), "n_uniform_samples must be a non-negative integer"),
        (dict(batch_size=0), "batch_size must be a positive integer"),
        (dict(n_kept_candidates=8, n_train_candidates=4), r"n_kept_candidates \(8\) cannot exceed n_train_candidates \(4\)"),
        (dict(ent_coef=-0.1), "ent_coef must be a finite float >= 0"),
        (dict(ent_coef=float("nan")), "ent_coef must be a finite float >= 0"),
        (dict(ent_coef=0.01, ent_coef_min=0.02), r"ent_coef_min must be in \[0, ent_coef\]"),
        (dict(ent_coef_decay_steps=0), "ent_coef_decay_steps must be a positive integer, got 0"),
        (dict(ent_coef_decay_steps=1e6), "ent_coef_decay_steps must be a positive integer, got 1000000.0"),
        (dict(max_grad_norm=0.0), "max_grad_norm must be > 0"),
        (dict(weight_transform="cut", weight_transform_kwargs={"q_neg": 1}), r"Unknown argument\(s\) \['q_neg'\]"),
        (dict(policy_kwargs={"n_diffusion_steps": 5}), "Pass 'n_diffusion_steps' to QVPO directly"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QVPO("DiffusionPolicy", "Pendulum-v1", buffer_size=100, **kwargs)


def test_non_finite_loss_stops_training(tiny):
    env = gym.wrappers.TransformReward(gym.make("Pendulum-v1"), lambda reward: float("nan"))
    model = QVPO("DiffusionPolicy", env, **tiny(learning_starts=20))
    with pytest.raises(RuntimeError, match=r"the critic loss is nan at update 1"):
        model.learn(40)
