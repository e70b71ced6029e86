"""
The straightforward implementation the fast paths are held to: candidates from the plain reverse loop
(``sampling.sample_candidates_reference``: the whole denoiser on ``[x_t, emb(t), s]`` at every step) and
critic scores on the states repeated for every candidate. ``reference_implementation(model)`` makes a QVPO
model use both for a while; the tests train with it to show that the fast paths change no result, and
``benchmarks/speed.py`` times it.
"""

import contextlib
import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch as th
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.type_aliases import PyTorchObs

from sb3_qvpo import policies
from sb3_qvpo.actor import DiffusionActor
from sb3_qvpo.sampling import draw_sampling_noise, sample_candidates_reference

if TYPE_CHECKING:
    from sb3_qvpo.qvpo import QVPO


def score_candidates_reference(
    critic: ContinuousCritic, obs: PyTorchObs, candidates: th.Tensor, workspace: object = None
) -> th.Tensor:
    """``min_i Q_i(s, a)`` of candidates (B, K, A) with every state repeated K times; shape (B, K). No gradient."""
    n_states, n_candidates, action_dim = candidates.shape
    with th.no_grad():
        q_values = critic(policies.repeat_observation(obs, n_candidates), candidates.reshape(-1, action_dim))
    return th.cat(q_values, dim=1).min(dim=1).values.view(n_states, n_candidates)


def sample_reference(actor: DiffusionActor, obs: PyTorchObs, n_candidates: int, noise: th.Tensor | None = None) -> th.Tensor:
    """``actor.sample`` through the plain reverse loop, drawing its noise as the fast sampler does."""
    with th.no_grad():
        features = actor.extract_features(obs, actor.features_extractor)
        schedule = actor.reverse_schedule
        if noise is None:
            noise = draw_sampling_noise(schedule.n_steps, len(features) * n_candidates, actor.action_dim, features.device)
        return sample_candidates_reference(actor.noise_net, actor.diffusion, features, n_candidates, noise, schedule)


@contextlib.contextmanager
def reference_implementation(model: "QVPO") -> Iterator[None]:
    """For the duration, ``model`` samples and scores candidates the straightforward way (every policy scores so)."""
    saved = policies.score_candidates
    policies.score_candidates = score_candidates_reference  # type: ignore[assignment]
    for actor in (model.actor, model.actor_target):
        actor.sample = functools.partial(sample_reference, actor)  # type: ignore[method-assign]
    try:
        yield
    finally:
        policies.score_candidates = saved
        for actor in (model.actor, model.actor_target):
            del actor.sample
