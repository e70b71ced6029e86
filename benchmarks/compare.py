"""
Compare QVPO with Stable-Baselines3 / sb3-contrib algorithms on the same tasks, seeds and step budget.

Every (algo, env, seed) run is a separate process (up to --jobs at a time) that evaluates its deterministic
policy every budget / --n-evals steps through SB3's EvalCallback and appends each evaluation to
OUT/runs/<algo>__<env>__<seed>/evals.csv at once. Every --checkpoint-freq steps a run saves a checkpoint
(model with optimizers and targets, replay buffer, elapsed time, evaluation env's generator), atomically.
A finished run leaves done.json beside it. Running the same command again skips finished runs,
resumes interrupted ones from their last checkpoint (the steps after it are trained and evaluated again) and
starts the others from scratch. At the end it writes:

    OUT/results.csv           algo, env, seed, step, mean_return, std_return, wall_s (one row per evaluation)
    OUT/curves_<env>.png      return vs environment steps and vs training wall time (mean over seeds, min-max band)
    OUT/table.md              final and best evaluation return per algo and env: IQM with 95% bootstrap CI

wall_s is the run's wall-clock time up to that evaluation, evaluation time excluded. Examples:

    python benchmarks/compare.py --quick                                   # about a minute
    python benchmarks/compare.py --algos qvpo sac td3 --envs Pendulum-v1 --seeds 0 1 2 --timesteps 10000 --out cmp
    python benchmarks/compare.py --algos qvpo sac --envs Hopper-v5 --timesteps 1000000 --qvpo-settings paper --device cuda
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym

from sb3_qvpo.presets import cpu_preset, mujoco_cpu_preset

# Algorithms by name: module and class, imported only by the process that runs them.
ALGOS = {
    "qvpo": ("sb3_qvpo", "QVPO"),
    "sac": ("stable_baselines3", "SAC"),
    "td3": ("stable_baselines3", "TD3"),
    "ddpg": ("stable_baselines3", "DDPG"),
    "ppo": ("stable_baselines3", "PPO"),
    "a2c": ("stable_baselines3", "A2C"),
    "tqc": ("sb3_contrib", "TQC"),
    "crossq": ("sb3_contrib", "CrossQ"),
}

# QVPO settings. "cpu": the CPU preset (sb3_qvpo.presets.CPU_PRESET, also used by examples/train.py);
# "mujoco-cpu": the MuJoCo CPU preset (sb3_qvpo.presets.MUJOCO_CPU_PRESET);
# "paper": QVPO's defaults, the paper's MuJoCo settings; "quick": for --quick.
QVPO_SETTINGS: dict[str, dict] = {
    "cpu": cpu_preset(),
    "mujoco-cpu": mujoco_cpu_preset(),
    "paper": {},
    "quick": dict(
        learning_starts=200,
        n_diffusion_steps=3,
        n_train_candidates=8,
        n_eval_candidates=8,
        batch_size=64,
        policy_kwargs=dict(net_arch=[32, 32]),
    ),
}

# The other algorithms keep SB3's defaults, except that TD3 and DDPG explore with Gaussian action noise of
# standard deviation 0.1 as in rl-zoo3 (SB3's default is no noise at all).
NOISY_ALGOS = ("td3", "ddpg")

QUICK = dict(algos=["qvpo", "sac"], envs=["Pendulum-v1"], seeds=[0], timesteps=["600"], n_evals=2, eval_episodes=1)
FULL = dict(
    algos=["qvpo", "sac", "td3"],
    envs=["Pendulum-v1", "InvertedPendulum-v5", "Hopper-v5"],
    seeds=[0, 1, 2],
    timesteps=["10000"],
    n_evals=10,
    eval_episodes=5,
)


def run_key(spec: dict) -> str:
    """The run's folder name; ``label`` names the algorithm in every output (the algorithm's name by default)."""
    return f"{spec['label']}__{spec['env'].replace('/', '_')}__{spec['seed']}"


def register_package_envs() -> None:
    import sb3_qvpo.envs  # noqa: F401  (registers sb3_qvpo/... tasks)


# ---------------------------------------------------------------------------------------------------------
# One run, in its own process
# ---------------------------------------------------------------------------------------------------------


def algo_class_of(spec: dict):
    import importlib

    module_name, class_name = ALGOS[spec["algo"]]
    return getattr(importlib.import_module(module_name), class_name)


# rl-zoo3 keys that are not constructor arguments, and those this script does not support
ZOO_RUNNER_KEYS = ("n_timesteps", "policy", "n_envs")
ZOO_UNSUPPORTED_KEYS = ("normalize", "env_wrapper", "frame_stack", "callback", "vec_env_wrapper")


def zoo_hyperparams(algo: str, env_id: str) -> dict:
    """
    rl-zoo3's tuned hyperparameters of ``algo`` for ``env_id`` as constructor arguments (the file shipped with
    the installed rl_zoo3). Its MuJoCo entries name the v4 tasks; a v5 id uses the v4 entry of the same task.
    ``noise_type: normal`` / ``noise_std`` become a NormalActionNoise, ``lin_<x>`` a linear schedule, and
    ``policy_kwargs`` strings are read without evaluating code.
    """
    import rl_zoo3
    import yaml

    from sb3_qvpo.zoo.checks import parse_policy_kwargs

    path = Path(rl_zoo3.__file__).parent / "hyperparams" / f"{algo}.yml"
    if not path.exists():
        raise SystemExit(f"error: --zoo-hyperparams: rl-zoo3 ships no hyperparameters for {algo}")
    table = yaml.safe_load(path.read_text())
    name, _, version = env_id.rpartition("-v")
    entry = table.get(env_id) or (table.get(f"{name}-v4") if version == "5" else None)
    if entry is None:
        raise SystemExit(f"error: --zoo-hyperparams: rl-zoo3's {path.name} has no entry for {env_id}")
    unsupported = [key for key in ZOO_UNSUPPORTED_KEYS if entry.get(key)]
    if unsupported:
        raise SystemExit(f"error: --zoo-hyperparams: {algo} on {env_id} uses {unsupported}, which compare.py does not apply")
    kwargs = {key: value for key, value in entry.items() if key not in ZOO_RUNNER_KEYS + ZOO_UNSUPPORTED_KEYS}
    if "policy_kwargs" in kwargs:
        kwargs["policy_kwargs"] = parse_policy_kwargs(kwargs["policy_kwargs"])
    for key in ("learning_rate", "clip_range"):
        if isinstance(kwargs.get(key), str) and kwargs[key].startswith("lin_"):
            kwargs[key] = ("linear", float(kwargs[key].removeprefix("lin_")))
    if "noise_type" in kwargs:
        noise_type, noise_std = kwargs.pop("noise_type"), kwargs.pop("noise_std")
        if noise_type != "normal":
            raise SystemExit(f"error: --zoo-hyperparams: noise_type {noise_type!r} is not supported (only 'normal')")
        kwargs["action_noise_std"] = float(noise_std)
    return kwargs


def make_model(spec: dict, env: gym.Env):
    import numpy as np
    from stable_baselines3.common.noise import NormalActionNoise
    from stable_baselines3.common.utils import LinearSchedule

    kwargs = dict(QVPO_SETTINGS[spec["qvpo_settings"]]) if spec["algo"] == "qvpo" else {}
    if spec["algo"] in NOISY_ALGOS:
        kwargs["action_noise_std"] = 0.1
    if spec.get("zoo_hyperparams") and spec["algo"] != "qvpo":
        kwargs = zoo_hyperparams(spec["algo"], spec["env"])
    kwargs.update(spec["algo_kwargs"])
    if "action_noise_std" in kwargs:
        n_actions = env.action_space.shape[0]
        std = kwargs.pop("action_noise_std")
        kwargs["action_noise"] = NormalActionNoise(np.zeros(n_actions), std * np.ones(n_actions))
    for key, value in kwargs.items():
        if isinstance(value, tuple) and value[0] == "linear":
            kwargs[key] = LinearSchedule(value[1], 0.0, 1.0)
    return algo_class_of(spec)("MlpPolicy", env, seed=spec["seed"], device=spec["device"], **kwargs)


# ---------------------------------------------------------------------------------------------------------
# Checkpoints: the model (with optimizers and targets), its replay buffer, and the run's clock, written so that
# a kill at any moment leaves the previous checkpoint intact (each file is written under a temporary name and
# renamed; checkpoint.json, renamed last, names the files of the complete checkpoint).
# ---------------------------------------------------------------------------------------------------------

CHECKPOINT = "checkpoint.json"
CSV_HEADER = "algo,env,seed,step,mean_return,std_return,wall_s"


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write(temporary path)``, then rename it to ``path`` (atomic on POSIX and Windows)."""
    temporary = path.with_name(f".tmp_{path.name}")
    write(temporary)
    os.replace(temporary, path)


def read_checkpoint(run_dir: Path) -> dict | None:
    path = run_dir / CHECKPOINT
    return json.loads(path.read_text()) if path.exists() else None


def save_checkpoint(
    run_dir: Path, model, elapsed_s: float, eval_s: float, resumed_from: list[int], eval_rng: dict | None
) -> None:
    step = model.num_timesteps
    files = dict(model=f"checkpoint_{step}.zip", buffer=f"checkpoint_{step}_buffer.pkl")
    write_atomically(run_dir / files["model"], model.save)
    write_atomically(run_dir / files["buffer"], model.save_replay_buffer)
    previous = read_checkpoint(run_dir)
    state = dict(step=step, **files, elapsed_s=round(elapsed_s, 3), eval_s=round(eval_s, 3))
    state.update(resumed_from=resumed_from, eval_rng=eval_rng)
    write_atomically(run_dir / CHECKPOINT, lambda path: path.write_text(json.dumps(state, indent=2)))
    if previous is not None and previous["step"] != step:
        for name in (previous["model"], previous["buffer"]):
            (run_dir / name).unlink(missing_ok=True)


def evaluations_up_to(csv_path: Path, step: int) -> list[str]:
    """The complete evaluation rows of csv_path at or before `step` (a row cut by a kill is dropped)."""
    if not csv_path.exists():
        return []
    rows = []
    for row in csv_path.read_text().splitlines()[1:]:
        fields = row.split(",")
        if len(fields) == len(CSV_HEADER.split(",")) and fields[3].isdigit() and int(fields[3]) <= step:
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------------------
# One run, in its own process
# ---------------------------------------------------------------------------------------------------------


def run_one(run_dir: Path) -> None:
    """
    Train one (algo, env, seed) as described by run_dir/spec.json, appending evaluations to evals.csv and
    checkpointing every spec["checkpoint_freq"] steps; resume from run_dir/checkpoint.json if there is one.
    """
    import numpy as np
    import torch as th
    from stable_baselines3.common.callbacks import EvalCallback
    from stable_baselines3.common.env_util import make_vec_env

    spec = json.loads((run_dir / "spec.json").read_text())
    th.set_num_threads(spec["threads"])
    register_package_envs()
    env = gym.make(spec["env"])
    checkpoint = read_checkpoint(run_dir)
    if checkpoint is None:
        model = make_model(spec, env)
        rows, elapsed_before, eval_before, resumed_from, eval_rng = [], 0.0, 0.0, [], None
    else:
        model = algo_class_of(spec).load(run_dir / checkpoint["model"], env=env, device=spec["device"])
        model.load_replay_buffer(run_dir / checkpoint["buffer"])
        model.set_random_seed(spec["seed"] + model.num_timesteps)
        # the episode in progress at the checkpoint is not part of the saved state: start a new one
        model._last_obs = None
        rows = evaluations_up_to(run_dir / "evals.csv", checkpoint["step"])
        elapsed_before, eval_before = checkpoint["elapsed_s"], checkpoint["eval_s"]
        resumed_from = [*checkpoint["resumed_from"], checkpoint["step"]]
        eval_rng = checkpoint["eval_rng"]
        print(f"Resuming from the checkpoint at step {checkpoint['step']}", flush=True)
    write_atomically(run_dir / "evals.csv", lambda path: path.write_text("\n".join([CSV_HEADER, *rows]) + "\n"))
    csv_file = open(run_dir / "evals.csv", "a")
    # The evaluation env is seeded once, at the run's start; a resumed run restores its generator where the
    # checkpoint left it, so that every evaluation sees the episodes it would have seen without the interruption
    eval_env = make_vec_env(spec["env"], n_envs=1, seed=None if eval_rng else spec["seed"] + 10_000)
    if eval_rng:
        generator = np.random.Generator(getattr(np.random, eval_rng["bit_generator"])())
        generator.bit_generator.state = eval_rng
        eval_env.envs[0].unwrapped.np_random = generator  # type: ignore[attr-defined]

    class CsvEvalCallback(EvalCallback):
        """
        Evaluates every eval_freq environment steps (counted from the run's start, across resumptions), appends
        each evaluation to the CSV with the training time spent outside evaluations, and checkpoints every
        checkpoint_freq steps.
        """

        def _on_training_start(self) -> None:
            super()._on_training_start()
            self.n_calls = self.model.num_timesteps  # one environment: n_calls counts environment steps
            self.segment_start = time.perf_counter()
            self.eval_time = eval_before

        def elapsed(self) -> float:
            return elapsed_before + time.perf_counter() - self.segment_start

        def eval_rng_state(self) -> dict | None:
            """The evaluation env's generator state, or None before its first (seeded) reset."""
            if not (eval_rng or self.evaluations_results):
                return None
            return eval_env.envs[0].unwrapped.np_random.bit_generator.state  # type: ignore[attr-defined]

        def _on_step(self) -> bool:
            continue_training = True
            if self.eval_freq > 0 and self.n_calls % self.eval_freq == 0:
                wall_s = self.elapsed() - self.eval_time
                eval_start = time.perf_counter()
                continue_training = super()._on_step()
                self.eval_time += time.perf_counter() - eval_start
                returns = np.asarray(self.evaluations_results[-1])
                row = [spec["label"], spec["env"], spec["seed"], self.num_timesteps]
                row += [f"{returns.mean():.4f}", f"{returns.std():.4f}", f"{wall_s:.2f}"]
                csv_file.write(",".join(map(str, row)) + "\n")
                csv_file.flush()
            every, stop_at = spec["checkpoint_freq"], spec.get("stop_at")
            pause = stop_at is not None and self.num_timesteps >= stop_at
            if self.num_timesteps < spec["timesteps"] and (pause or (every > 0 and self.num_timesteps % every == 0)):
                save_checkpoint(run_dir, self.model, self.elapsed(), self.eval_time, resumed_from, self.eval_rng_state())
            return continue_training and not pause

    callback = CsvEvalCallback(
        eval_env,
        eval_freq=spec["eval_freq"],
        n_eval_episodes=spec["eval_episodes"],
        deterministic=True,
        log_path=str(run_dir),  # EvalCallback keeps each evaluation's returns only when it logs them (evaluations.npz)
        verbose=0,
    )
    model.learn(spec["timesteps"] - model.num_timesteps, callback=callback, reset_num_timesteps=checkpoint is None)
    csv_file.close()
    if model.num_timesteps < spec["timesteps"]:
        print(f"Paused at step {model.num_timesteps} (--stop-at {spec['stop_at']}): run again without it to go on", flush=True)
        return
    done = dict(
        spec=spec,
        num_timesteps=model.num_timesteps,
        resumed_from=resumed_from,
        total_wall_s=round(callback.elapsed(), 2),
        eval_wall_s=round(callback.eval_time, 2),
    )
    write_atomically(run_dir / "done.json", lambda path: path.write_text(json.dumps(done, indent=2)))
    if checkpoint := read_checkpoint(run_dir):
        for name in (checkpoint["model"], checkpoint["buffer"], CHECKPOINT):
            (run_dir / name).unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------------------
# The comparison: plan, resume, run in parallel, report
# ---------------------------------------------------------------------------------------------------------


def parse_timesteps(items: list[str], envs: list[str]) -> dict[str, int]:
    """'10000 Hopper-v5=30000' -> {env: steps}: a plain number is the budget of every env not named."""
    default, per_env = None, {}
    for item in items:
        name, _, value = item.rpartition("=")
        if not value.isdigit() or int(value) <= 0:
            raise SystemExit(f"error: --timesteps: '{item}' is neither a positive number nor ENV=NUMBER")
        if name and name not in envs:
            raise SystemExit(f"error: --timesteps names '{name}', which is not among --envs {envs}")
        if name:
            per_env[name] = int(value)
        else:
            default = int(value)
    missing = [env_id for env_id in envs if env_id not in per_env and default is None]
    if missing:
        raise SystemExit(f"error: no --timesteps for {missing}")
    return {env_id: per_env.get(env_id, default or 0) for env_id in envs}


def check_envs(envs: list[str]) -> None:
    register_package_envs()
    for env_id in envs:
        try:
            gym.spec(env_id)
        except gym.error.Error as error:
            raise SystemExit(f"error: unknown environment id '{env_id}' ({error})") from None
        space = gym.make(env_id).action_space
        if not isinstance(space, gym.spaces.Box):
            raise SystemExit(f"error: environment '{env_id}' has a {type(space).__name__} action space; a Box is needed")


def plan_runs(args: argparse.Namespace) -> list[dict]:
    budgets = parse_timesteps(args.timesteps, args.envs)
    specs = []
    for env_id in args.envs:
        for algo in args.algos:
            for seed in args.seeds:
                specs.append(
                    dict(
                        algo=algo,
                        label=algo,
                        env=env_id,
                        seed=seed,
                        timesteps=budgets[env_id],
                        eval_freq=max(1, budgets[env_id] // args.n_evals),
                        eval_episodes=args.eval_episodes,
                        qvpo_settings=args.qvpo_settings,
                        algo_kwargs=args.algo_kwargs.get(algo, {}),
                        device=args.device,
                        threads=args.threads,
                        checkpoint_freq=args.checkpoint_freq,
                        stop_at=args.stop_at,
                        zoo_hyperparams=args.zoo_hyperparams,
                    )
                )
    return specs


# settings that do not change what a run measures
RUNNER_SETTINGS = ("device", "threads", "checkpoint_freq", "stop_at")


def settings_that_differ(old_spec: dict, spec: dict) -> set[str]:
    ignored = set(RUNNER_SETTINGS)
    if spec["algo"] != "qvpo":
        ignored.add("qvpo_settings")  # so that SAC runs finished beside one QVPO setting count beside another
    return {key for key in spec if key not in ignored and old_spec.get(key) != spec[key]}


def resumable_step(run_dir: Path, spec: dict) -> int | None:
    """The step of the run's checkpoint, if it has one taken with the same settings."""
    checkpoint, spec_path = read_checkpoint(run_dir), run_dir / "spec.json"
    if checkpoint is None or not spec_path.exists() or settings_that_differ(json.loads(spec_path.read_text()), spec):
        return None
    return checkpoint["step"]


def paused_at_stop(run_dir: Path, spec: dict) -> bool:
    """True if the run has a checkpoint at or past spec["stop_at"], taken with the same settings."""
    step = resumable_step(run_dir, spec)
    return spec.get("stop_at") is not None and step is not None and step >= spec["stop_at"]


def is_finished(run_dir: Path, spec: dict) -> bool:
    """True if the run finished (or paused at --stop-at) with this very spec; an error if it finished with another."""
    done_path = run_dir / "done.json"
    if not done_path.exists():
        return paused_at_stop(run_dir, spec)
    done_spec = json.loads(done_path.read_text())["spec"]
    differs = settings_that_differ(done_spec, spec)
    if differs:
        raise SystemExit(
            f"error: {run_dir} finished with other settings ({', '.join(sorted(differs))} differ); "
            "use another --out, or --fresh to discard the old results"
        )
    return True


class Progress:
    """Prints one line per new evaluation and per finished run."""

    def __init__(self, n_total: int, n_done: int):
        self.n_total, self.n_done, self.start = n_total, n_done, time.time()

    def line(self, text: str) -> None:
        elapsed = time.time() - self.start
        print(f"[{elapsed / 60:6.1f} min | {self.n_done}/{self.n_total} runs done] {text}", flush=True)


def run_comparison(specs: list[dict], out: Path, jobs: int) -> list[str]:
    """Run every unfinished spec, at most `jobs` at a time; return the keys of failed runs."""
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    todo = [spec for spec in specs if not is_finished(runs_dir / run_key(spec), spec)]
    progress = Progress(len(specs), len(specs) - len(todo))
    progress.line(f"{len(specs)} runs, {len(specs) - len(todo)} finished earlier, {len(todo)} to run, {jobs} at a time")
    running: dict[str, tuple[subprocess.Popen, dict, int]] = {}
    failed = []
    env = {**os.environ, "OMP_NUM_THREADS": str(specs[0]["threads"]) if specs else "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH")]))
    try:
        while todo or running:
            while todo and len(running) < jobs:
                spec = todo.pop(0)
                key = run_key(spec)
                run_dir = runs_dir / key
                step = resumable_step(run_dir, spec)
                if step is None:  # an unfinished run without a checkpoint starts again from scratch
                    shutil.rmtree(run_dir, ignore_errors=True)
                    run_dir.mkdir()
                (run_dir / "spec.json").write_text(json.dumps(spec, indent=2))
                with open(run_dir / "log.txt", "a") as log:
                    cmd = [sys.executable, str(Path(__file__).resolve()), "--run-one", str(run_dir)]
                    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
                n_seen = len(evaluations_up_to(run_dir / "evals.csv", step)) if step is not None else 0
                running[key] = (process, spec, n_seen)
                if step is None:
                    progress.line(f"start {key} ({spec['timesteps']} steps)")
                else:
                    progress.line(f"resume {key} from step {step} ({spec['timesteps']} steps)")
            time.sleep(1.0)
            for key, (process, spec, n_seen) in list(running.items()):
                csv_path = runs_dir / key / "evals.csv"
                rows = evaluations_up_to(csv_path, spec["timesteps"])
                for row in rows[min(n_seen, len(rows)) :]:
                    step, mean_return, std_return, wall_s = row.split(",")[3:]
                    progress.line(
                        f"{key}: step {step}/{spec['timesteps']}, return {float(mean_return):.1f} "
                        f"+/- {float(std_return):.1f}, {float(wall_s):.0f} s"
                    )
                running[key] = (process, spec, len(rows))
                if process.poll() is None:
                    continue
                del running[key]
                if process.returncode == 0 and (runs_dir / key / "done.json").exists():
                    progress.n_done += 1
                    progress.line(f"finished {key}")
                elif process.returncode == 0 and paused_at_stop(runs_dir / key, spec):
                    progress.n_done += 1
                    progress.line(f"paused {key} at step {spec['stop_at']}")
                else:
                    failed.append(key)
                    tail = (runs_dir / key / "log.txt").read_text().splitlines()[-5:]
                    progress.line(f"FAILED {key} (exit code {process.returncode}):\n    " + "\n    ".join(tail))
    except KeyboardInterrupt:
        for process, _, _ in running.values():
            process.terminate()
        raise
    return failed


def add_resume_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint-freq",
        type=int,
        default=10_000,
        help="steps between checkpoints of a run, from which a killed run resumes (0: none; default: 10000)",
    )
    parser.add_argument(
        "--stop-at",
        type=int,
        default=None,
        metavar="STEPS",
        help="pause every run at STEPS, leaving a checkpoint from which the same command without --stop-at "
        "continues it to its budget; learning-rate and entropy schedules keep the full budget's horizon",
    )


def check_resume_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.checkpoint_freq < 0:
        parser.error("--checkpoint-freq must be 0 (no checkpoints) or positive")
    if args.stop_at is not None and args.stop_at <= 0:
        parser.error("--stop-at must be positive")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", help=f"algorithms, among {sorted(ALGOS)} (default: qvpo sac td3)")
    parser.add_argument("--envs", nargs="+", help="Gymnasium env ids (default: Pendulum-v1 InvertedPendulum-v5 Hopper-v5)")
    parser.add_argument("--seeds", nargs="+", type=int, help="seeds (default: 0 1 2)")
    parser.add_argument("--timesteps", nargs="+", help="steps per run: N for every env, ENV=N for one (default: 10000)")
    parser.add_argument("--n-evals", type=int, help="evaluations per run, evenly spaced (default: 10)")
    parser.add_argument("--eval-episodes", type=int, help="episodes per evaluation (default: 5)")
    parser.add_argument("--qvpo-settings", choices=sorted(QVPO_SETTINGS), help="QVPO hyperparameters (default: cpu)")
    parser.add_argument(
        "--algo-kwargs",
        nargs="+",
        default=[],
        metavar="ALGO=JSON",
        help="constructor arguments of one algorithm, e.g. sac='{\"learning_starts\": 1000}'",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="runs at a time (default: the core count)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default: 1)")
    parser.add_argument("--device", default="auto", help="torch device of every run (default: auto)")
    parser.add_argument(
        "--zoo-hyperparams",
        action="store_true",
        help="the other algorithms with rl-zoo3's tuned hyperparameters for each task (default: SB3's defaults)",
    )
    add_resume_arguments(parser)
    parser.add_argument("--out", default=None, help="output folder (default: compare_results, or compare_quick)")
    parser.add_argument("--fresh", action="store_true", help="discard the output folder's earlier runs")
    parser.add_argument("--quick", action="store_true", help="a tiny comparison that finishes in about a minute")
    parser.add_argument("--run-one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.qvpo_settings is None:
        args.qvpo_settings = "quick" if args.quick else "cpu"
    if args.out is None:
        args.out = "compare_quick" if args.quick else "compare_results"
    unknown = [algo for algo in args.algos if algo not in ALGOS]
    if unknown:
        parser.error(f"unknown algorithm(s) {unknown}; choose among {sorted(ALGOS)}")
    algo_kwargs = {}
    for item in args.algo_kwargs:
        algo, _, text = item.partition("=")
        if algo not in args.algos:
            parser.error(f"--algo-kwargs names '{algo}', which is not among --algos {args.algos}")
        try:
            algo_kwargs[algo] = json.loads(text)
        except json.JSONDecodeError as error:
            parser.error(f"--algo-kwargs {algo}: not a JSON object ({error})")
    args.algo_kwargs = algo_kwargs
    for name in ("n_evals", "eval_episodes", "jobs", "threads"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    check_resume_arguments(parser, args)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.run_one:
        run_one(Path(args.run_one))
        return
    check_envs(args.envs)
    out = Path(args.out)
    if args.fresh:
        shutil.rmtree(out / "runs", ignore_errors=True)
    specs = plan_runs(args)
    failed = run_comparison(specs, out, min(args.jobs, len(specs)))

    from compare_report import write_report  # matplotlib and scipy, only once there is something to report

    written = write_report(out, specs)
    print("Wrote " + ", ".join(str(path) for path in written), flush=True)
    if failed:
        raise SystemExit(f"error: {len(failed)} run(s) failed: {failed}; their logs are in {out / 'runs'}/<run>/log.txt")


if __name__ == "__main__":
    main()
