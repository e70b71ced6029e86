"""
Command line: rl-zoo3's scripts with QVPO registered.

    python -m sb3_qvpo.zoo train --env Pendulum-v1            # --algo qvpo and the shipped -conf by default
    python -m sb3_qvpo.zoo enjoy --env Pendulum-v1 -f logs/ --load-best
    python -m sb3_qvpo.zoo record_video --env Pendulum-v1 -f logs/ -n 1000
    python -m sb3_qvpo.zoo plot_train -a qvpo -e Pendulum-v1 -f logs/
    python -m sb3_qvpo.zoo all_plots -a qvpo -e Pendulum-v1 -f logs/
    python -m sb3_qvpo.zoo report -a qvpo sac -e Pendulum-v1 -f logs/ -o report/   # PNG curves, IQM table

Every rl-zoo3 argument is passed on unchanged. Additions: ``--algo`` defaults to ``qvpo``;
for QVPO, ``train`` reads the shipped ``hyperparams/qvpo.yml`` unless ``-conf`` is given (a shipped file
may be named without its path: ``-conf qvpo_mujoco_cpu``), and
accepts ``--n-envs N`` as a shortcut for ``-params n_envs:N``; ``enjoy`` and ``record_video`` take
``-params NAME:VALUE ...`` with acting settings of the loaded model (e.g. ``n_sampling_steps:5``).
"""

import os
import runpy
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import yaml

from sb3_qvpo.acting import ACTING_SETTINGS
from sb3_qvpo.zoo.registration import ALGO_NAME, DEFAULT_CONFIG, register_qvpo

SHIPPED_CONFIGS = DEFAULT_CONFIG.parent

COMMANDS = ("train", "enjoy", "record_video", "plot_train", "plot_from_file", "all_plots", "report")
# Commands whose --algo defaults to QVPO
ALGO_COMMANDS = ("train", "enjoy", "record_video")

USAGE = f"""usage: python -m sb3_qvpo.zoo {{{",".join(COMMANDS)}}} [rl-zoo3 arguments]

rl-zoo3 with QVPO registered as --algo {ALGO_NAME} (the default algorithm here).
train without -conf reads {DEFAULT_CONFIG}.
Run `python -m sb3_qvpo.zoo <command> -h` for the arguments of a command."""


def _option_value(args: list[str], names: tuple[str, ...]) -> str | None:
    """Value of the last ``--name value`` or ``--name=value`` in ``args``."""
    value = None
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                value = args[index + 1]
            elif arg.startswith(name + "="):
                value = arg.split("=", 1)[1]
    return value


def _has_config(args: list[str]) -> bool:
    # argparse also accepts unambiguous prefixes of --conf-file
    return any(arg == "-conf" or arg.startswith(("-conf=", "--conf")) for arg in args)


def _n_envs_to_hyperparams(args: list[str]) -> list[str]:
    """Rewrite ``--n-envs N`` into rl-zoo3's ``-params n_envs:N`` (train has no --n-envs)."""
    n_envs = _option_value(args, ("--n-envs",))
    if n_envs is None:
        return args
    rest: list[str] = []
    skip = False
    for index, arg in enumerate(args):
        if skip:
            skip = False
        elif arg == "--n-envs":
            skip = index + 1 < len(args)
        elif not arg.startswith("--n-envs="):
            rest.append(arg)
    for index, arg in enumerate(rest):
        if arg in ("-params", "--hyperparams"):
            return [*rest[: index + 1], f"n_envs:{int(n_envs)}", *rest[index + 1 :]]
    return [*rest, "-params", f"n_envs:{int(n_envs)}"]


def pop_acting_settings(args: list[str]) -> tuple[list[str], dict[str, Any]]:
    """
    ``-params NAME:VALUE ...`` of enjoy and record_video (which rl-zoo3 does not have there): the acting
    settings of the loaded model, values read as YAML scalars; anything but an acting setting is refused.
    """
    rest, acting = [], {}
    items = iter(args)
    for arg in items:
        if arg not in ("-params", "--hyperparams"):
            rest.append(arg)
            continue
        for item in items:
            if item.startswith("-"):
                rest.append(item)
                break
            name, sep, value = item.partition(":")
            if not sep or name not in ACTING_SETTINGS:
                raise SystemExit(f"error: -params {item!r}: here NAME:VALUE of an acting setting only, {ACTING_SETTINGS}")
            acting[name] = yaml.safe_load(value)
    return rest, acting


def shipped_config(name: str) -> str:
    """
    ``-conf NAME``: a hyperparameter file shipped with the package, named without its folder or extension
    (``qvpo``, ``qvpo_mujoco_cpu``), or a path as rl-zoo3 takes it. A name that is neither is refused.
    """
    if Path(name).exists() or name.endswith((".yml", ".yaml", ".py")) or "/" in name or "." in name:
        return name
    path = SHIPPED_CONFIGS / f"{name}.yml"
    if not path.exists():
        shipped = sorted(config.stem for config in SHIPPED_CONFIGS.glob("*.yml"))
        raise SystemExit(f"error: -conf {name!r} is neither a file nor a shipped configuration ({', '.join(shipped)})")
    return str(path)


def _with_shipped_config(args: list[str]) -> list[str]:
    names = ("-conf", "--conf-file")
    rest = list(args)
    for index, arg in enumerate(rest):
        if arg in names and index + 1 < len(rest):
            rest[index + 1] = shipped_config(rest[index + 1])
        elif arg.startswith(tuple(f"{name}=" for name in names)):
            option, value = arg.split("=", 1)
            rest[index] = f"{option}={shipped_config(value)}"
    return rest


def keep_password_out_of_records(args: list[str]) -> list[str]:
    """
    A password in ``--storage postgresql://user:PASSWORD@host/db`` goes to PostgreSQL's client through the
    ``PGPASSWORD`` environment variable instead, and the URL loses it: rl-zoo3 records the command line in the
    study's ``command`` attribute, each run's ``command.txt`` and ``args.yml``, where it would stay in clear.
    """
    rest = list(args)
    for index, arg in enumerate(rest):
        option, value = (arg, rest[index + 1] if index + 1 < len(rest) else "") if arg == "--storage" else (None, "")
        if arg.startswith("--storage="):
            option, value = arg.split("=", 1)
        if option is None:
            continue
        url = urlsplit(value)
        if not url.scheme.startswith("postgresql") or url.password is None:
            continue
        os.environ["PGPASSWORD"] = unquote(url.password)
        user = f"{url.username}@" if url.username else ""
        host = url.netloc.rsplit("@", 1)[1]
        scrubbed = urlunsplit(url._replace(netloc=f"{user}{host}"))
        if arg == "--storage":
            rest[index + 1] = scrubbed
        else:
            rest[index] = f"--storage={scrubbed}"
        sys.orig_argv = [item.replace(value, scrubbed) for item in sys.orig_argv]
        print("The password of --storage goes to PostgreSQL through PGPASSWORD, not into the study or the run's files")
    return rest


def prepare_arguments(command: str, args: list[str]) -> list[str]:
    """The rl-zoo3 arguments of ``command`` with this wrapper's defaults filled in."""
    args = list(args)
    if command in ALGO_COMMANDS and _option_value(args, ("--algo",)) is None:
        args = ["--algo", ALGO_NAME, *args]
    if command == "train" and _option_value(args, ("--algo",)) == ALGO_NAME:
        args = _with_shipped_config(_n_envs_to_hyperparams(args))
        if not _has_config(args):
            args = [*args, "-conf", str(DEFAULT_CONFIG)]
    return args


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return
    command, args = argv[0], argv[1:]
    if command not in COMMANDS:
        raise SystemExit(f"Unknown command {command!r}: use one of {', '.join(COMMANDS)}\n\n{USAGE}")

    acting: dict[str, Any] = {}
    if command == "report":
        from sb3_qvpo.zoo.report import report

        report(args)
        return
    if command == "train":
        args = keep_password_out_of_records(args)
    if command in ("enjoy", "record_video"):
        args, acting = pop_acting_settings(args)
    register_qvpo(acting)
    sys.argv = [f"sb3_qvpo.zoo {command}", *prepare_arguments(command, args)]
    if command == "train":
        from rl_zoo3.train import train

        train()
    elif command == "enjoy":
        from rl_zoo3.enjoy import enjoy

        enjoy()
    elif command == "record_video":
        # rl-zoo3's record_video only runs as __main__
        runpy.run_module("rl_zoo3.record_video", run_name="__main__", alter_sys=True)
    else:
        from rl_zoo3 import plots

        getattr(plots, command)()


if __name__ == "__main__":
    main()
