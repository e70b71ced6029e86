"""
Optuna search space of QVPO for ``rl_zoo3 -optimize``, and the converter that turns a stored
trial's parameters back into QVPO hyperparameters (``--trial-id``).

The diffusion settings (``n_diffusion_steps``, candidate counts) are QVPO arguments and are
returned at the top level; only the network settings go into ``policy_kwargs``. rl-zoo3 replaces
the YAML's ``policy_kwargs`` with the sampled ones, so :func:`merge_policy_kwargs` puts the
sampled keys on top of the YAML's (the zoo wrapper does this for you).
"""

from typing import Any

import optuna

# Sampled net sizes, for both the denoiser and the critics; "large" is the paper's.
NET_ARCHS: dict[str, list[int]] = {
    "small": [64, 64],
    "medium": [256, 256],
    "large": [256, 256, 256],
}

# The choices are kept to what a CPU can afford: the cost of an update grows with
# batch_size * n_train_candidates * n_diffusion_steps.
SEARCH_SPACE: dict[str, list[Any]] = {
    "batch_size": [64, 128, 256],
    "n_diffusion_steps": [5, 10, 20],
    "n_train_candidates": [8, 16, 32, 64],
    "n_kept_candidates": [1, 2, 4],
    "n_behavior_candidates": [1, 2, 4, 8],
    "n_target_candidates": [1, 4, 8],
    "weight_transform": ["advantage", "exp"],
    "net_arch": list(NET_ARCHS),
}

# ent_coef decays linearly to ent_coef * ENT_COEF_DECAY (the paper: 0.02 -> 0.002)
ENT_COEF_DECAY = 0.1


def sample_qvpo_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """
    Sample QVPO hyperparameters: learning rates, candidate counts, diffusion steps, entropy
    coefficient, weight transform, batch size, tau, gamma and the net size.

    The signature is the one rl-zoo3 calls (``n_actions``, ``n_envs`` and ``additional_args`` are unused).

    :return: keyword arguments of QVPO
    """
    params: dict[str, Any] = {
        "one_minus_gamma": trial.suggest_float("one_minus_gamma", 0.001, 0.03, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 3e-3, log=True),
        "actor_learning_rate": trial.suggest_float("actor_learning_rate", 3e-5, 1e-3, log=True),
        "tau": trial.suggest_float("tau", 0.001, 0.05, log=True),
        "ent_coef": trial.suggest_float("ent_coef", 1e-3, 0.1, log=True),
    }
    for name, choices in SEARCH_SPACE.items():
        params[name] = trial.suggest_categorical(name, choices)
    if params["weight_transform"] == "exp":
        params["exp_beta"] = trial.suggest_float("exp_beta", 0.1, 10.0, log=True)
    hyperparams = convert_qvpo_params(params)
    trial.set_user_attr("gamma", hyperparams["gamma"])
    return hyperparams


def convert_qvpo_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """
    Turn sampled (or stored) trial parameters into QVPO keyword arguments.

    :param sampled_params: the trial's ``params``, as :func:`sample_qvpo_params` names them
    :return: keyword arguments of QVPO, with ``policy_kwargs`` holding the net size only
    """
    hyperparams = dict(sampled_params)
    hyperparams["gamma"] = 1.0 - hyperparams.pop("one_minus_gamma")
    hyperparams["policy_kwargs"] = {"net_arch": list(NET_ARCHS[hyperparams.pop("net_arch")])}
    if "ent_coef" in hyperparams:
        hyperparams["ent_coef_min"] = hyperparams["ent_coef"] * ENT_COEF_DECAY
    exp_beta = hyperparams.pop("exp_beta", None)
    if hyperparams.get("weight_transform") == "exp" and exp_beta is not None:
        hyperparams["weight_transform_kwargs"] = {"beta": exp_beta}
    return hyperparams


def merge_policy_kwargs(base: dict[str, Any] | None, sampled: dict[str, Any] | None) -> dict[str, Any]:
    """
    The YAML's ``policy_kwargs`` with the sampled keys on top (a sampled ``net_arch`` replaces
    the YAML's; an ``activation_fn`` or ``optimizer_kwargs`` of the YAML is kept).
    """
    return {**(base or {}), **(sampled or {})}
