"""DDPM's ancestral sampler written out from Ho et al. (2020), eq. 6-7 and Algorithm 2: the golden reference of the tests."""

from collections.abc import Callable

import numpy as np
import torch as th

from sb3_qvpo.diffusion import make_beta_schedule


def ddpm_ancestral_sample(
    beta_schedule: str, n_steps: int, noise_fn: Callable[[th.Tensor, int], th.Tensor], noise: th.Tensor
) -> th.Tensor:
    """
    ``x_T = noise[T]``; for t = T..1: ``x0 = clip(sqrt(1/abar) x_t - sqrt(1/abar - 1) eps, -1, 1)``,
    ``x_{t-1} = c1 x0 + c2 x_t + [t > 1] sigma z`` with the posterior of eq. 6-7; then clipped to [-1, 1].
    """
    betas = make_beta_schedule(beta_schedule, n_steps)
    alphas_cumprod = np.cumprod(1.0 - betas)
    alphas_cumprod_prev = np.append(1.0, alphas_cumprod[:-1])
    variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)
    c1 = betas * np.sqrt(alphas_cumprod_prev) / (1.0 - alphas_cumprod)
    c2 = (1.0 - alphas_cumprod_prev) * np.sqrt(1.0 - betas) / (1.0 - alphas_cumprod)
    x = noise[n_steps]
    for t in reversed(range(n_steps)):
        eps = noise_fn(x, t)
        x0 = (np.sqrt(1.0 / alphas_cumprod[t]) * x - np.sqrt(1.0 / alphas_cumprod[t] - 1.0) * eps).clamp(-1.0, 1.0)
        x = float(c1[t]) * x0 + float(c2[t]) * x
        if t > 0:
            x = x + float(np.sqrt(variance[t])) * noise[t]
    return x.clamp(-1.0, 1.0)
