"""
Exact, fast reverse-process sampling of many candidate actions per state. Pure PyTorch.

It computes the same actions as ``GaussianDiffusion.sample`` with ``NoisePredictionNet.forward``
(same noise, float32 rounding aside), but:

- runs without autograd;
- splits the denoiser's first layer ``W [x_t, emb(t), s] + b`` into ``W_x x_t + (W_s s) + (W_t emb(t) + b)``:
  the state term is computed once per state and the time term once per step, instead of once
  per candidate and step, and the time MLP runs on the T distinct steps only;
- denoises all candidates of all states as one batch.
"""

import torch as th
from torch import nn

from sb3_qvpo.diffusion import GaussianDiffusion
from sb3_qvpo.networks import NoisePredictionNet


def draw_sampling_noise(
    n_steps: int, n_samples: int, action_dim: int, device: th.device, generator: th.Generator | None = None
) -> th.Tensor:
    """
    All the Gaussian noise one reverse-process run consumes.

    :return: shape (T + 1, n_samples, A): index T is x_T, index t the z of the step at index t
    """
    return th.randn(n_steps + 1, n_samples, action_dim, device=device, generator=generator)


def sample_candidates(
    noise_net: NoisePredictionNet,
    diffusion: GaussianDiffusion,
    state: th.Tensor,
    n_candidates: int,
    noise: th.Tensor | None = None,
) -> th.Tensor:
    """
    Draw ``n_candidates`` actions for each state from the diffusion policy.

    :param noise_net: the denoiser eps_theta
    :param diffusion: the DDPM schedule
    :param state: state features, shape (B, S)
    :param n_candidates: K, actions per state
    :param noise: optional noise of shape (T + 1, B * K, A), candidates of one state contiguous;
        drawn from the global generator when omitted
    :return: actions in [-1, 1], shape (B, K, A)
    """
    n_states = state.shape[0]
    n_samples = n_states * n_candidates
    action_dim = noise_net.action_dim
    if noise is None:
        noise = draw_sampling_noise(diffusion.n_steps, n_samples, action_dim, state.device)
    expected_shape = (diffusion.n_steps + 1, n_samples, action_dim)
    if tuple(noise.shape) != expected_shape:
        raise ValueError(f"Sampling noise must have shape {expected_shape}, got {tuple(noise.shape)}")

    with th.no_grad():
        layers: list[nn.Linear] = list(noise_net.hidden)  # type: ignore[arg-type]
        first = layers[0]
        w_x, w_t, w_s = first.weight.split([action_dim, noise_net.time_dim, noise_net.state_dim], dim=1)
        steps = th.arange(diffusion.n_steps, device=state.device)
        time_term = th.addmm(first.bias, noise_net.time_features(steps), w_t.t())  # (T, H)
        state_term = (state @ w_s.t()).unsqueeze(1)  # (B, 1, H)
        hidden_dim = first.out_features
        activation = noise_net.activation

        x = noise[diffusion.n_steps]
        for t in reversed(range(diffusion.n_steps)):
            conditioning = state_term + time_term[t]  # (B, 1, H)
            h = (x @ w_x.t()).view(n_states, n_candidates, hidden_dim).add_(conditioning)
            h = activation(h.view(n_samples, hidden_dim))
            for layer in layers[1:]:
                h = activation(th.addmm(layer.bias, h, layer.weight.t()))
            noise_pred = th.addmm(noise_net.output.bias, h, noise_net.output.weight.t())
            x = diffusion.p_sample(x, t, noise_pred, noise[t])
        return x.clamp(-1.0, 1.0).view(n_states, n_candidates, action_dim)
