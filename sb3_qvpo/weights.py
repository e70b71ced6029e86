"""
Q-weights of QVPO's weighted variational loss (Ding et al., 2024, https://arxiv.org/abs/2405.16173),
the samples of its diffusion entropy regularisation and the selection of the candidates it fits. Pure PyTorch.

The paper's weight is the advantage clipped at zero; the other transforms are options the
authors shipped with their code.
"""

from typing import Any

import torch as th
from torch import nn

WEIGHT_TRANSFORMS = ("advantage", "relu", "exp", "cut")


def check_weight_transform(name: str) -> None:
    """Refuse a weight-transform name that is not one of ``WEIGHT_TRANSFORMS``, naming it."""
    if name not in WEIGHT_TRANSFORMS:
        raise ValueError(f"Unknown weight_transform {name!r}: choose one of {WEIGHT_TRANSFORMS}")


# Allowed keyword arguments of each transform, with their defaults.
WEIGHT_TRANSFORM_DEFAULTS: dict[str, dict[str, float]] = {
    "advantage": {},
    "relu": {"q_neg": 0.0},
    "exp": {"beta": 1.0, "rate": 0.001},
    "cut": {"c": 0.0},
}


def clipped_advantage_weights(q_values: th.Tensor, state_values: th.Tensor) -> th.Tensor:
    """
    QVPO's weight (paper, section 4.2): ``w(s, a) = max(Q(s, a) - V(s), 0)``, with ``V(s)`` the
    mean min-Q of the candidates of s. Non-negative weights keep the weighted diffusion loss a
    tight lower bound of the policy-improvement objective, whatever the sign of Q.

    :param q_values: Q of the kept candidates, shape (B, k)
    :param state_values: V(s), shape (B, 1)
    :return: weights, shape (B, k)
    """
    return (q_values - state_values).clamp(min=0.0)


def relu_weights(q_values: th.Tensor, q_neg: float) -> th.Tensor:
    """``w = max(Q, -q_neg) + q_neg``: Q shifted to start at zero, floored at ``-q_neg``."""
    return q_values.clamp(min=-q_neg) + q_neg


def exp_weights(q_values: th.Tensor, mean: th.Tensor, std: th.Tensor, beta: float) -> th.Tensor:
    """``w = exp(beta * clip((Q - mean) / std, -8, 8))`` with running statistics of Q."""
    return th.exp(beta * ((q_values - mean) / std).clamp(-8.0, 8.0))


def cut_weights(q_values: th.Tensor, c: float) -> th.Tensor:
    """``w = max(Q, c)``."""
    return q_values.clamp(min=c)


def uniform_entropy_samples(n_states: int, n_samples: int, action_dim: int, device: th.device) -> th.Tensor:
    """
    Actions of the diffusion entropy regularisation (paper, section 4.3): fitting samples drawn
    uniformly from the action box pulls the policy towards the maximum-entropy distribution.

    :return: actions uniform on [-1, 1]^A, shape (n_states, n_samples, A)
    """
    return th.rand(n_states, n_samples, action_dim, device=device) * 2.0 - 1.0


class QWeightTransform(nn.Module):
    """
    Turns the Q-values of kept candidates into non-negative weights.
    Holds the running statistics that the ``exp`` transform needs (saved with the model).

    :param name: ``"advantage"`` (the paper's), ``"relu"``, ``"exp"`` or ``"cut"``
    :param kwargs: the transform's parameters: ``relu``: ``q_neg``; ``exp``: ``beta`` and
        ``rate`` (update rate of the running mean and variance of Q); ``cut``: ``c``
    """

    running_mean: th.Tensor
    running_var: th.Tensor

    def __init__(self, name: str = "advantage", kwargs: dict[str, Any] | None = None):
        super().__init__()
        check_weight_transform(name)
        kwargs = dict(kwargs or {})
        unknown = sorted(set(kwargs) - set(WEIGHT_TRANSFORM_DEFAULTS[name]))
        if unknown:
            allowed = sorted(WEIGHT_TRANSFORM_DEFAULTS[name]) or "none"
            raise ValueError(f"Unknown argument(s) {unknown} for weight transform {name!r}; allowed: {allowed}")
        self.name = name
        self.params = {**WEIGHT_TRANSFORM_DEFAULTS[name], **kwargs}
        if name == "exp" and not 0.0 < self.params["rate"] <= 1.0:
            raise ValueError(f"The exp transform's rate must be in (0, 1], got {self.params['rate']}")
        if name == "exp" and not self.params["beta"] > 0.0:
            raise ValueError(
                f"The exp transform's beta must be > 0, got {self.params['beta']}: "
                "a negative beta would give the lowest-valued actions the largest weights"
            )
        if name == "cut" and not self.params["c"] >= 0.0:
            raise ValueError(
                f"The cut transform's c must be >= 0, got {self.params['c']}: "
                "with c < 0 the weights max(Q, c) can be negative, and the loss is no longer a lower bound"
            )
        self.register_buffer("running_mean", th.zeros(()))
        self.register_buffer("running_var", th.ones(()))

    def forward(self, kept_q: th.Tensor, state_values: th.Tensor, all_q: th.Tensor) -> th.Tensor:
        """
        :param kept_q: Q of the kept candidates, shape (B, k)
        :param state_values: V(s), the mean Q of all candidates of each state, shape (B, 1)
        :param all_q: Q of all candidates, shape (B, N); updates the ``exp`` running statistics
        :return: weights, shape (B, k)
        """
        if self.name == "advantage":
            return clipped_advantage_weights(kept_q, state_values)
        if self.name == "relu":
            return relu_weights(kept_q, self.params["q_neg"])
        if self.name == "cut":
            return cut_weights(kept_q, self.params["c"])
        self._update_running_statistics(all_q)
        return exp_weights(kept_q, self.running_mean, self.running_var.sqrt() + 1e-8, self.params["beta"])

    def _update_running_statistics(self, q_values: th.Tensor) -> None:
        rate = self.params["rate"]
        self.running_mean.lerp_(q_values.mean(), rate)
        self.running_var.lerp_(q_values.var(unbiased=False), rate)


def entropy_sample_weights(weights: th.Tensor, ent_coef: float, n_uniform_samples: int) -> th.Tensor:
    """
    Weight of each uniform sample: ``lambda * w(s)``, with w(s) the mean weight of the state's kept candidates.

    :param weights: weights of the kept candidates, shape (B, k)
    :return: shape (B, n_uniform_samples)
    """
    return (ent_coef * weights.mean(dim=1, keepdim=True)).expand(-1, n_uniform_samples)


def keep_best_candidates(candidates: th.Tensor, q_values: th.Tensor, n_kept: int) -> tuple[th.Tensor, th.Tensor]:
    """
    Keep the ``n_kept`` highest-Q candidates of each state.

    :param candidates: shape (B, N, A)
    :param q_values: shape (B, N)
    :return: kept actions (B, k, A) and their Q-values (B, k)
    """
    kept_q, index = q_values.topk(n_kept, dim=1)
    kept_actions = candidates.gather(1, index.unsqueeze(2).expand(-1, -1, candidates.shape[2]))
    return kept_actions, kept_q
