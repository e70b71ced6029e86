"""The diffusion actor of QVPO: a DDPM over actions conditioned on the state, as an SB3 policy."""

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import PyTorchObs
from torch import nn

from sb3_qvpo.acting import ActingSettings
from sb3_qvpo.diffusion import GaussianDiffusion, weighted_noise_prediction_loss
from sb3_qvpo.fast import make_sampler
from sb3_qvpo.networks import NoisePredictionNet


class DiffusionActor(BasePolicy):
    """
    The diffusion policy pi_theta(a | s): a DDPM over actions in [-1, 1] conditioned on the state.

    :param observation_space: Observation space
    :param action_space: Action space
    :param net_arch: hidden layers of the denoiser
    :param features_extractor: Network to extract features
    :param features_dim: Number of features
    :param activation_fn: Activation function of the denoiser
    :param n_diffusion_steps: number of denoising steps T
    :param beta_schedule: variance schedule: ``"cosine"``, ``"linear"`` or ``"vp"``
    :param normalize_images: Whether to normalize images or not, dividing by 255.0
    :param acting: how actions are sampled (the policy's record; its sampling fields are used here)
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.Mish,
        n_diffusion_steps: int = 20,
        beta_schedule: str = "cosine",
        normalize_images: bool = True,
        acting: ActingSettings | None = None,
    ):
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
            squash_output=True,
        )
        self.net_arch = net_arch
        self.features_dim = features_dim
        self.activation_fn = activation_fn
        self.n_diffusion_steps = n_diffusion_steps
        self.beta_schedule = beta_schedule
        self.action_dim = get_action_dim(self.action_space)
        self.diffusion = GaussianDiffusion(n_diffusion_steps, beta_schedule)
        self.noise_net = NoisePredictionNet(self.action_dim, features_dim, net_arch, activation_fn)
        self.set_acting(ActingSettings().checked(n_diffusion_steps) if acting is None else acting)

    def set_acting(self, acting: ActingSettings) -> None:
        """Sample as ``acting`` says from now on: the reverse schedule is rebuilt, the sampler where its options change."""
        options = (acting.sampling_backend, acting.sampling_dtype, acting.compile_sampler)
        if options != getattr(self, "sampler_options", None):
            self.sampler = make_sampler(*options)
            self.sampler_options: tuple[str, str, bool] = options
        self.reverse_schedule = self.diffusion.reverse_schedule(acting.n_sampling_steps, acting.sampling_eta)
        self.acting = acting

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
                net_arch=self.net_arch,
                features_dim=self.features_dim,
                activation_fn=self.activation_fn,
                features_extractor=self.features_extractor,
                n_diffusion_steps=self.n_diffusion_steps,
                beta_schedule=self.beta_schedule,
                acting=self.acting,
            )
        )
        return data

    def sample(self, obs: PyTorchObs, n_candidates: int, noise: th.Tensor | None = None) -> th.Tensor:
        """
        Draw candidate actions (no gradient).

        :param obs: observations, batch size B
        :param n_candidates: actions per state K
        :param noise: optional reverse-process noise, shape (S + 1, B * K, A)
        :return: actions in [-1, 1], shape (B, K, A)
        """
        with th.no_grad():
            features = self.extract_features(obs, self.features_extractor)
            return self.sampler(self.noise_net, self.diffusion, features, n_candidates, noise, self.reverse_schedule)

    def weighted_loss(self, obs: PyTorchObs, actions: th.Tensor, weights: th.Tensor) -> th.Tensor:
        """
        The Q-weighted noise-prediction loss of several actions per state, with the features of each
        state extracted once and repeated (not the observations).

        :param obs: observations, batch size B
        :param actions: target actions of each state, shape (B, M, A)
        :param weights: their weights, shape (B, M)
        """
        n_per_state = actions.shape[1]
        features = self.extract_features(obs, self.features_extractor).repeat_interleave(n_per_state, dim=0)
        return self.diffusion_loss(features, actions.reshape(-1, actions.shape[2]), weights.reshape(-1))

    def diffusion_loss(self, features: th.Tensor, actions: th.Tensor, weights: th.Tensor) -> th.Tensor:
        """
        Weighted noise-prediction loss of the actions under the current denoiser.

        :param features: state features, shape (N, S)
        :param actions: target actions x_0 in [-1, 1], shape (N, A)
        :param weights: per-sample weights, shape (N,)
        """
        t = th.randint(0, self.n_diffusion_steps, (actions.shape[0],), device=actions.device)
        noise = th.randn_like(actions)
        x_t = self.diffusion.q_sample(actions, t, noise)
        return weighted_noise_prediction_loss(self.noise_net(x_t, t, features), noise, weights)

    def forward(self, obs: PyTorchObs) -> th.Tensor:
        return self.sample(obs, n_candidates=1)[:, 0]

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self(observation)
