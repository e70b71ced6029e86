"""
Compare QVPO with Stable-Baselines3 / sb3-contrib algorithms on the same tasks, seeds and step budget.

Every (algo, env, seed) run is a separate process (up to --jobs at a time) that evaluates its deterministic
policy every budget / --n-evals steps through SB3's EvalCallback and appends each evaluation to
OUT/runs/<algo>__<env>__<seed>/evals.csv at once. A finished run leaves done.json beside it; running the
same command again skips finished runs and restarts unfinished ones from scratch. At the end it writes:

    OUT/results.csv           algo, env, seed, step, mean_return, std_return, wall_s (one row per evaluation)
    OUT/curves_<env>.png      return vs environment steps and vs training wall time (mean over seeds, min-max band)
    OUT/table.md              final and best evaluation return per algo and env: IQM with 95% bootstrap CI

wall_s is the run's wall-clock time up to that evaluation, evaluation time excluded. Examples:

    python examples/compare.py --quick                                   # about a minute
    python examples/compare.py --algos qvpo sac td3 --envs Pendulum-v1 --seeds 0 1 2 --timesteps 10000 --out cmp
    python examples/compare.py --algos qvpo sac --envs Hopper-v5 --timesteps 1000000 --qvpo-settings paper --device cuda
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
from train import CPU_SETTINGS  # examples/train.py, beside this script

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

# QVPO settings. "cpu": the CPU-sized settings of examples/train.py (5 denoising steps instead of 20,
# 16 train and eval candidates instead of 64 and 32, 2 x 64 networks instead of 3 x 256, batch 128,
# 1000 random steps); "paper": QVPO's defaults, the paper's MuJoCo settings; "quick": for --quick.
QVPO_SETTINGS: dict[str, dict] = {
    "cpu": CPU_SETTINGS,
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


def run_key(algo: str, env_id: str, seed: int) -> str:
    return f"{algo}__{env_id.replace('/', '_')}__{seed}"


def register_package_envs() -> None:
    import sb3_qvpo.envs  # noqa: F401  (registers sb3_qvpo/... tasks)


# ---------------------------------------------------------------------------------------------------------
# One run, in its own process
# ---------------------------------------------------------------------------------------------------------


def make_model(spec: dict):
    import importlib

    import numpy as np

    module_name, class_name = ALGOS[spec["algo"]]
    algo_class = getattr(importlib.import_module(module_name), class_name)
    kwargs = dict(QVPO_SETTINGS[spec["qvpo_settings"]]) if spec["algo"] == "qvpo" else {}
    env = gym.make(spec["env"])
    if spec["algo"] in NOISY_ALGOS:
        from stable_baselines3.common.noise import NormalActionNoise

        n_actions = env.action_space.shape[0]
        kwargs["action_noise"] = NormalActionNoise(np.zeros(n_actions), 0.1 * np.ones(n_actions))
    kwargs.update(spec["algo_kwargs"])
    return algo_class("MlpPolicy", env, seed=spec["seed"], device=spec["device"], **kwargs)


def run_one(run_dir: Path) -> None:
    """Train one (algo, env, seed) as described by run_dir/spec.json, appending evaluations to evals.csv."""
    import numpy as np
    import torch as th
    from stable_baselines3.common.callbacks import EvalCallback
    from stable_baselines3.common.env_util import make_vec_env

    spec = json.loads((run_dir / "spec.json").read_text())
    th.set_num_threads(spec["threads"])
    register_package_envs()
    model = make_model(spec)
    eval_env = make_vec_env(spec["env"], n_envs=1, seed=spec["seed"] + 10_000)
    csv_file = open(run_dir / "evals.csv", "w")
    csv_file.write("algo,env,seed,step,mean_return,std_return,wall_s\n")
    csv_file.flush()

    class CsvEvalCallback(EvalCallback):
        """EvalCallback that appends every evaluation to the CSV, with the wall time spent outside evaluations."""

        def _on_training_start(self) -> None:
            super()._on_training_start()
            self.start_time = time.perf_counter()
            self.eval_time = 0.0

        def _on_step(self) -> bool:
            if not (self.eval_freq > 0 and self.n_calls % self.eval_freq == 0):
                return super()._on_step()
            wall_s = time.perf_counter() - self.start_time - self.eval_time
            eval_start = time.perf_counter()
            continue_training = super()._on_step()
            self.eval_time += time.perf_counter() - eval_start
            returns = np.asarray(self.evaluations_results[-1])
            row = [spec["algo"], spec["env"], spec["seed"], self.num_timesteps]
            csv_file.write(",".join(map(str, [*row, f"{returns.mean():.4f}", f"{returns.std():.4f}", f"{wall_s:.2f}"])) + "\n")
            csv_file.flush()
            return continue_training

    callback = CsvEvalCallback(
        eval_env,
        eval_freq=spec["eval_freq"],
        n_eval_episodes=spec["eval_episodes"],
        deterministic=True,
        log_path=str(run_dir),
        verbose=0,
    )
    start = time.perf_counter()
    model.learn(spec["timesteps"], callback=callback)
    csv_file.close()
    done = dict(spec=spec, total_wall_s=round(time.perf_counter() - start, 2), eval_wall_s=round(callback.eval_time, 2))
    (run_dir / "done.json").write_text(json.dumps(done, indent=2))


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
                        env=env_id,
                        seed=seed,
                        timesteps=budgets[env_id],
                        eval_freq=max(1, budgets[env_id] // args.n_evals),
                        eval_episodes=args.eval_episodes,
                        qvpo_settings=args.qvpo_settings,
                        algo_kwargs=args.algo_kwargs.get(algo, {}),
                        device=args.device,
                        threads=args.threads,
                    )
                )
    return specs


def is_finished(run_dir: Path, spec: dict) -> bool:
    """True if the run finished with this very spec; an error if it finished with another one."""
    done_path = run_dir / "done.json"
    if not done_path.exists():
        return False
    done_spec = json.loads(done_path.read_text())["spec"]
    # the device and thread count do not change what a run measures
    differs = {k for k in spec if k not in ("device", "threads") and done_spec.get(k) != spec[k]}
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
    todo = [spec for spec in specs if not is_finished(runs_dir / run_key(spec["algo"], spec["env"], spec["seed"]), spec)]
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
                key = run_key(spec["algo"], spec["env"], spec["seed"])
                run_dir = runs_dir / key
                shutil.rmtree(run_dir, ignore_errors=True)  # an unfinished run starts again from scratch
                run_dir.mkdir()
                (run_dir / "spec.json").write_text(json.dumps(spec, indent=2))
                with open(run_dir / "log.txt", "w") as log:
                    cmd = [sys.executable, str(Path(__file__).resolve()), "--run-one", str(run_dir)]
                    process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
                running[key] = (process, spec, 0)
                progress.line(f"start {key} ({spec['timesteps']} steps)")
            time.sleep(1.0)
            for key, (process, spec, n_seen) in list(running.items()):
                csv_path = runs_dir / key / "evals.csv"
                rows = csv_path.read_text().splitlines()[1:] if csv_path.exists() else []
                for row in rows[n_seen:]:
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
                else:
                    failed.append(key)
                    tail = (runs_dir / key / "log.txt").read_text().splitlines()[-5:]
                    progress.line(f"FAILED {key} (exit code {process.returncode}):\n    " + "\n    ".join(tail))
    except KeyboardInterrupt:
        for process, _, _ in running.values():
            process.terminate()
        raise
    return failed


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
