"""DDPM math against closed forms."""

import math

import numpy as np
import pytest
import torch as th

from sb3_qvpo.diffusion import (
    GaussianDiffusion,
    cosine_beta_schedule,
    linear_beta_schedule,
    make_beta_schedule,
    vp_beta_schedule,
    weighted_noise_prediction_loss,
)


def test_cosine_schedule_closed_form():
    n_steps, s = 20, 0.008

    def abar(t: float) -> float:
        return math.cos((t / n_steps + s) / (1 + s) * math.pi / 2) ** 2 / math.cos(s / (1 + s) * math.pi / 2) ** 2

    betas = cosine_beta_schedule(n_steps)
    expected = [min(1 - abar(t) / abar(t - 1), 0.999) for t in range(1, n_steps + 1)]
    np.testing.assert_allclose(betas, expected, rtol=1e-12)
    # The last step of the cosine schedule is the clipped one
    assert betas[-1] == pytest.approx(0.999)
    assert np.all(np.diff(betas) > 0)


def test_linear_and_vp_schedules_closed_form():
    np.testing.assert_allclose(linear_beta_schedule(5), [1e-4, 0.005075, 0.01005, 0.015025, 0.02])
    n_steps = 10
    t = np.arange(1, n_steps + 1)
    expected = 1 - np.exp(-0.1 / n_steps - 0.5 * 9.9 * (2 * t - 1) / n_steps**2)
    np.testing.assert_allclose(vp_beta_schedule(n_steps), expected, rtol=1e-12)
    assert np.all((vp_beta_schedule(n_steps) > 0) & (vp_beta_schedule(n_steps) < 1))


@pytest.mark.parametrize("name", ["cosine", "linear", "vp"])
def test_schedule_quantities(name):
    diffusion = GaussianDiffusion(12, name)
    betas = th.as_tensor(make_beta_schedule(name, 12))
    abar = th.cumprod(1 - betas, 0)
    abar_prev = th.cat((th.ones(1, dtype=abar.dtype), abar[:-1]))
    th.testing.assert_close(th.as_tensor(diffusion.alphas_cumprod_float64), abar)
    th.testing.assert_close(diffusion.sqrt_alphas_cumprod, abar.sqrt().float())
    th.testing.assert_close(diffusion.sqrt_one_minus_alphas_cumprod, (1 - abar).sqrt().float())
    # Posterior q(x_{t-1} | x_t, x_0) must agree with the marginals q(x_{t-1} | x_0):
    # c1 + c2 sqrt(abar_t) = sqrt(abar_{t-1})  and  c2^2 (1 - abar_t) + var = 1 - abar_{t-1}
    c1, c2, std = (th.as_tensor(values) for values in diffusion.ddpm_float64)
    th.testing.assert_close(c1 + c2 * abar.sqrt(), abar_prev.sqrt(), rtol=1e-12, atol=1e-12)
    th.testing.assert_close(c2**2 * (1 - abar) + std**2, 1 - abar_prev, rtol=1e-9, atol=1e-9)
    # The last denoising step (index 0) is deterministic and returns x0_hat
    assert std[0] < 1e-9
    assert c1[0] == pytest.approx(1.0) and c2[0] == pytest.approx(0.0, abs=1e-12)


def test_schedule_is_not_loaded_from_state_dict():
    diffusion = GaussianDiffusion(5)
    assert diffusion.state_dict() == {}


def test_unknown_schedule_and_bad_steps():
    with pytest.raises(ValueError, match="Unknown beta_schedule 'quadratic'"):
        make_beta_schedule("quadratic", 5)
    with pytest.raises(ValueError, match="must be >= 1"):
        make_beta_schedule("cosine", 0)


def test_q_sample():
    diffusion = GaussianDiffusion(10)
    x0, noise = th.randn(6, 3), th.randn(6, 3)
    t = th.tensor([0, 1, 2, 5, 8, 9])
    abar = th.as_tensor(diffusion.alphas_cumprod_float64).float()[t, None]
    th.testing.assert_close(diffusion.q_sample(x0, t, noise), abar.sqrt() * x0 + (1 - abar).sqrt() * noise)


def test_loss_is_weighted_noise_mse():
    noise_pred, noise = th.randn(8, 3), th.randn(8, 3)
    weights = th.rand(8)
    expected = sum(weights[i] * ((noise_pred[i] - noise[i]) ** 2).mean() for i in range(8)) / 8
    th.testing.assert_close(weighted_noise_prediction_loss(noise_pred, noise, weights), expected)
    assert weighted_noise_prediction_loss(noise_pred, noise, th.zeros(8)) == 0
    th.testing.assert_close(
        weighted_noise_prediction_loss(noise_pred, noise, 3 * weights),
        3 * weighted_noise_prediction_loss(noise_pred, noise, weights),
    )


@pytest.mark.parametrize("name", ["cosine", "linear", "vp"])
def test_sampling_with_an_exact_denoiser_recovers_the_data(name):
    # For data concentrated on one action x0, the ideal denoiser is eps(x_t) = (x_t - sqrt(abar) x0) / sqrt(1 - abar):
    # every reverse step then predicts x0 exactly, and the last (noise-free) step returns it.
    diffusion = GaussianDiffusion(15, name)
    x0 = th.tensor([0.3, -0.7])

    def oracle(x_t: th.Tensor, t: int) -> th.Tensor:
        return (x_t - diffusion.sqrt_alphas_cumprod[t] * x0) / diffusion.sqrt_one_minus_alphas_cumprod[t]

    samples = diffusion.sample(oracle, th.randn(16, 100, 2))
    th.testing.assert_close(samples, x0.expand(100, 2), atol=1e-4, rtol=0)


def test_sampling_with_a_zero_denoiser_stays_in_the_box():
    diffusion = GaussianDiffusion(10)
    samples = diffusion.sample(lambda x, t: th.zeros_like(x), 3 * th.randn(11, 500, 2))
    assert samples.abs().max() <= 1.0
    # With no predicted noise x0_hat = clip(x_t / sqrt(abar_t)): samples spread over the box, not collapsed
    assert samples.std() > 0.3
