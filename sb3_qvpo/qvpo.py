import inspect
import io
import pathlib
import warnings
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.base_class import maybe_make_env
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy, ContinuousCritic
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, PyTorchObs, ReplayBufferSamples, Schedule
from stable_baselines3.common.utils import (
    ConstantSchedule,
    FloatSchedule,
    LinearSchedule,
    get_parameters_by_name,
    polyak_update,
    update_learning_rate,
)
from torch.nn import functional as F

from sb3_qvpo.acting import ACTING_SETTINGS
from sb3_qvpo.actor import DiffusionActor
from sb3_qvpo.checks import check_action_space, check_net_arch, check_qvpo_arguments
from sb3_qvpo.policies import DiffusionPolicy, MlpPolicy, MultiInputPolicy
from sb3_qvpo.weights import QWeightTransform, entropy_sample_weights, keep_best_candidates, uniform_entropy_samples

SelfQVPO = TypeVar("SelfQVPO", bound="QVPO")

# QVPO arguments that are the policy's settings; those that define the trained network cannot change later
POLICY_SETTINGS = ("n_diffusion_steps", "beta_schedule", "n_behavior_candidates", "n_eval_candidates")
TRAINED_POLICY_SETTINGS = ("n_diffusion_steps", "beta_schedule")


def policy_setting(name: str, doc: str) -> Any:
    """A read-only QVPO property: the policy's setting ``name``."""
    return property(lambda self: getattr(self.policy, name), doc=doc)


def acting_setting(name: str) -> Any:
    """A QVPO property for the acting setting ``name``: reads the policy's, and writes through ``set_acting_settings``."""

    def set_(self: "QVPO", value: Any) -> None:
        self.set_acting_settings(**{name: value})

    doc = f"The policy's ``{name}`` (an acting setting: see :meth:`QVPO.set_acting_settings`)."
    return property(lambda self: getattr(self.policy.acting, name), set_, doc=doc)


def check_policy_class(policy: Any, observation_space: Any) -> None:
    """
    QVPO trains a DiffusionPolicy (``"MlpPolicy"``, alias ``"DiffusionPolicy"``, or ``"MultiInputPolicy"`` for
    Dict observations): another class, e.g. the policy of a model saved by SAC, or the Box alias with Dict
    observations, is refused with the reason.
    """
    if isinstance(policy, str):
        if policy in ("MlpPolicy", "DiffusionPolicy") and isinstance(observation_space, spaces.Dict):
            raise ValueError(f"You must use `MultiInputPolicy` when working with dict observation space, not {policy}")
        return
    if not (isinstance(policy, type) and issubclass(policy, DiffusionPolicy)):
        name = getattr(policy, "__name__", repr(policy))
        raise ValueError(
            f"QVPO needs a DiffusionPolicy, got {name}: is this a model saved by another algorithm? "
            "Load it with that algorithm's class (e.g. SAC.load)"
        )
    if isinstance(observation_space, spaces.Dict) and not issubclass(policy, MultiInputPolicy):
        raise ValueError(f"You must use `MultiInputPolicy` when working with dict observation space, not {policy.__name__}")


class QVPO(OffPolicyAlgorithm):
    """
    Q-weighted Variational Policy Optimization (QVPO): online RL with a diffusion policy.

    Paper: Ding et al., "Diffusion-based Reinforcement Learning via Q-weighted Variational Policy
    Optimization", NeurIPS 2024, https://arxiv.org/abs/2405.16173

    Each update (the paper's Algorithm 1): fit twin critics to best-of-K target actions; draw
    ``n_train_candidates`` actions per state from the diffusion policy and keep the best; fit
    the diffusion policy to them with the noise-prediction loss weighted by the clipped
    advantage, plus uniform actions weighted by a decaying entropy coefficient; Polyak-update
    the targets of both. The defaults are the paper's MuJoCo settings.

    Only the arguments that SAC/TD3 do not have are documented in detail; the others behave as
    in Stable-Baselines3.

    :param policy: The policy model to use (DiffusionPolicy / MlpPolicy, MultiInputPolicy)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param learning_rate: learning rate of the critics (Adam), or a schedule of the remaining
        progress (from 1 to 0)
    :param actor_learning_rate: learning rate of the diffusion actor, or a schedule
    :param buffer_size: size of the replay buffer
    :param learning_starts: how many steps of the model to collect transitions for before learning
        starts (actions are uniform random before)
    :param batch_size: minibatch size of the critic update, and number of states whose candidates
        train the actor (a second, independent minibatch)
    :param tau: the soft update coefficient of the critic and actor targets
    :param gamma: the discount factor
    :param train_freq: Update the model every ``train_freq`` steps, or a tuple like ``(5, "step")``
        or ``(2, "episode")``
    :param gradient_steps: How many gradient steps to do after each rollout (``-1``: as many as
        environment steps in the rollout)
    :param action_noise: optional noise added to the behaviour actions
    :param replay_buffer_class: Replay buffer class to use; if ``None``, chosen automatically
    :param replay_buffer_kwargs: Keyword arguments to pass to the replay buffer on creation
    :param optimize_memory_usage: Enable a memory efficient variant of the replay buffer
    :param n_steps: n-step returns for the critic (uses the ``NStepReplayBuffer`` when > 1)
    :param n_diffusion_steps: number of denoising steps T of the diffusion policy
    :param beta_schedule: variance schedule of the diffusion policy: ``"cosine"``, ``"linear"``, ``"vp"``
    :param n_train_candidates: N_train, actions sampled per state to train the actor
    :param n_kept_candidates: how many of them (the highest Q) are fitted per state
    :param n_behavior_candidates: K_b, candidates of the exploration policy
    :param n_target_candidates: K_target, candidates of the target actor in the critic's target
    :param n_eval_candidates: K_eval, candidates of ``predict(deterministic=True)``
    :param n_uniform_samples: N_u, uniform actions per state of the entropy regularisation (0 disables it)
    :param ent_coef: entropy coefficient lambda: a float decays linearly with training progress,
        ``max(ent_coef_min, ent_coef * (1 - progress))``; a callable of the remaining progress is used as is
    :param ent_coef_min: floor of the linearly decaying entropy coefficient (ignored for a callable)
    :param ent_coef_decay_steps: the horizon of lambda's progress, in environment steps: progress is
        ``num_timesteps / ent_coef_decay_steps`` (capped at 1), the same whatever ``learn()``'s budget; the
        paper's is its 1M-step run (``1_000_000``). ``None``: the progress of the ``learn()`` call, as for
        learning-rate schedules
    :param weight_transform: how Q-values become weights: ``"advantage"`` (the paper's clipped
        advantage), ``"relu"``, ``"exp"`` or ``"cut"``
    :param weight_transform_kwargs: parameters of the transform (``relu``: ``q_neg``; ``exp``:
        ``beta``, ``rate``; ``cut``: ``c``)
    :param max_grad_norm: gradient-norm clipping of both actor and critic updates
    :param stats_window_size: Window size for the rollout logging
    :param tensorboard_log: the log location for tensorboard (if None, no logging)
    :param policy_kwargs: additional arguments to be passed to the policy on creation
    :param verbose: Verbosity level: 0 for no output, 1 for info messages, 2 for debug messages
    :param seed: Seed for the pseudo random generators
    :param device: Device (cpu, cuda, ...) on which the code should be run ("auto": GPU if possible)
    :param _init_setup_model: Whether or not to build the network at the creation of the instance
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "DiffusionPolicy": DiffusionPolicy,
        "MlpPolicy": MlpPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: DiffusionPolicy
    actor: DiffusionActor
    actor_target: DiffusionActor
    critic: ContinuousCritic
    critic_target: ContinuousCritic

    def __init__(
        self,
        policy: str | type[DiffusionPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        actor_learning_rate: float | Schedule = 1e-4,
        buffer_size: int = 1_000_000,
        learning_starts: int = 10_000,
        batch_size: int = 256,
        tau: float = 0.005,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | None = None,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        n_diffusion_steps: int = 20,
        beta_schedule: str = "cosine",
        n_train_candidates: int = 64,
        n_kept_candidates: int = 1,
        n_behavior_candidates: int = 4,
        n_target_candidates: int = 4,
        n_eval_candidates: int = 32,
        n_uniform_samples: int = 10,
        ent_coef: float | Schedule = 0.02,
        ent_coef_min: float = 0.002,
        ent_coef_decay_steps: int | None = None,
        weight_transform: str = "advantage",
        weight_transform_kwargs: dict[str, Any] | None = None,
        max_grad_norm: float = 2.0,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ):
        check_qvpo_arguments(
            n_diffusion_steps=n_diffusion_steps,
            beta_schedule=beta_schedule,
            n_train_candidates=n_train_candidates,
            n_kept_candidates=n_kept_candidates,
            n_target_candidates=n_target_candidates,
            n_uniform_samples=n_uniform_samples,
            ent_coef=ent_coef,
            ent_coef_min=ent_coef_min,
            ent_coef_decay_steps=ent_coef_decay_steps,
            weight_transform=weight_transform,
            max_grad_norm=max_grad_norm,
            batch_size=batch_size,
            tau=tau,
            gamma=gamma,
            n_steps=n_steps,
        )
        if env is not None:
            # Checked before SB3's own assertions so that the error explains itself
            env = maybe_make_env(env, verbose)
            check_action_space(env.action_space)
        check_policy_class(policy, env.observation_space if env is not None else None)
        policy_kwargs = dict(policy_kwargs or {})
        if "net_arch" in policy_kwargs:
            check_net_arch(policy_kwargs["net_arch"])
        for name in POLICY_SETTINGS:
            if name in policy_kwargs:
                raise ValueError(f"Pass {name!r} to QVPO directly, not in policy_kwargs")
        # These belong to the policy (through policy_kwargs); QVPO reads them from it (see POLICY_SETTINGS)
        policy_kwargs.update(
            n_diffusion_steps=n_diffusion_steps,
            beta_schedule=beta_schedule,
            n_behavior_candidates=n_behavior_candidates,
            n_eval_candidates=n_eval_candidates,
        )

        super().__init__(
            policy,
            env,
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            tau,
            gamma,
            train_freq,
            gradient_steps,
            action_noise=action_noise,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            seed=seed,
            sde_support=False,
            support_multi_env=True,
        )

        self.actor_learning_rate = actor_learning_rate
        self.n_train_candidates = n_train_candidates
        self.n_kept_candidates = n_kept_candidates
        self.n_target_candidates = n_target_candidates
        self.n_uniform_samples = n_uniform_samples
        self.ent_coef = ent_coef
        self.ent_coef_min = ent_coef_min
        self.ent_coef_decay_steps = ent_coef_decay_steps
        self.weight_transform = weight_transform
        self.weight_transform_kwargs = weight_transform_kwargs
        self.max_grad_norm = max_grad_norm

        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        super()._setup_model()
        self._create_aliases()
        self.actor_lr_schedule = FloatSchedule(self.actor_learning_rate)
        self.ent_coef_schedule = make_ent_coef_schedule(self.ent_coef, self.ent_coef_min)
        self.q_weighting = QWeightTransform(self.weight_transform, self.weight_transform_kwargs).to(self.device)

    def _create_aliases(self) -> None:
        self.actor = self.policy.actor
        self.actor_target = self.policy.actor_target
        self.critic = self.policy.critic
        self.critic_target = self.policy.critic_target
        # Running statistics of batch normalisation (in a features extractor): copied to the targets, as SAC does
        self.batch_norm_stats = get_parameters_by_name(self.critic, ["running_"])
        self.batch_norm_stats_target = get_parameters_by_name(self.critic_target, ["running_"])
        self.actor_batch_norm_stats = get_parameters_by_name(self.actor, ["running_"])
        self.actor_batch_norm_stats_target = get_parameters_by_name(self.actor_target, ["running_"])

    def train(self, gradient_steps: int, batch_size: int = 256) -> None:
        assert self.replay_buffer is not None
        self.policy.set_training_mode(True)
        self._update_learning_rates()
        ent_coef = self.ent_coef_schedule(self._ent_coef_progress_remaining())

        critic_losses, actor_losses, q_means, mean_weights = [], [], [], []
        for _ in range(gradient_steps):
            self._n_updates += 1
            # 1. Critic: regress twin Qs onto best-of-K_target actions of the target actor
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)
            critic_loss, q_mean = self._critic_step(replay_data)

            # 2. Candidates: N_train actions per state from the current actor, scored by min-Q
            states = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env).observations
            candidates, candidate_q = self.policy.sample_and_score(states, self.n_train_candidates)
            kept_actions, kept_q = keep_best_candidates(candidates, candidate_q, self.n_kept_candidates)
            state_values = candidate_q.mean(dim=1, keepdim=True)

            # 3. Q-weights of the kept candidates (clipped advantage by default)
            weights = self.q_weighting(kept_q, state_values, candidate_q)

            # 4. Diffusion entropy regularisation: uniform actions weighted by lambda * w(s)
            uniform_actions = uniform_entropy_samples(
                len(weights), self.n_uniform_samples, kept_actions.shape[2], kept_actions.device
            )
            uniform_weights = entropy_sample_weights(weights, ent_coef, self.n_uniform_samples)

            # 5. Actor: Q-weighted variational loss on kept and uniform samples; then the targets
            actor_loss = self._actor_step(
                states,
                th.cat((kept_actions, uniform_actions), dim=1),
                th.cat((weights, uniform_weights), dim=1),
            )
            polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)
            polyak_update(self.actor.parameters(), self.actor_target.parameters(), self.tau)
            polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)
            polyak_update(self.actor_batch_norm_stats, self.actor_batch_norm_stats_target, 1.0)

            critic_losses.append(critic_loss)
            actor_losses.append(actor_loss)
            q_means.append(q_mean)
            mean_weights.append(weights.mean().item())

        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/critic_loss", np.mean(critic_losses))
        self.logger.record("train/actor_loss", np.mean(actor_losses))
        self.logger.record("train/entropy_coef", ent_coef)
        self.logger.record("train/mean_weight", np.mean(mean_weights))
        self.logger.record("train/q_mean", np.mean(q_means))

    def _ent_coef_progress_remaining(self) -> float:
        """The remaining progress (1 to 0) of the entropy coefficient: over its own horizon, or over learn()'s."""
        if self.ent_coef_decay_steps is None:
            return self._current_progress_remaining
        return max(0.0, 1.0 - self.num_timesteps / self.ent_coef_decay_steps)

    def _update_learning_rates(self) -> None:
        self._update_learning_rate(self.critic.optimizer)
        actor_lr = self.actor_lr_schedule(self._current_progress_remaining)
        update_learning_rate(self.actor.optimizer, actor_lr)
        self.logger.record("train/actor_learning_rate", actor_lr)

    def _critic_step(self, replay_data: ReplayBufferSamples) -> tuple[float, float]:
        """Twin-critic TD update with best-of-K_target target actions. Returns the loss and mean Q."""
        discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
        with th.no_grad():
            _, next_q = self.policy.best_of_candidates(replay_data.next_observations, self.n_target_candidates, target=True)
            target_q = replay_data.rewards + (1 - replay_data.dones) * discounts * next_q

        current_q = self.critic(replay_data.observations, replay_data.actions)
        critic_loss = sum(F.mse_loss(q, target_q) for q in current_q)
        assert isinstance(critic_loss, th.Tensor)
        self._optimize(critic_loss, self.critic, "critic loss")
        return critic_loss.item(), current_q[0].mean().item()

    def _actor_step(self, states: PyTorchObs, actions: th.Tensor, weights: th.Tensor) -> float:
        """
        Fit the diffusion policy to ``actions`` (B, M, A) of each state with per-sample ``weights`` (B, M).
        """
        actor_loss = self.actor.weighted_loss(states, actions, weights)
        self._optimize(actor_loss, self.actor, "actor loss")
        return actor_loss.item()

    def _optimize(self, loss: th.Tensor, network: BasePolicy | ContinuousCritic, loss_name: str) -> None:
        if not th.isfinite(loss):
            raise RuntimeError(
                f"QVPO: the {loss_name} is {loss.item()} at update {self._n_updates}; "
                "training stopped instead of continuing on non-finite values"
            )
        network.optimizer.zero_grad()
        loss.backward()
        th.nn.utils.clip_grad_norm_(network.parameters(), self.max_grad_norm)
        network.optimizer.step()

    def learn(
        self: SelfQVPO,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "QVPO",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfQVPO:
        end = total_timesteps + (0 if reset_num_timesteps else self.num_timesteps)
        warned = end <= self.learning_starts
        if warned:
            warnings.warn(
                f"learn({total_timesteps}) ends at step {end}, within the learning_starts={self.learning_starts} "
                "uniformly random steps: the policy will not be trained at all. Lower learning_starts or learn longer.",
                stacklevel=2,
            )
        n_updates = self._n_updates
        super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
        if self._n_updates == n_updates and not warned and self.num_timesteps > 0:
            warnings.warn(
                f"learn() ended at step {self.num_timesteps} without a single gradient update "
                f"(learning_starts={self.learning_starts}, train_freq={self.train_freq}).",
                stacklevel=2,
            )
        return self

    def _excluded_save_params(self) -> list[str]:
        return [
            *super()._excluded_save_params(),
            "actor",
            "actor_target",
            "critic",
            "critic_target",
            "q_weighting",
            "batch_norm_stats",
            "batch_norm_stats_target",
            "actor_batch_norm_stats",
            "actor_batch_norm_stats_target",
        ]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "actor.optimizer", "critic.optimizer", "q_weighting"], []

    # settings owned by the policy
    n_diffusion_steps = policy_setting("n_diffusion_steps", "T, the policy's denoising steps (fixed once built).")
    beta_schedule = policy_setting("beta_schedule", "The policy's variance schedule (fixed once built).")
    n_behavior_candidates = acting_setting("n_behavior_candidates")
    n_eval_candidates = acting_setting("n_eval_candidates")
    n_sampling_steps = acting_setting("n_sampling_steps")
    sampling_eta = acting_setting("sampling_eta")
    sampling_dtype = acting_setting("sampling_dtype")
    compile_sampler = acting_setting("compile_sampler")
    sampling_backend = acting_setting("sampling_backend")

    def set_acting_settings(self, **changes: Any) -> None:
        """
        Change how the trained policy acts, e.g. ``model.set_acting_settings(n_sampling_steps=5,
        sampling_dtype="bfloat16")``: any of :data:`~sb3_qvpo.acting.ACTING_SETTINGS`, checked first. They are
        the policy's (``policy_kwargs`` follows, so that ``save()`` keeps them); nothing that was trained changes.
        """
        self.policy.set_acting_settings(**changes)
        self.policy_kwargs.update(changes)

    @classmethod
    def load(  # type: ignore[override]
        cls: type[SelfQVPO],
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfQVPO:
        """
        SB3's ``load``. Acting settings among ``kwargs`` (:data:`~sb3_qvpo.acting.ACTING_SETTINGS`, e.g.
        ``n_sampling_steps=5, sampling_dtype="bfloat16"``, or what rl-zoo3's ``--trained-agent`` passes) act on
        the loaded policy; ``n_diffusion_steps`` and ``beta_schedule`` define the trained network and a different
        value is refused; so is a keyword that is neither a QVPO argument nor an acting setting (SB3 would store
        it as an attribute that nothing reads).
        """
        unknown = sorted(set(kwargs) - set(QVPO_ARGUMENTS) - set(ACTING_SETTINGS))
        if unknown:
            raise ValueError(
                f"QVPO.load got unknown keyword(s) {unknown}: neither QVPO arguments nor acting settings "
                f"({', '.join(ACTING_SETTINGS)})"
            )
        trained = {name: kwargs.pop(name) for name in TRAINED_POLICY_SETTINGS if name in kwargs}
        acting = {name: kwargs.pop(name) for name in ACTING_SETTINGS if name in kwargs}
        model = super().load(path, env, device, custom_objects, print_system_info, force_reset, **kwargs)
        for name, value in trained.items():
            if value != getattr(model, name):
                raise ValueError(
                    f"{name}={value!r} differs from the loaded model's {getattr(model, name)!r}: "
                    f"{name} defines the trained policy and cannot change at load time"
                )
        if acting:
            model.set_acting_settings(**acting)
        return model


# The keywords of QVPO's constructor, which load() also takes
QVPO_ARGUMENTS = tuple(name for name in inspect.signature(QVPO.__init__).parameters if name not in ("self", "policy", "env"))


def make_ent_coef_schedule(ent_coef: float | Schedule, ent_coef_min: float) -> Schedule:
    """The entropy coefficient as a function of the remaining progress (1 at the start, 0 at the end)."""
    if callable(ent_coef):
        return FloatSchedule(ent_coef)
    if ent_coef == ent_coef_min:
        return ConstantSchedule(float(ent_coef))
    # lambda = max(ent_coef_min, ent_coef * progress_remaining): linear, reaching the floor
    # when a fraction 1 - ent_coef_min / ent_coef of the training is done
    return LinearSchedule(float(ent_coef), float(ent_coef_min), end_fraction=1.0 - ent_coef_min / ent_coef)
