"""
Checks of a QVPO hyperparameter file, so that a typo stops the run with a message that names it
(rl-zoo3 silently ignores an unknown env id, and ``QVPO.load`` silently accepts any keyword).
"""

import ast
import difflib
import inspect
from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml
from torch import nn

from sb3_qvpo import QVPO
from sb3_qvpo.acting import ACTING_SETTINGS

# Keys that rl-zoo3 reads itself and removes before building the model.
ZOO_KEYS = frozenset(
    {
        "n_timesteps",
        "n_envs",
        "normalize",
        "env_wrapper",
        "vec_env_wrapper",
        "callback",
        "frame_stack",
        "monitor_kwargs",
        "env_kwargs",
        "noise_type",
        "noise_std",
    }
)
# QVPO arguments that rl-zoo3 sets from its command line.
COMMAND_LINE_KEYS = frozenset({"env", "tensorboard_log", "seed", "verbose", "device", "_init_setup_model"})
# Top-level keys of a hyperparameter file that are not env ids.
SPECIAL_ENTRIES = frozenset({"default", "atari"})


def qvpo_argument_names() -> set[str]:
    """Keyword arguments of ``QVPO.__init__`` that a hyperparameter file may set."""
    return set(inspect.signature(QVPO.__init__).parameters) - {"self"} - COMMAND_LINE_KEYS


def check_hyperparams(hyperparams: dict[str, Any], where: str) -> None:
    """
    Refuse unknown hyperparameter names, naming them.

    :param hyperparams: one entry of a hyperparameter file (possibly with command-line overrides)
    :param where: what to call the entry in the message, e.g. ``"hyperparams/qvpo.yml, Hopper-v5"``
    """
    if not isinstance(hyperparams, dict):
        raise ValueError(f"{where}: expected a mapping of hyperparameters, got {hyperparams!r}")
    allowed = qvpo_argument_names() | ZOO_KEYS | set(ACTING_SETTINGS)
    for name in hyperparams:
        if name in COMMAND_LINE_KEYS:
            raise ValueError(f"{where}: hyperparameter {name!r} cannot be set in the file; it comes from the command line")
        if name not in allowed:
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"{where}: unknown hyperparameter {name!r} for QVPO{hint}")


def place_acting_settings(hyperparams: dict[str, Any], continuing: bool) -> dict[str, Any]:
    """
    Acting settings written at the top level (``-params n_sampling_steps:5``): for a new model, those that are
    not QVPO arguments go into ``policy_kwargs``, where the policy takes them; a continued run
    (``--trained-agent``) keeps them at the top level, where ``QVPO.load`` applies them to the loaded policy.
    """
    moved = {name: hyperparams[name] for name in ACTING_SETTINGS if name in hyperparams and name not in qvpo_argument_names()}
    if continuing or not moved:
        return hyperparams
    policy_kwargs = parse_policy_kwargs(hyperparams.get("policy_kwargs"))
    both = sorted(set(moved) & set(policy_kwargs))
    if both:
        raise ValueError(f"{both} set both at the top level and in policy_kwargs: keep one")
    rest = {name: value for name, value in hyperparams.items() if name not in moved}
    return {**rest, "policy_kwargs": {**policy_kwargs, **moved}}


def check_env_id(env_id: str, where: str) -> None:
    """Refuse an env id that gymnasium does not know, naming it."""
    if env_id in SPECIAL_ENTRIES or env_id in gym.envs.registry:
        return
    close = difflib.get_close_matches(env_id, gym.envs.registry.keys(), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"{where}: unknown env id {env_id!r} (not registered in gymnasium){hint}")


def check_hyperparams_dict(config: dict[str, Any], source: str) -> None:
    """Check every entry of a hyperparameter file: its env id and its hyperparameter names."""
    if not isinstance(config, dict):
        raise ValueError(f"{source}: expected a mapping from env ids to hyperparameters")
    for env_id, hyperparams in config.items():
        check_env_id(str(env_id), source)
        check_hyperparams(hyperparams, f"{source}, {env_id}")


def check_hyperparams_file(path: str | Path) -> dict[str, Any]:
    """Load a YAML hyperparameter file, check it, and return its content."""
    with open(path) as file:
        config = yaml.safe_load(file)
    check_hyperparams_dict(config, str(path))
    return config


def _policy_kwargs_value(node: ast.expr, text: str) -> Any:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
        return {str(keyword.arg): _policy_kwargs_value(keyword.value, text) for keyword in node.keywords}
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "nn":
        module = getattr(nn, node.attr, None)
        if isinstance(module, type) and issubclass(module, nn.Module):
            return module
    if isinstance(node, ast.List):
        return [_policy_kwargs_value(element, text) for element in node.elts]
    if isinstance(node, ast.Dict):
        return {
            _policy_kwargs_value(key, text): _policy_kwargs_value(value, text)
            for key, value in zip(node.keys, node.values, strict=True)
            if key is not None
        }
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ValueError(
            f"policy_kwargs {text!r}: {ast.unparse(node)!r} is not supported; use literals, dict(...), "
            "lists and torch.nn classes such as nn.Mish"
        ) from None


def parse_policy_kwargs(policy_kwargs: str | dict[str, Any] | None) -> dict[str, Any]:
    """
    ``policy_kwargs`` of a hyperparameter file as a dict. rl-zoo3 writes them as a Python string such as
    ``"dict(net_arch=[64, 64], activation_fn=nn.Mish)"``; this reads that form without evaluating code:
    only ``dict(...)``, literals, lists and ``nn.<Module class>`` are accepted.
    """
    if policy_kwargs is None:
        return {}
    if isinstance(policy_kwargs, dict):
        return dict(policy_kwargs)
    value = _policy_kwargs_value(ast.parse(policy_kwargs, mode="eval").body, policy_kwargs)
    if not isinstance(value, dict):
        raise ValueError(f"policy_kwargs {policy_kwargs!r} must describe a dict")
    return value
