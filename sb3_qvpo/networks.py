"""
The noise-prediction network eps_theta(x_t, t, s) of the diffusion actor. Pure PyTorch.
"""

import itertools
import math

import torch as th
from torch import nn


def sinusoidal_embedding(t: th.Tensor, dim: int) -> th.Tensor:
    """
    Transformer-style sinusoidal embedding of diffusion step indices.

    :param t: step indices, shape (N,)
    :param dim: embedding size (even)
    :return: ``[sin(t w_k), cos(t w_k)]`` with ``w_k = 10000^(-k / (dim/2 - 1))``, shape (N, dim)
    """
    half = dim // 2
    frequencies = th.exp(th.arange(half, device=t.device, dtype=th.float32) * -(math.log(10000.0) / (half - 1)))
    angles = t.float()[:, None] * frequencies[None, :]
    return th.cat((angles.sin(), angles.cos()), dim=-1)


class NoisePredictionNet(nn.Module):
    """
    MLP over ``[x_t, emb(t), s]`` that predicts the noise in x_t (QVPO's and Diffusion-QL's
    denoiser). ``emb(t)`` is a sinusoidal embedding passed through
    ``Linear(time_dim, net_arch[0]) - activation - Linear(net_arch[0], time_dim)``.

    :param action_dim: size of the action (and of the predicted noise)
    :param state_dim: size of the state features the actor conditions on
    :param net_arch: hidden layer sizes
    :param activation_fn: activation after every hidden layer (Mish in the paper)
    :param time_dim: size of the time embedding
    """

    def __init__(
        self,
        action_dim: int,
        state_dim: int,
        net_arch: list[int],
        activation_fn: type[nn.Module] = nn.Mish,
        time_dim: int = 32,
    ):
        super().__init__()
        if len(net_arch) == 0:
            raise ValueError("The denoiser needs at least one hidden layer: net_arch must not be empty")
        if time_dim < 4 or time_dim % 2 != 0:
            raise ValueError(f"time_dim must be an even number >= 4, got {time_dim}")
        self.action_dim = action_dim
        self.state_dim = state_dim
        self.time_dim = time_dim
        self.time_mlp = nn.Sequential(
            nn.Linear(time_dim, net_arch[0]),
            activation_fn(),
            nn.Linear(net_arch[0], time_dim),
        )
        sizes = [action_dim + time_dim + state_dim, *net_arch]
        self.hidden = nn.ModuleList(nn.Linear(n_in, n_out) for n_in, n_out in itertools.pairwise(sizes))
        self.activation = activation_fn()
        self.output = nn.Linear(net_arch[-1], action_dim)

    def time_features(self, t: th.Tensor) -> th.Tensor:
        """:param t: step indices, shape (N,) :return: the time features, shape (N, time_dim)"""
        return self.time_mlp(sinusoidal_embedding(t, self.time_dim))

    def split_first_layer(self, state: th.Tensor, embedding: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """
        The first layer split by input: ``W [x, emb(t), s] + b = W_x x + cond[t, s]``, so that the state's and
        the step's share is computed once per state and step rather than once per candidate.

        :param state: state features, shape (B, S)
        :param embedding: sinusoidal embedding of the steps used, shape (T', time_dim)
        :return: ``W_x^T``, shape (A, H), and ``cond = W_s s + W_t time_mlp(emb) + b``, shape (T', B, H)
        """
        first: nn.Linear = self.hidden[0]  # type: ignore[assignment]
        w_x, w_t, w_s = first.weight.split([self.action_dim, self.time_dim, self.state_dim], dim=1)
        time_term = th.addmm(first.bias, self.time_mlp(embedding), w_t.t())  # (T', H)
        state_term = state @ w_s.t()  # (B, H)
        return w_x.t(), state_term.unsqueeze(0) + time_term.unsqueeze(1)

    def forward(self, x_t: th.Tensor, t: th.Tensor, state: th.Tensor) -> th.Tensor:
        """
        :param x_t: noisy actions, shape (N, A)
        :param t: step indices, shape (N,)
        :param state: state features, shape (N, S)
        :return: predicted noise, shape (N, A)
        """
        h = th.cat((x_t, self.time_features(t), state), dim=1)
        for layer in self.hidden:
            h = self.activation(layer(h))
        return self.output(h)
