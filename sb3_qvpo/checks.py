"""Checks of QVPO's arguments: a bad one is refused with an error that names it and says why."""

from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.type_aliases import Schedule

from sb3_qvpo.diffusion import check_beta_schedule
from sb3_qvpo.weights import check_weight_transform


def check_action_space(action_space: spaces.Space) -> None:
    """QVPO acts in a bounded continuous box; anything else is refused with the reason."""
    if not isinstance(action_space, spaces.Box):
        raise ValueError(
            f"QVPO needs a continuous Box action space, got {action_space}: "
            "the diffusion policy generates real-valued actions in a bounded box"
        )
    if not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
        raise ValueError(
            f"QVPO needs finite action bounds, got low={action_space.low}, high={action_space.high}: "
            "actions are generated in [-1, 1] and rescaled to the bounds"
        )


def check_positive_count(name: str, value: Any) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_qvpo_arguments(
    *,
    n_diffusion_steps: int,
    beta_schedule: str,
    n_train_candidates: int,
    n_kept_candidates: int,
    n_target_candidates: int,
    n_uniform_samples: int,
    ent_coef: float | Schedule,
    ent_coef_min: float,
    ent_coef_decay_steps: int | None,
    weight_transform: str,
    max_grad_norm: float,
    batch_size: int,
    tau: float,
    gamma: float,
    n_steps: int,
) -> None:
    """Refuse QVPO settings that cannot work, naming the argument and the reason."""
    positive = {
        "n_diffusion_steps": n_diffusion_steps,
        "n_train_candidates": n_train_candidates,
        "n_kept_candidates": n_kept_candidates,
        "n_target_candidates": n_target_candidates,
        "batch_size": batch_size,
        "n_steps": n_steps,
    }
    for name, value in positive.items():
        check_positive_count(name, value)
    if not isinstance(n_uniform_samples, (int, np.integer)) or n_uniform_samples < 0:
        raise ValueError(f"n_uniform_samples must be a non-negative integer, got {n_uniform_samples!r}")
    if n_kept_candidates > n_train_candidates:
        raise ValueError(f"n_kept_candidates ({n_kept_candidates}) cannot exceed n_train_candidates ({n_train_candidates})")
    check_beta_schedule(beta_schedule)
    check_weight_transform(weight_transform)
    if isinstance(ent_coef, str):
        raise ValueError(
            f"ent_coef={ent_coef!r}: QVPO has no automatic entropy tuning (SAC's 'auto'); give a float (the "
            "paper's 0.02, decaying to ent_coef_min) or a schedule of the remaining progress"
        )
    if not callable(ent_coef):
        if not (isinstance(ent_coef, (int, float, np.floating)) and np.isfinite(ent_coef) and ent_coef >= 0):
            raise ValueError(f"ent_coef must be a finite float >= 0 or a schedule, got {ent_coef!r}")
        if not 0 <= ent_coef_min <= ent_coef:
            raise ValueError(f"ent_coef_min must be in [0, ent_coef] = [0, {ent_coef}], got {ent_coef_min!r}")
    if ent_coef_decay_steps is not None:
        check_positive_count("ent_coef_decay_steps", ent_coef_decay_steps)
    if not max_grad_norm > 0:
        raise ValueError(f"max_grad_norm must be > 0, got {max_grad_norm!r}")
    if not (isinstance(tau, (int, float)) and 0.0 < tau <= 1.0):
        raise ValueError(f"tau must be in (0, 1] (the share of the online networks in each target update), got {tau!r}")
    if not (isinstance(gamma, (int, float)) and 0.0 <= gamma <= 1.0):
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")


def check_net_arch(net_arch: Any) -> None:
    """Refuse hidden layer sizes that are not positive integers, naming them."""
    layers = [*net_arch.get("pi", []), *net_arch.get("qf", [])] if isinstance(net_arch, dict) else list(net_arch)
    for size in layers:
        check_positive_count("every net_arch layer size", size)
