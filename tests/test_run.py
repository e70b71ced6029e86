"""learn() in the settings SB3 users rely on, and what it logs."""

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import BitFlippingEnv
from stable_baselines3.common.logger import configure
from stable_baselines3.common.torch_layers import FlattenExtractor

from sb3_qvpo import QVPO, DiffusionPolicy, MultiInputPolicy


def test_policy_aliases():
    assert QVPO.policy_aliases["DiffusionPolicy"] is DiffusionPolicy
    assert QVPO.policy_aliases["MlpPolicy"] is DiffusionPolicy
    assert QVPO.policy_aliases["MultiInputPolicy"] is MultiInputPolicy


def test_paper_defaults():
    model = QVPO("DiffusionPolicy", "Pendulum-v1", buffer_size=1000)
    assert (model.n_diffusion_steps, model.beta_schedule) == (20, "cosine")
    assert (model.n_train_candidates, model.n_kept_candidates, model.n_uniform_samples) == (64, 1, 10)
    assert (model.n_behavior_candidates, model.n_target_candidates, model.n_eval_candidates) == (4, 4, 32)
    assert (model.batch_size, model.gamma, model.tau, model.learning_starts) == (256, 0.99, 0.005, 10_000)
    assert model.learning_rate == 3e-4 and model.actor_learning_rate == 1e-4
    assert model.max_grad_norm == 2.0 and model.weight_transform == "advantage"
    assert model.ent_coef_schedule(1.0) == 0.02 and model.ent_coef_schedule(0.0) == pytest.approx(0.002)
    assert model.actor.optimizer.defaults["eps"] == 1e-5 and model.critic.optimizer.defaults["eps"] == 1e-5
    hidden = [layer.out_features for layer in model.actor.noise_net.hidden]
    assert hidden == [256, 256, 256]
    assert [m.out_features for m in model.critic.qf0 if hasattr(m, "out_features")] == [256, 256, 256, 1]
    assert model.critic.n_critics == 2
    assert model.actor.noise_net.time_dim == 32


@pytest.mark.parametrize("n_envs", [1, 2])
def test_learn_pendulum(tiny, n_envs):
    env = make_vec_env("Pendulum-v1", n_envs=n_envs, seed=0)
    model = QVPO("DiffusionPolicy", env, seed=0, **tiny())
    model.learn(200)
    assert model.num_timesteps == 200
    assert model._n_updates > 0


def test_learn_dict_observations(tiny):
    env = BitFlippingEnv(n_bits=4, continuous=True, max_steps=8)
    model = QVPO("MultiInputPolicy", env, seed=0, **tiny())
    model.learn(150)
    obs, _ = env.reset()
    action, _ = model.predict(obs, deterministic=True)
    assert action.shape == env.action_space.shape and env.action_space.contains(action)


def test_learn_n_step_and_train_freq(tiny):
    model = QVPO("MlpPolicy", "Pendulum-v1", n_steps=3, train_freq=(1, "episode"), gradient_steps=-1, seed=0, **tiny())
    model.learn(400)
    assert model.replay_buffer.__class__.__name__ == "NStepReplayBuffer"
    assert model._n_updates > 0


@pytest.mark.expensive
def test_logged_metrics(tiny, tmp_path):
    model = QVPO("DiffusionPolicy", "Pendulum-v1", seed=0, **tiny(learning_starts=100, n_uniform_samples=3))
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(800, log_interval=1)
    progress = pd.read_csv(tmp_path / "progress.csv")
    for key in [
        "train/critic_loss",
        "train/actor_loss",
        "train/entropy_coef",
        "train/mean_weight",
        "train/q_mean",
        "train/n_updates",
        "train/learning_rate",
        "train/actor_learning_rate",
        "rollout/ep_rew_mean",
    ]:
        assert key in progress.columns, key
    logged = progress.dropna(subset=["train/critic_loss"])
    assert np.all(np.isfinite(logged["train/actor_loss"]))
    assert np.all(logged["train/mean_weight"] >= 0)
    # entropy coefficient decays with training progress
    assert logged["train/entropy_coef"].is_monotonic_decreasing
    assert logged["train/entropy_coef"].iloc[-1] < logged["train/entropy_coef"].iloc[0]


def logged_entropy_coefs(model: QVPO, log_dir, timesteps: int) -> pd.Series:
    """train/entropy_coef at every step of model.learn(timesteps), indexed by the step."""
    model.set_logger(configure(str(log_dir), ["csv"]))
    model.learn(timesteps, log_interval=1)
    logged = pd.read_csv(log_dir / "progress.csv").dropna(subset=["train/entropy_coef"])
    return logged.set_index("time/total_timesteps")["train/entropy_coef"]


def test_entropy_coefficient_horizon_in_steps(tiny, tmp_path):
    """With ent_coef_decay_steps, lambda follows num_timesteps / horizon, whatever learn()'s budget."""
    settings = tiny(learning_starts=20, ent_coef=0.02, ent_coef_min=0.002, ent_coef_decay_steps=400)
    # episodes of 50 steps, so that an episode-end log line comes every 50 steps
    env = gym.wrappers.TimeLimit(gym.make("Pendulum-v1").unwrapped, max_episode_steps=50)
    short = logged_entropy_coefs(QVPO("DiffusionPolicy", env, seed=0, **settings), tmp_path / "short", 200)
    long = logged_entropy_coefs(QVPO("DiffusionPolicy", env, seed=0, **settings), tmp_path / "long", 600)
    assert len(short) >= 3 and len(long) >= 10
    for step, coef in long.items():
        # the line logged at the end of an episode holds the update made one step before
        assert coef == pytest.approx(max(0.002, 0.02 * (1 - (step - 1) / 400)))
    pd.testing.assert_series_equal(short, long.loc[short.index])
    # without a horizon, the same steps give a lambda that depends on the budget
    budget = logged_entropy_coefs(
        QVPO("DiffusionPolicy", env, seed=0, **{**settings, "ent_coef_decay_steps": None}), tmp_path / "budget", 200
    )
    assert budget.iloc[-1] == pytest.approx(max(0.002, 0.02 * (1 - (budget.index[-1] - 1) / 200)))
    assert budget.iloc[-1] < short.iloc[-1]


def test_box_actions_are_rescaled_to_the_bounds(tiny):
    env = gym.wrappers.RescaleAction(gym.make("Pendulum-v1"), min_action=10.0, max_action=20.0)
    model = QVPO("DiffusionPolicy", env, seed=0, **tiny())
    model.learn(60)
    obs = np.stack([env.observation_space.sample() for _ in range(50)])
    for deterministic in (True, False):
        actions, _ = model.predict(obs, deterministic=deterministic)
        assert actions.shape == (50, 1)
        assert np.all((actions >= 10.0) & (actions <= 20.0))


class CountingExtractor(FlattenExtractor):
    """A flatten extractor that counts the observation rows it processes."""

    def __init__(self, observation_space: gym.spaces.Box):
        super().__init__(observation_space)
        self.rows = 0

    def forward(self, observations):
        self.rows += len(observations)
        return super().forward(observations)


class BatchNormExtractor(FlattenExtractor):
    """Flattened observations through a BatchNorm1d: running statistics that are not parameters."""

    def __init__(self, observation_space: gym.spaces.Box):
        super().__init__(observation_space)
        self.norm = th.nn.BatchNorm1d(self.features_dim)

    def forward(self, observations):
        return self.norm(super().forward(observations))


def test_batch_norm_statistics_reach_the_targets(tiny):
    """As in SAC and TD3: the running statistics are copied to the targets at every update (not Polyak-averaged)."""
    model = QVPO(
        "DiffusionPolicy", "Pendulum-v1", seed=0,
        **tiny(policy_kwargs=dict(net_arch=[16], features_extractor_class=BatchNormExtractor)),
    )  # fmt: skip
    model.learn(80)
    assert model._n_updates > 0
    for online, target in ((model.critic, model.critic_target), (model.actor, model.actor_target)):
        mean, target_mean = online.features_extractor.norm.running_mean, target.features_extractor.norm.running_mean
        assert not th.allclose(mean, th.zeros_like(mean))
        th.testing.assert_close(target_mean, mean, rtol=0, atol=0)
        th.testing.assert_close(target.features_extractor.norm.running_var, online.features_extractor.norm.running_var)


def test_one_update_extracts_features_once_per_state(tiny):
    """Candidates and the actor loss repeat each state's features, not its observation (cheap for CNN or Dict inputs)."""
    batch_size = 16
    model = QVPO(
        "DiffusionPolicy",
        "Pendulum-v1",
        seed=0,
        **tiny(batch_size=batch_size, n_train_candidates=8, n_uniform_samples=10, policy_kwargs=dict(
            net_arch=[16], features_extractor_class=CountingExtractor
        )),
    )  # fmt: skip
    model.learn(tiny()["learning_starts"])  # random steps only: fills the buffer, no update
    extractors = [model.actor.features_extractor, model.critic.features_extractor]
    extractors += [model.actor_target.features_extractor, model.critic_target.features_extractor]
    for extractor in extractors:
        extractor.rows = 0
    model.train(gradient_steps=1, batch_size=batch_size)
    rows = [extractor.rows for extractor in extractors]
    assert all(0 < n <= 3 * batch_size for n in rows), rows
