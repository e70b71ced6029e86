"""Bad input is refused with an error that names the problem."""

import warnings

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
        (dict(ent_coef="auto"), "ent_coef='auto': QVPO has no automatic entropy tuning"),
        (dict(weight_transform="exp", weight_transform_kwargs={"beta": -1.0}), "exp transform's beta must be > 0"),
        (dict(weight_transform="cut", weight_transform_kwargs={"c": -0.5}), "cut transform's c must be >= 0"),
        (dict(tau=1.5), r"tau must be in \(0, 1\]"),
        (dict(tau=0.0), r"tau must be in \(0, 1\]"),
        (dict(gamma=1.01), r"gamma must be in \[0, 1\]"),
        (dict(n_steps=0), "n_steps must be a positive integer, got 0"),
        (dict(policy_kwargs={"net_arch": [0]}), "every net_arch layer size must be a positive integer, got 0"),
        (dict(policy_kwargs={"net_arch": {"pi": [64], "qf": [64, -1]}}), "must be a positive integer, got -1"),
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


class DictObservationEnv(gym.Env):
    observation_space = spaces.Dict({"x": spaces.Box(-1, 1, shape=(2,), dtype=np.float32)})
    action_space = spaces.Box(-1, 1, shape=(1,), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        return {"x": np.zeros(2, dtype=np.float32)}, {}

    def step(self, action):
        return {"x": np.zeros(2, dtype=np.float32)}, 0.0, True, False, {}


@pytest.mark.parametrize("policy", ["DiffusionPolicy", "MlpPolicy"])
def test_box_policy_with_dict_observations_is_refused(policy):
    with pytest.raises(
        ValueError, match=f"You must use `MultiInputPolicy` when working with dict observation space, not {policy}"
    ):
        QVPO(policy, DictObservationEnv())
    QVPO("MultiInputPolicy", DictObservationEnv(), buffer_size=100)  # the right one is accepted


def test_loading_another_algorithms_model_is_refused(tmp_path):
    from stable_baselines3 import SAC

    SAC("MlpPolicy", "Pendulum-v1", buffer_size=100).save(tmp_path / "sac")
    with pytest.raises(ValueError, match="QVPO needs a DiffusionPolicy, got SACPolicy: is this a model saved by another"):
        QVPO.load(tmp_path / "sac")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_observations_give_an_error_not_a_nan_action(tiny, bad):
    model = QVPO("DiffusionPolicy", "Pendulum-v1", **tiny())
    obs = np.array([[0.1, 0.2, bad], [0.0, 0.0, 0.0]], dtype=np.float32)
    for deterministic in (True, False):
        with pytest.raises(ValueError, match="the observation contains NaN or infinite values"):
            model.predict(obs, deterministic=deterministic)


def test_learn_within_learning_starts_warns(tiny):
    model = QVPO("DiffusionPolicy", "Pendulum-v1", **tiny(learning_starts=100))
    with pytest.warns(UserWarning, match=r"learn\(60\) ends at step 60, within the learning_starts=100"):
        model.learn(60)
    # a later call that passes learning_starts trains, and says nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.learn(60, reset_num_timesteps=False)
    assert model._n_updates > 0
    # a run whose updates never come for another reason is told so at its end
    model = QVPO("DiffusionPolicy", "Pendulum-v1", gradient_steps=0, **tiny(learning_starts=10))
    with pytest.warns(UserWarning, match="ended at step 100 without a single gradient update"):
        model.learn(100)
