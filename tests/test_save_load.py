"""Everything needed to continue training survives save/load."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th

from sb3_qvpo import QVPO, DiffusionPolicy


def _assert_state_dicts_equal(first, second):
    assert first.keys() == second.keys()
    for key in first:
        th.testing.assert_close(first[key], second[key], rtol=0, atol=0)


def test_save_load_round_trip(tiny, tmp_path):
    model = QVPO(
        "DiffusionPolicy",
        "Pendulum-v1",
        seed=0,
        **tiny(weight_transform="exp", weight_transform_kwargs={"rate": 0.1}, ent_coef=0.05, ent_coef_min=0.01),
    )
    model.learn(200)
    obs = np.stack([model.observation_space.sample() for _ in range(8)])
    before, _ = model.predict(obs, deterministic=True)
    model.save(tmp_path / "qvpo")

    loaded = QVPO.load(tmp_path / "qvpo", env=model.get_env())
    after, _ = loaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(before, after)

    _assert_state_dicts_equal(model.policy.state_dict(), loaded.policy.state_dict())
    _assert_state_dicts_equal(model.q_weighting.state_dict(), loaded.q_weighting.state_dict())
    assert loaded.q_weighting.running_mean.item() != 0.0
    for name in ("actor", "critic"):
        saved = getattr(model, name).optimizer.state_dict()
        restored = getattr(loaded, name).optimizer.state_dict()
        assert saved["param_groups"][0]["lr"] == restored["param_groups"][0]["lr"]
        for index, state in saved["state"].items():
            th.testing.assert_close(state["exp_avg"], restored["state"][index]["exp_avg"])
    # targets are part of the policy and restored with it
    assert loaded.actor_target is loaded.policy.actor_target
    _assert_state_dicts_equal(model.actor_target.state_dict(), loaded.actor_target.state_dict())
    # QVPO's own settings and the entropy-coefficient progress
    assert loaded.n_diffusion_steps == 3 and loaded.weight_transform == "exp"
    assert loaded._current_progress_remaining == model._current_progress_remaining
    assert loaded.ent_coef_schedule(0.5) == model.ent_coef_schedule(0.5)

    # training continues from where it stopped
    loaded.learn(100, reset_num_timesteps=False)
    assert loaded.num_timesteps == 300


def test_replay_buffer_save_load(tiny, tmp_path):
    model = QVPO("DiffusionPolicy", "Pendulum-v1", seed=0, **tiny())
    model.learn(120)
    model.save_replay_buffer(tmp_path / "buffer")
    other = QVPO("DiffusionPolicy", "Pendulum-v1", seed=1, **tiny())
    other.load_replay_buffer(tmp_path / "buffer")
    assert other.replay_buffer.size() == model.replay_buffer.size() == 120
    np.testing.assert_array_equal(other.replay_buffer.observations, model.replay_buffer.observations)


def test_policy_save_load(tiny, tmp_path):
    model = QVPO("DiffusionPolicy", "Pendulum-v1", seed=0, **tiny(n_eval_candidates=6))
    model.learn(100)
    model.policy.save(tmp_path / "policy.pth")
    policy = DiffusionPolicy.load(tmp_path / "policy.pth")
    assert policy.n_eval_candidates == 6 and policy.n_diffusion_steps == 3
    obs = np.stack([model.observation_space.sample() for _ in range(5)])
    np.testing.assert_array_equal(policy.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])


def test_policy_settings_have_one_owner(tmp_path, tiny):
    """n_eval_candidates and n_behavior_candidates live in the policy: QVPO reads and sets them there."""
    model = QVPO("DiffusionPolicy", "Pendulum-v1", **tiny(n_eval_candidates=4, n_behavior_candidates=2))
    assert model.n_eval_candidates == model.policy.n_eval_candidates == 4
    model.n_eval_candidates = 6
    assert model.policy.n_eval_candidates == 6 and model.policy.eval_noise(1).shape[1] == 6
    model.save(tmp_path / "model")
    assert QVPO.load(tmp_path / "model").policy.n_eval_candidates == 6

    loaded = QVPO.load(tmp_path / "model", n_eval_candidates=64, n_behavior_candidates=3, n_diffusion_steps=3)
    assert loaded.policy.n_eval_candidates == 64 and loaded.policy.n_behavior_candidates == 3
    assert loaded.policy.eval_noise(2).shape[1] == 2 * 64
    with pytest.raises(ValueError, match="n_diffusion_steps=5 differs from the loaded model's 3"):
        QVPO.load(tmp_path / "model", n_diffusion_steps=5)
    with pytest.raises(ValueError, match="n_eval_candidates must be a positive integer, got 0"):
        model.n_eval_candidates = 0
    with pytest.raises(AttributeError):
        model.n_diffusion_steps = 4  # type: ignore[misc]


def test_acting_settings_change_after_training_and_at_load(tmp_path, tiny):
    """A model trained with T = 6 acts with DDIM S = 2 and bfloat16 when told so, live or at load, and only then."""
    model = QVPO("DiffusionPolicy", "Pendulum-v1", seed=0, **tiny(n_diffusion_steps=6, policy_kwargs=dict(net_arch=[32])))
    model.learn(100)
    model.save(tmp_path / "model")
    obs = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    exact = model.predict(obs, deterministic=True)[0]

    loaded = QVPO.load(tmp_path / "model", n_sampling_steps=2, sampling_eta=0.0, sampling_dtype="bfloat16")
    assert (loaded.n_sampling_steps, loaded.sampling_eta, loaded.sampling_dtype) == (2, 0.0, "bfloat16")
    for actor in (loaded.actor, loaded.actor_target):
        assert actor.reverse_schedule.timesteps == (0, 5) and actor.reverse_schedule.eta == 0.0
        assert actor.sampler.dtype == th.bfloat16
    fewer = loaded.predict(obs, deterministic=True)[0]
    assert not np.allclose(fewer, exact, atol=1e-3)

    # the same change on the live model gives the same actions; undoing it gives back the exact sampler's
    model.set_acting_settings(n_sampling_steps=2, sampling_eta=0.0, sampling_dtype="bfloat16")
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], fewer)
    model.n_sampling_steps, model.sampling_eta, model.sampling_dtype = None, 1.0, "float32"
    assert model.actor.reverse_schedule.n_steps == 6
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], exact)

    # saved with the model; training goes on with them
    loaded.save(tmp_path / "fewer")
    again = QVPO.load(tmp_path / "fewer", env=gym.make("Pendulum-v1"))
    assert again.n_sampling_steps == 2 and again.policy.acting == loaded.policy.acting
    np.testing.assert_array_equal(again.predict(obs, deterministic=True)[0], fewer)
    again.learn(20, reset_num_timesteps=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_sampling_step=2), r"unknown keyword\(s\) \['n_sampling_step'\]"),
        (dict(sampling_dtypes="bfloat16", n_eval=3), r"unknown keyword\(s\) \['n_eval', 'sampling_dtypes'\]"),
        (dict(n_sampling_steps=7), r"n_sampling_steps must be between 1 and n_diffusion_steps \(6\), got 7"),
        (dict(sampling_dtype="float16"), "Unknown sampling_dtype 'float16'"),
        (dict(beta_schedule="linear"), "beta_schedule='linear' differs from the loaded model's 'cosine'"),
    ],
)
def test_load_refuses_unknown_keywords_and_bad_acting_settings(tmp_path, tiny, kwargs, message):
    QVPO("DiffusionPolicy", "Pendulum-v1", **tiny(n_diffusion_steps=6)).save(tmp_path / "model")
    with pytest.raises(ValueError, match=message):
        QVPO.load(tmp_path / "model", **kwargs)


def test_every_acting_setting_is_a_property_of_the_model_and_the_policy():
    from sb3_qvpo.acting import ACTING_SETTINGS

    for name in ACTING_SETTINGS:
        assert isinstance(getattr(QVPO, name), property) and getattr(QVPO, name).fset is not None, name
        assert isinstance(getattr(DiffusionPolicy, name), property), name


def test_acting_settings_are_one_record(tiny):
    model = QVPO("DiffusionPolicy", "Pendulum-v1", **tiny(policy_kwargs=dict(net_arch=[16], sampling_eta=0.5)))
    assert model.actor.acting is model.actor_target.acting is model.policy.acting
    assert model.policy.sampling_eta == model.sampling_eta == 0.5
    with pytest.raises(AttributeError):
        model.policy.sampling_eta = 0.1  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"Unknown acting setting\(s\) \['n_steps'\]"):
        model.set_acting_settings(n_steps=3)
    with pytest.raises(ValueError, match="sampling_eta must be a number between 0"):
        model.sampling_eta = 2.0
    assert model.policy.acting.sampling_eta == 0.5  # a refused change leaves the settings as they were
