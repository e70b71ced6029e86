"""Policies for QVPO: the diffusion actor (``actor.py``), twin critics, and best-of-K action selection."""

import dataclasses
from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy, ContinuousCritic
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    get_actor_critic_arch,
)
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from torch import nn

from sb3_qvpo.acting import ActingSettings
from sb3_qvpo.actor import DiffusionActor
from sb3_qvpo.fast import make_scorer
from sb3_qvpo.fast.sampler import draw_sampling_noise

# Seed of the fixed candidate noise behind ``predict(deterministic=True)``.
EVAL_NOISE_SEED = 0


def acting_field(name: str) -> Any:
    """A read-only property of the policy: field ``name`` of its acting settings."""
    return property(lambda policy: getattr(policy.acting, name), doc=f"``acting.{name}`` (see :class:`ActingSettings`)")


class DiffusionPolicy(BasePolicy):
    """
    Policy for QVPO: a diffusion actor, ``n_critics`` Q networks, and Polyak-averaged targets of both.
    Actions are chosen best-of-K: K actions from the actor, the one with the highest min-Q is kept.

    :param observation_space: Observation space
    :param action_space: Action space
    :param lr_schedule: Learning rate schedule used to build the optimizers (QVPO sets each
        optimizer's learning rate before every update)
    :param net_arch: hidden layers of the denoiser and the critics (list, or dict with keys ``pi`` and ``qf``);
        the paper uses ``[256, 256, 256]`` for both
    :param activation_fn: activation of the denoiser and the critics (Mish in the paper)
    :param features_extractor_class: Features extractor to use
    :param features_extractor_kwargs: Keyword arguments to pass to the features extractor
    :param normalize_images: Whether to normalize images or not, dividing by 255.0
    :param optimizer_class: The optimizer to use, ``th.optim.Adam`` by default
    :param optimizer_kwargs: Additional keyword arguments, excluding the learning rate, to pass to
        the optimizer; the paper's Adam uses ``eps=1e-5``
    :param n_critics: Number of critic networks
    :param share_features_extractor: Whether the actor and the critic share the features extractor
    :param n_diffusion_steps: number of denoising steps T
    :param beta_schedule: variance schedule: ``"cosine"``, ``"linear"`` or ``"vp"``
    :param n_behavior_candidates: K_b, candidates of the exploration policy (``deterministic=False``)
    :param n_eval_candidates: K_eval, candidates of ``deterministic=True``, drawn with fixed noise so
        that the action is a function of the observation alone
    :param sampling_dtype: dtype of the denoiser while sampling candidates: ``"float32"`` (exact, default)
        or ``"bfloat16"`` (faster where the CPU or GPU has bfloat16 matrix units; float32 with a warning
        elsewhere). Training losses and the critics stay in float32.
    :param compile_sampler: run the sampling loop through ``torch.compile`` (with CUDA graphs on CUDA).
        Off by default: the first call per batch size compiles, which takes tens of seconds on CPU.
    :param n_sampling_steps: S, reverse steps whenever actions are sampled (candidates, targets,
        behaviour, evaluation): DDIM (Song et al. 2021) over S evenly spaced of the T trained steps.
        Default: T, the paper's DDPM sampler; training always uses all T.
    :param sampling_eta: DDIM's eta: 0 is the deterministic DDIM sampler, 1 (default) adds DDPM's amount
        of noise (with S = T, exactly DDPM)
    :param sampling_backend: how candidates are sampled and scored: ``"fast"`` (default) or ``"plain"``, the
        straightforward computation the fast one is held to (float32, eager; for checking and timing)

    The last seven (``n_behavior_candidates`` to ``sampling_backend``) only change how actions are drawn: they form
    the policy's :class:`~sb3_qvpo.acting.ActingSettings` (``policy.acting``), which
    :meth:`set_acting_settings` changes on a trained policy (``QVPO.set_acting_settings`` also keeps them for ``save``).
    """

    actor: DiffusionActor
    actor_target: DiffusionActor
    critic: ContinuousCritic
    critic_target: ContinuousCritic

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.Mish,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 2,
        share_features_extractor: bool = False,
        n_diffusion_steps: int = 20,
        beta_schedule: str = "cosine",
        n_behavior_candidates: int = 4,
        n_eval_candidates: int = 32,
        sampling_dtype: str = "float32",
        compile_sampler: bool = False,
        n_sampling_steps: int | None = None,
        sampling_eta: float = 1.0,
        sampling_backend: str = "fast",
    ):
        acting = ActingSettings(
            n_behavior_candidates=n_behavior_candidates,
            n_eval_candidates=n_eval_candidates,
            n_sampling_steps=n_sampling_steps,
            sampling_eta=sampling_eta,
            sampling_dtype=sampling_dtype,
            compile_sampler=compile_sampler,
            sampling_backend=sampling_backend,
        ).checked(n_diffusion_steps)
        if optimizer_kwargs is None:
            optimizer_kwargs = {"eps": 1e-5}
        super().__init__(
            observation_space,
            action_space,
            features_extractor_class,
            features_extractor_kwargs,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            squash_output=True,
            normalize_images=normalize_images,
        )
        if net_arch is None:
            net_arch = [256, 256, 256]
        actor_arch, critic_arch = get_actor_critic_arch(net_arch)

        self.net_arch = net_arch
        self.activation_fn = activation_fn
        self.n_diffusion_steps = n_diffusion_steps
        self.beta_schedule = beta_schedule
        self.acting = acting
        self.share_features_extractor = share_features_extractor
        self.scorer = make_scorer(acting.sampling_backend)
        net_args = {
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "activation_fn": activation_fn,
            "normalize_images": normalize_images,
        }
        self.actor_kwargs = {
            **net_args,
            "net_arch": actor_arch,
            "n_diffusion_steps": n_diffusion_steps,
            "beta_schedule": beta_schedule,
            "acting": acting,
        }
        self.critic_kwargs = {
            **net_args,
            "net_arch": critic_arch,
            "n_critics": n_critics,
            "share_features_extractor": share_features_extractor,
        }
        self._build(lr_schedule)

    def _build(self, lr_schedule: Schedule) -> None:
        self.actor = self.make_actor()
        self.actor_target = self.make_actor()
        self.actor_target.load_state_dict(self.actor.state_dict())
        self.actor.optimizer = self.optimizer_class(
            self.actor.parameters(),
            lr=lr_schedule(1),  # type: ignore[call-arg]
            **self.optimizer_kwargs,
        )

        if self.share_features_extractor:
            self.critic = self.make_critic(features_extractor=self.actor.features_extractor)
            self.critic_target = self.make_critic(features_extractor=self.actor_target.features_extractor)
        else:
            self.critic = self.make_critic()
            self.critic_target = self.make_critic()
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic.optimizer = self.optimizer_class(
            self.critic.parameters(),
            lr=lr_schedule(1),  # type: ignore[call-arg]
            **self.optimizer_kwargs,
        )

        # Target networks are never trained directly
        self.actor_target.set_training_mode(False)
        self.critic_target.set_training_mode(False)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
                net_arch=self.net_arch,
                activation_fn=self.activation_fn,
                n_critics=self.critic_kwargs["n_critics"],
                lr_schedule=self._dummy_schedule,
                optimizer_class=self.optimizer_class,
                optimizer_kwargs=self.optimizer_kwargs,
                features_extractor_class=self.features_extractor_class,
                features_extractor_kwargs=self.features_extractor_kwargs,
                share_features_extractor=self.share_features_extractor,
                n_diffusion_steps=self.n_diffusion_steps,
                beta_schedule=self.beta_schedule,
                **dataclasses.asdict(self.acting),
            )
        )
        return data

    def set_acting_settings(self, **changes: Any) -> None:
        """
        Change how the policy acts (names of :data:`~sb3_qvpo.acting.ACTING_SETTINGS`), checked first; the
        actors' reverse schedules are rebuilt. What was trained is untouched.
        """
        self.acting = self.acting.replaced(self.n_diffusion_steps, **changes)
        self.actor_kwargs["acting"] = self.acting
        self.scorer = make_scorer(self.acting.sampling_backend)
        for actor in (self.actor, self.actor_target):
            actor.set_acting(self.acting)

    # the acting settings, read from the one record (change them with set_acting_settings)
    n_behavior_candidates = acting_field("n_behavior_candidates")
    n_eval_candidates = acting_field("n_eval_candidates")
    n_sampling_steps = acting_field("n_sampling_steps")
    sampling_eta = acting_field("sampling_eta")
    sampling_dtype = acting_field("sampling_dtype")
    compile_sampler = acting_field("compile_sampler")
    sampling_backend = acting_field("sampling_backend")

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> DiffusionActor:
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return DiffusionActor(**actor_kwargs).to(self.device)

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> ContinuousCritic:
        critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        return ContinuousCritic(**critic_kwargs).to(self.device)

    def sample_and_score(
        self,
        obs: PyTorchObs,
        n_candidates: int,
        target: bool = False,
        noise: th.Tensor | None = None,
    ) -> tuple[th.Tensor, th.Tensor]:
        """
        Draw K actions per state from the actor and score them with the minimum over the critics (no gradient).

        :param obs: observations, batch size B
        :param n_candidates: K
        :param target: use the target actor and the target critic
        :param noise: optional reverse-process noise, shape (S + 1, B * K, A)
        :return: the candidates (B, K, A) and their min-Q values (B, K)
        """
        actor, critic = (self.actor_target, self.critic_target) if target else (self.actor, self.critic)
        with th.no_grad():
            candidates = actor.sample(obs, n_candidates, noise)
            return candidates, self.score_candidates(critic, obs, candidates)

    def score_candidates(self, critic: ContinuousCritic, obs: PyTorchObs, candidates: th.Tensor) -> th.Tensor:
        """
        ``min_i Q_i(s, a)`` of candidate actions (no gradient): the critic's features of each state, once, then
        the backend's scorer. The same values as ``critic(repeated obs, actions)``.

        :param obs: observations, batch size B
        :param candidates: actions, shape (B, K, A)
        :return: shape (B, K)
        """
        with th.no_grad():
            features = critic.extract_features(obs, critic.features_extractor)
            return self.scorer(critic.q_networks, features, candidates)

    def best_of_candidates(
        self,
        obs: PyTorchObs,
        n_candidates: int,
        target: bool = False,
        noise: th.Tensor | None = None,
    ) -> tuple[th.Tensor, th.Tensor]:
        """
        Best-of-K selection: draw K actions per state, keep the one with the highest min-Q.

        :param obs: observations, batch size B
        :param n_candidates: K
        :param target: use the target actor and the target critic
        :param noise: optional reverse-process noise, shape (S + 1, B * K, A)
        :return: the chosen actions (B, A) and their min-Q values (B, 1)
        """
        candidates, q_values = self.sample_and_score(obs, n_candidates, target, noise)
        with th.no_grad():
            best_q, best_index = q_values.max(dim=1)
            best_actions = candidates[th.arange(candidates.shape[0], device=candidates.device), best_index]
        return best_actions, best_q.unsqueeze(1)

    def eval_noise(self, n_states: int) -> th.Tensor:
        """
        The fixed candidate noise of ``deterministic=True``: one draw of shape (S + 1, K_eval, A)
        from a generator seeded with ``EVAL_NOISE_SEED``, the same for every state.

        :return: shape (S + 1, n_states * K_eval, A)
        """
        generator = th.Generator().manual_seed(EVAL_NOISE_SEED)
        n_steps = self.actor.reverse_schedule.n_steps
        noise = draw_sampling_noise(n_steps, self.n_eval_candidates, self.actor.action_dim, th.device("cpu"), generator)
        noise = noise.to(self.device)
        return noise.unsqueeze(1).expand(-1, n_states, -1, -1).reshape(noise.shape[0], -1, noise.shape[2])

    def forward(self, obs: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self._predict(obs, deterministic=deterministic)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        values = observation.values() if isinstance(observation, dict) else [observation]
        if not all(bool(th.isfinite(value).all()) for value in values):
            raise ValueError("QVPO: the observation contains NaN or infinite values; no action is drawn for it")
        if deterministic:
            n_states = len(next(iter(observation.values()))) if isinstance(observation, dict) else len(observation)
            actions, _ = self.best_of_candidates(observation, self.n_eval_candidates, noise=self.eval_noise(n_states))
        else:
            actions, _ = self.best_of_candidates(observation, self.n_behavior_candidates)
        return actions

    def set_training_mode(self, mode: bool) -> None:
        """
        Put the policy in either training or evaluation mode.

        :param mode: if true, set to training mode, else set to evaluation mode
        """
        self.actor.set_training_mode(mode)
        self.critic.set_training_mode(mode)
        self.training = mode


MlpPolicy = DiffusionPolicy


class MultiInputPolicy(DiffusionPolicy):
    """
    :class:`DiffusionPolicy` for Dict observation spaces, with SB3's ``CombinedExtractor``.
    Parameters are those of :class:`DiffusionPolicy`.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.Mish,
        features_extractor_class: type[BaseFeaturesExtractor] = CombinedExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 2,
        share_features_extractor: bool = False,
        n_diffusion_steps: int = 20,
        beta_schedule: str = "cosine",
        n_behavior_candidates: int = 4,
        n_eval_candidates: int = 32,
        sampling_dtype: str = "float32",
        compile_sampler: bool = False,
        n_sampling_steps: int | None = None,
        sampling_eta: float = 1.0,
        sampling_backend: str = "fast",
    ):
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch,
            activation_fn,
            features_extractor_class,
            features_extractor_kwargs,
            normalize_images,
            optimizer_class,
            optimizer_kwargs,
            n_critics,
            share_features_extractor,
            n_diffusion_steps,
            beta_schedule,
            n_behavior_candidates,
            n_eval_candidates,
            sampling_dtype,
            compile_sampler,
            n_sampling_steps,
            sampling_eta,
            sampling_backend,
        )
