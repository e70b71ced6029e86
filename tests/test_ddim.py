"""Fewer-step sampling (DDIM, Song et al. 2021): equal to DDPM at S = T, eta = 1; eq. 12 on a known denoiser."""

import numpy as np
import pytest
import torch as th
from golden_ddpm import ddpm_ancestral_sample

from sb3_qvpo import QVPO
from sb3_qvpo.diffusion import GaussianDiffusion, ddim_coefficients, make_beta_schedule, sampling_timesteps
from sb3_qvpo.fast.sampler import CandidateSampler, PlainSampler, draw_sampling_noise
from sb3_qvpo.networks import NoisePredictionNet


@pytest.mark.parametrize("beta_schedule", ["cosine", "linear", "vp"])
def test_ddim_with_every_step_and_eta_one_is_the_ddpm_sampler(beta_schedule):
    th.manual_seed(0)
    diffusion = GaussianDiffusion(10, beta_schedule)
    net = NoisePredictionNet(2, 4, [32, 32])
    state = th.randn(6, 4).repeat_interleave(5, dim=0)
    noise = th.randn(11, 30, 2)

    def noise_fn(x, t):
        return net(x, th.full((len(x),), t, dtype=th.long), state)

    with th.no_grad():
        ddpm = ddpm_ancestral_sample(beta_schedule, 10, noise_fn, noise)
        ddim = diffusion.sample(noise_fn, noise, diffusion.reverse_schedule(10, eta=1.0))
    th.testing.assert_close(ddim, ddpm, rtol=0, atol=1e-5)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("n_sampling_steps", [1, 4, 7])
def test_ddim_fewer_steps_follows_eq_12_on_gaussian_data(eta, n_sampling_steps):
    """
    For data x0 ~ N(0, s^2) the optimal denoiser is known in closed form, eps*(x_t) = sqrt(1 - ab) x_t / v
    with v = ab s^2 + 1 - ab (and E[x0 | x_t] = sqrt(ab) s^2 x_t / v, inside [-1, 1] here): the sampler
    must follow DDIM's eq. 12 (sigma from its eq. 16) exactly, computed here in float64 from the paper.
    """
    diffusion, s2 = GaussianDiffusion(20, "cosine"), 0.1**2
    alphas_cumprod = np.cumprod(1.0 - make_beta_schedule("cosine", 20))
    taus = sampling_timesteps(20, n_sampling_steps)
    assert taus[-1] == 19 and list(taus) == sorted(set(taus))

    def noise_fn(x, t):
        ab = float(diffusion.alphas_cumprod_float64[t])
        return np.sqrt(1.0 - ab) * x / (ab * s2 + 1.0 - ab)

    generator = th.Generator().manual_seed(1)
    noise = th.randn(n_sampling_steps + 1, 200, 1, generator=generator, dtype=th.float64) * 0.5
    sampled = diffusion.sample(noise_fn, noise.float(), diffusion.reverse_schedule(n_sampling_steps, eta))

    x = noise[n_sampling_steps].numpy().copy()
    for i in reversed(range(n_sampling_steps)):
        ab = alphas_cumprod[taus[i]]
        ab_prev = alphas_cumprod[taus[i - 1]] if i > 0 else 1.0
        sigma = eta * np.sqrt((1 - ab_prev) / (1 - ab)) * np.sqrt(1 - ab / ab_prev)
        v = ab * s2 + 1 - ab
        x0, eps = np.sqrt(ab) * s2 * x / v, np.sqrt(1 - ab) * x / v
        assert np.abs(x0).max() < 1.0  # no clipping in this problem
        x = np.sqrt(ab_prev) * x0 + np.sqrt(1 - ab_prev - sigma**2) * eps + (sigma * noise[i].numpy() if i > 0 else 0.0)
    np.testing.assert_allclose(sampled.numpy(), x, rtol=0, atol=1e-4)  # float32 cancellation in x0_hat at ab ~ 0


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_fast_sampler_matches_the_reference_with_fewer_steps(eta):
    th.manual_seed(0)
    diffusion = GaussianDiffusion(20)
    net = NoisePredictionNet(3, 5, [32, 32, 32])
    state = th.randn(16, 5)
    schedule = diffusion.reverse_schedule(5, eta)
    noise = draw_sampling_noise(5, 16 * 64, 3, th.device("cpu"))
    reference = PlainSampler()(net, diffusion, state, 64, noise, schedule)
    fast = CandidateSampler()(net, diffusion, state, 64, noise, schedule)
    th.testing.assert_close(fast, reference, rtol=0, atol=1e-5)


def test_policy_samples_with_fewer_steps_and_keeps_them_after_save_load(tmp_path, tiny):
    model = QVPO(
        "DiffusionPolicy",
        "Pendulum-v1",
        seed=0,
        **tiny(n_diffusion_steps=6, policy_kwargs=dict(net_arch=[16], n_sampling_steps=2, sampling_eta=0.0)),
    )
    assert model.actor.reverse_schedule.timesteps == (0, 5) and model.actor_target.reverse_schedule.n_steps == 2
    model.learn(80)
    obs = np.zeros((4, 3), dtype=np.float32)
    action, _ = model.predict(obs, deterministic=True)
    model.save(tmp_path / "model")
    loaded = QVPO.load(tmp_path / "model")
    assert loaded.policy.n_sampling_steps == 2 and loaded.actor.acting.sampling_eta == 0.0
    np.testing.assert_allclose(loaded.predict(obs, deterministic=True)[0], action, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "policy_kwargs, message",
    [
        (dict(n_sampling_steps=0), "n_sampling_steps must be between 1 and n_diffusion_steps \\(4\\), got 0"),
        (dict(n_sampling_steps=5), "n_sampling_steps must be between 1 and n_diffusion_steps \\(4\\), got 5"),
        (dict(sampling_eta=-0.1), "sampling_eta must be a number between 0"),
        (dict(sampling_eta=1.5), "sampling_eta must be a number between 0"),
    ],
)
def test_bad_sampling_settings_are_refused(policy_kwargs, message, tiny):
    with pytest.raises(ValueError, match=message):
        QVPO("DiffusionPolicy", "Pendulum-v1", **tiny(n_diffusion_steps=4, policy_kwargs=dict(net_arch=[8], **policy_kwargs)))


@pytest.mark.parametrize("beta_schedule", ["cosine", "linear", "vp"])
def test_ddim_coefficients_at_every_step_with_eta_one_are_the_ddpm_posterior(beta_schedule):
    diffusion = GaussianDiffusion(20, beta_schedule)
    ab = diffusion.alphas_cumprod_float64
    for ddim, ddpm in zip(ddim_coefficients(ab, np.append(1.0, ab[:-1]), 1.0), diffusion.ddpm_float64, strict=True):
        np.testing.assert_allclose(ddim[1:], ddpm[1:], rtol=1e-12, atol=1e-12)  # index 0: no noise, std unused
