"""
Scoring candidate actions with Q networks: ``min_i Q_i(s, a)`` for K candidates of each of B states, given the
states' features. Pure PyTorch: the networks are ``nn.Sequential`` over ``[features, action]`` (as SB3's critics
build them); extracting the features is the caller's part.
"""

from collections.abc import Sequence

import torch as th
from torch import nn

from sb3_qvpo.fast.kernels import Workspace, mlp_on_candidates


class FastScorer:
    """Each state's share of the first layer computed once for all its candidates, buffers reused (``mlp_on_candidates``)."""

    def __init__(self) -> None:
        self.workspace = Workspace()

    def __call__(self, q_networks: Sequence[nn.Module], features: th.Tensor, candidates: th.Tensor) -> th.Tensor:
        """
        :param q_networks: the Q networks, each ``[Linear, act] * n + [Linear]`` over ``[features, action]``
        :param features: state features, shape (B, F)
        :param candidates: actions, shape (B, K, A)
        :return: the minimum over the networks, shape (B, K); no gradient
        """
        n_states, n_candidates, _ = candidates.shape
        with th.no_grad():
            q_values = [
                mlp_on_candidates(q_net, features, candidates, self.workspace, name=f"q{i}")  # type: ignore[arg-type]
                for i, q_net in enumerate(q_networks)
            ]
            return th.cat(q_values, dim=1).min(dim=1).values.view(n_states, n_candidates)


class PlainScorer:
    """The straightforward scorer, the reference of ``FastScorer``: every state's features repeated per candidate."""

    def __call__(self, q_networks: Sequence[nn.Module], features: th.Tensor, candidates: th.Tensor) -> th.Tensor:
        """Arguments and result as in ``FastScorer.__call__``."""
        n_states, n_candidates, action_dim = candidates.shape
        with th.no_grad():
            inputs = th.cat((features.repeat_interleave(n_candidates, dim=0), candidates.reshape(-1, action_dim)), dim=1)
            q_values = th.cat([q_net(inputs) for q_net in q_networks], dim=1)
            return q_values.min(dim=1).values.view(n_states, n_candidates)
