"""
DDPM math for a diffusion policy over actions: variance schedules, the forward (noising)
process, the reverse (denoising) step and the noise-prediction loss.

Pure PyTorch; nothing here knows about Stable-Baselines3. Equation numbers refer to
Ho et al., "Denoising Diffusion Probabilistic Models" (https://arxiv.org/abs/2006.11239);
the cosine schedule is from Nichol & Dhariwal, "Improved DDPM" (https://arxiv.org/abs/2102.09672);
sampling with fewer steps from DDIM, Song et al., "Denoising Diffusion Implicit Models"
(https://arxiv.org/abs/2010.02502), eq. 12 and 16.

Indices: the paper's step ``t = 1..T`` is stored at index ``t - 1``, so index ``0`` is the
last denoising step (the one that adds no noise).
"""

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch as th
from torch import nn

BETA_SCHEDULES = ("cosine", "linear", "vp")


def cosine_beta_schedule(n_steps: int, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """
    Cosine schedule (Improved DDPM, eq. 17): ``abar(t) = cos^2(((t/T + s) / (1 + s)) * pi/2)``
    normalised so that ``abar(0) = 1``; ``beta_t = 1 - abar_t / abar_{t-1}``, clipped at ``max_beta``.

    :param n_steps: number of diffusion steps T
    :param s: small offset that keeps beta_1 away from zero
    :param max_beta: upper clip of beta (avoids a singular last step)
    :return: betas, shape (T,), float64
    """
    t = np.linspace(0, n_steps, n_steps + 1, dtype=np.float64)
    alphas_cumprod = np.cos(((t / n_steps) + s) / (1 + s) * math.pi * 0.5) ** 2
    alphas_cumprod = alphas_cumprod / alphas_cumprod[0]
    betas = 1.0 - alphas_cumprod[1:] / alphas_cumprod[:-1]
    return np.clip(betas, 0.0, max_beta)


def linear_beta_schedule(n_steps: int, beta_start: float = 1e-4, beta_end: float = 2e-2) -> np.ndarray:
    """
    Linear schedule of DDPM (section 4): betas evenly spaced from ``beta_start`` to ``beta_end``.

    :param n_steps: number of diffusion steps T
    :param beta_start: beta_1
    :param beta_end: beta_T
    :return: betas, shape (T,), float64
    """
    return np.linspace(beta_start, beta_end, n_steps, dtype=np.float64)


def vp_beta_schedule(n_steps: int, b_min: float = 0.1, b_max: float = 10.0) -> np.ndarray:
    """
    Discretised variance-preserving SDE (Song et al., https://arxiv.org/abs/2011.13456) with
    ``beta(tau) = b_min + tau (b_max - b_min)``:
    ``alpha_t = exp(-b_min / T - (b_max - b_min) (2t - 1) / (2 T^2))``, ``beta_t = 1 - alpha_t``.

    :param n_steps: number of diffusion steps T
    :param b_min: beta(0) of the continuous schedule
    :param b_max: beta(1) of the continuous schedule
    :return: betas, shape (T,), float64
    """
    t = np.arange(1, n_steps + 1, dtype=np.float64)
    alphas = np.exp(-b_min / n_steps - 0.5 * (b_max - b_min) * (2 * t - 1) / n_steps**2)
    return 1.0 - alphas


def make_beta_schedule(name: str, n_steps: int) -> np.ndarray:
    """
    :param name: one of ``"cosine"``, ``"linear"``, ``"vp"``
    :param n_steps: number of diffusion steps T (>= 1)
    :return: betas, shape (T,), float64
    """
    if n_steps < 1:
        raise ValueError(f"The number of diffusion steps must be >= 1, got {n_steps}")
    check_beta_schedule(name)
    schedules: dict[str, Callable[[int], np.ndarray]] = {
        "cosine": cosine_beta_schedule,
        "linear": linear_beta_schedule,
        "vp": vp_beta_schedule,
    }
    return schedules[name](n_steps)


def check_beta_schedule(name: str) -> None:
    """Refuse a variance-schedule name that is not one of ``BETA_SCHEDULES``, naming it."""
    if name not in BETA_SCHEDULES:
        raise ValueError(f"Unknown beta_schedule {name!r}: choose one of {BETA_SCHEDULES}")


def sampling_timesteps(n_steps: int, n_sampling_steps: int) -> np.ndarray:
    """
    The S step indices DDIM visits, evenly spaced over ``0..T-1`` and always including the noisiest
    one (``T - 1``); ``0..T-1`` itself when S = T.

    :return: increasing step indices, shape (S,)
    """
    if not 1 <= n_sampling_steps <= n_steps:
        raise ValueError(f"n_sampling_steps must be between 1 and n_diffusion_steps ({n_steps}), got {n_sampling_steps}")
    return np.round(np.linspace(n_steps - 1, 0, n_sampling_steps)).astype(np.int64)[::-1].copy()


@dataclass(frozen=True, eq=False)
class ReverseSchedule:
    """
    The per-step constants of a reverse process visiting ``timesteps`` (DDIM's tau, increasing), in float64.
    Step ``i`` maps ``x_{tau_i}`` to the next visited level ``x_{tau_{i-1}}`` (to x_0 for ``i = 0``):
    ``x_prev = coef1_i * clip(x0_hat, -1, 1) + coef2_i * x_t + std_i * z`` with
    ``x0_hat = sqrt_recip_i * x_t - sqrt_recipm1_i * eps_theta(x_t, tau_i)``.
    """

    timesteps: tuple[int, ...]
    eta: float
    coef1: np.ndarray
    coef2: np.ndarray
    std: np.ndarray
    sqrt_recip: np.ndarray
    sqrt_recipm1: np.ndarray

    @property
    def n_steps(self) -> int:
        """S, the number of reverse steps."""
        return len(self.timesteps)

    @functools.cached_property
    def step_constants(self) -> "StepConstants":
        """The constants of ``reverse_step``, computed once."""
        return StepConstants(self)


class StepConstants:
    """
    The constants of each reverse step as Python floats rounded to float32 (read once, not indexed on the
    device at every step), with ``c1 > 0`` folded into the x0 prediction.

    :param schedule: the reverse process
    """

    def __init__(self, schedule: ReverseSchedule):
        self.n_steps = schedule.n_steps
        coef1, sqrt_recip, sqrt_recipm1, coef2, std = (
            th.as_tensor(values, dtype=th.float32)
            for values in (schedule.coef1, schedule.sqrt_recip, schedule.sqrt_recipm1, schedule.coef2, schedule.std)
        )
        self.coef1 = coef1.tolist()
        self.coef2 = coef2.tolist()
        self.std = std.tolist()
        self.scaled_recip = (coef1 * sqrt_recip).tolist()
        self.scaled_recipm1 = (coef1 * sqrt_recipm1).tolist()


def ddim_coefficients(
    alphas_cumprod: np.ndarray, alphas_cumprod_prev: np.ndarray, eta: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    DDIM's step from level t to the previous visited level (eq. 12, sigma from eq. 16) in the form
    ``x_prev = coef1 x0 + coef2 x_t + std z``: ``x_prev = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - sigma^2) eps
    + sigma z`` with the noise direction ``eps = (x_t - sqrt(ab_t) x0) / sqrt(1 - ab_t)`` implied by x0.

    :param alphas_cumprod: ab_t of the visited levels, shape (S,)
    :param alphas_cumprod_prev: ab of the level each step goes to (1 for the last step), shape (S,)
    :return: coef1, coef2, std, each of shape (S,)
    """
    ab, ab_prev = alphas_cumprod, alphas_cumprod_prev
    variance = eta**2 * (1.0 - ab_prev) / (1.0 - ab) * (1.0 - ab / ab_prev)
    coef2 = np.sqrt(np.maximum(1.0 - ab_prev - variance, 0.0)) / np.sqrt(1.0 - ab)
    return np.sqrt(ab_prev) - coef2 * np.sqrt(ab), coef2, np.sqrt(variance)


def check_eta(eta: float) -> float:
    if not (isinstance(eta, (int, float)) and 0.0 <= eta <= 1.0):
        raise ValueError(f"sampling_eta must be a number between 0 (deterministic DDIM) and 1 (DDPM), got {eta!r}")
    return float(eta)


class GaussianDiffusion(nn.Module):
    """
    The fixed quantities of a DDPM with T steps, and its forward and reverse processes.

    The schedule is computed in float64; the forward process's share is stored in float32 as non-persistent
    buffers: it is rebuilt from the constructor arguments, never loaded from a state dict.

    :param n_steps: number of diffusion steps T
    :param beta_schedule: ``"cosine"``, ``"linear"`` or ``"vp"``
    """

    sqrt_alphas_cumprod: th.Tensor
    sqrt_one_minus_alphas_cumprod: th.Tensor

    def __init__(self, n_steps: int, beta_schedule: str = "cosine"):
        super().__init__()
        self.n_steps = n_steps
        self.beta_schedule = beta_schedule

        betas = make_beta_schedule(beta_schedule, n_steps)
        alphas_cumprod = np.cumprod(1.0 - betas)
        self.alphas_cumprod_float64 = alphas_cumprod
        alphas_cumprod_prev = np.append(1.0, alphas_cumprod[:-1])
        # Posterior q(x_{t-1} | x_t, x_0), eq. 6-7: mean coefficients of x_0 and x_t, and standard deviation
        # (variance clipped at 1e-20 before the root, so that the noise-free last step has a finite log)
        posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)
        self.ddpm_float64 = (
            betas * np.sqrt(alphas_cumprod_prev) / (1.0 - alphas_cumprod),
            (1.0 - alphas_cumprod_prev) * np.sqrt(1.0 - betas) / (1.0 - alphas_cumprod),
            np.exp(0.5 * np.log(np.maximum(posterior_variance, 1e-20))),
        )
        # The forward process (q_sample), in float32
        self.register_buffer("sqrt_alphas_cumprod", th.as_tensor(np.sqrt(alphas_cumprod), dtype=th.float32), persistent=False)
        one_minus = th.as_tensor(np.sqrt(1.0 - alphas_cumprod), dtype=th.float32)
        self.register_buffer("sqrt_one_minus_alphas_cumprod", one_minus, persistent=False)

    def q_sample(self, x_start: th.Tensor, t: th.Tensor, noise: th.Tensor) -> th.Tensor:
        """
        Forward process, eq. 4: ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``.

        :param x_start: clean actions x_0, shape (N, A)
        :param t: step indices, shape (N,), values in ``[0, T)``
        :param noise: eps ~ N(0, I), shape (N, A)
        :return: x_t, shape (N, A)
        """
        return self.sqrt_alphas_cumprod[t, None] * x_start + self.sqrt_one_minus_alphas_cumprod[t, None] * noise

    def reverse_schedule(self, n_sampling_steps: int | None = None, eta: float = 1.0) -> ReverseSchedule:
        """
        The reverse process with S <= T steps (DDIM eq. 12): from level ``tau_i`` to ``tau_{i-1}``,
        ``sigma_i = eta sqrt((1 - ab_prev) / (1 - ab_t)) sqrt(1 - ab_t / ab_prev)`` and
        ``x_prev = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - sigma_i^2) eps + sigma_i z``, where the noise
        direction ``eps = (x_t - sqrt(ab_t) x0) / sqrt(1 - ab_t)`` is the one implied by the clipped x0,
        i.e. ``x_prev = coef1 x0 + coef2 x_t + sigma z``. With S = T and eta = 1 this is DDPM's posterior
        (eq. 6-7) step for step; eta = 0 is the deterministic DDIM sampler.

        :param n_sampling_steps: S (default: T)
        :param eta: 0 (deterministic) to 1 (as much noise as DDPM)
        """
        n_sampling_steps = self.n_steps if n_sampling_steps is None else n_sampling_steps
        eta = check_eta(eta)
        timesteps = sampling_timesteps(self.n_steps, n_sampling_steps)
        ab = self.alphas_cumprod_float64[timesteps]
        if n_sampling_steps == self.n_steps and eta == 1.0:
            # DDPM: the posterior's own constants (the general formula agrees to float64 rounding)
            coef1, coef2, std = self.ddpm_float64
        else:
            coef1, coef2, std = ddim_coefficients(ab, np.append(1.0, ab[:-1]), eta)
        return ReverseSchedule(
            timesteps=tuple(int(t) for t in timesteps),
            eta=eta,
            coef1=coef1,
            coef2=coef2,
            std=std,
            sqrt_recip=np.sqrt(1.0 / ab),
            sqrt_recipm1=np.sqrt(1.0 / ab - 1.0),
        )

    def sample(
        self,
        noise_fn: Callable[[th.Tensor, int], th.Tensor],
        noise: th.Tensor,
        schedule: ReverseSchedule | None = None,
    ) -> th.Tensor:
        """
        The whole reverse process from ``x_T = noise[S]`` down to x_0, clipped to [-1, 1].
        This is the plain reference loop; the policies use a faster, equivalent sampler.

        :param noise_fn: ``(x_t, t) -> eps_theta(x_t, t, s)`` with the state already bound
        :param noise: all the Gaussian noise of one sampling run, shape (S + 1, N, A):
            ``noise[S]`` is x_T and ``noise[i]`` the z of reverse step i
        :param schedule: the reverse process (default: DDPM's, S = T)
        :return: actions x_0, shape (N, A)
        """
        schedule = self.reverse_schedule() if schedule is None else schedule
        timesteps = schedule.timesteps
        return run_reverse_process(
            noise[schedule.n_steps], noise, schedule.step_constants, lambda x, i: noise_fn(x, timesteps[i])
        )


def run_reverse_process(
    x_last: th.Tensor, noise: th.Tensor, constants: StepConstants, predict_noise: Callable[[th.Tensor, int], th.Tensor]
) -> th.Tensor:
    """
    The reverse loop every sampler runs: from ``x_last`` (x_T) through ``reverse_step`` S times, then clipped.

    :param x_last: x_T, shape (N, A), float32
    :param noise: shape (S + 1, N, A): ``noise[i]`` is the z of reverse step i
    :param constants: ``schedule.step_constants``
    :param predict_noise: ``(x_t, i) -> eps_theta`` at the i-th visited level (index, not step number), shape (N, A)
    :return: actions in [-1, 1], shape (N, A)
    """
    x = x_last
    for i in reversed(range(constants.n_steps)):
        x = reverse_step(x, i, predict_noise(x, i), noise[i], constants)
    return x.clamp(-1.0, 1.0)


def reverse_step(x_t: th.Tensor, i: int, noise_pred: th.Tensor, z: th.Tensor, constants: StepConstants) -> th.Tensor:
    """
    Reverse step ``i``: ``x_prev = c1 clip(x0_hat, -1, 1) + c2 x_t + [i > 0] sigma z`` with
    ``x0_hat = sqrt_recip x_t - sqrt_recipm1 eps``, in four passes, ``c1 > 0`` moved inside the clip:
    ``x_prev = clip(c1 sqrt_recip x_t - c1 sqrt_recipm1 eps, -c1, c1) + c2 x_t + [i > 0] sigma z``.
    Every sampler uses it, through ``run_reverse_process``.

    :param x_t: noisy actions at the step's level, shape (N, A), float32
    :param noise_pred: eps_theta(x_t, t, s), shape (N, A), float32 or bfloat16
    :param z: N(0, I) noise, shape (N, A); unused by the last step (i = 0)
    :param constants: ``schedule.step_constants``
    :return: x_prev, shape (N, A), a new tensor
    """
    c1 = constants.coef1[i]
    x = th.mul(x_t, constants.scaled_recip[i]).sub_(noise_pred, alpha=constants.scaled_recipm1[i]).clamp_(-c1, c1)
    x.add_(x_t, alpha=constants.coef2[i])
    if i > 0:
        x.add_(z, alpha=constants.std[i])
    return x


def weighted_noise_prediction_loss(noise_pred: th.Tensor, noise: th.Tensor, weights: th.Tensor) -> th.Tensor:
    """
    The simple variational bound of DDPM (eq. 14) with a weight per sample:
    ``mean_i w_i * mean_j (eps_ij - eps_theta_ij)^2``. Averaging over the action dimension
    instead of summing only rescales the loss by the constant ``1 / A``.

    :param noise_pred: eps_theta, shape (N, A)
    :param noise: the eps that produced x_t, shape (N, A)
    :param weights: per-sample weights, shape (N,)
    :return: scalar loss
    """
    per_sample = (noise_pred - noise).pow(2).mean(dim=1)
    return (weights * per_sample).mean()
