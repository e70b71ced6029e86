"""
Fidelity against the authors' published QVPO code (https://github.com/wadx2019/qvpo): their agent and this
package at identical settings, driven by one gymnasium loop, plus a forward-equivalence check.

    git clone https://github.com/wadx2019/qvpo /tmp/qvpo-authors
    PYTHONPATH=. python benchmarks/fidelity.py --authors-code /tmp/qvpo-authors \\
        --envs Pendulum-v1=10000 InvertedPendulum-v5=16000 --seeds 0 1 --out fidelity

The authors' code is imported from the folder you pass, at run time; nothing of it is part of this package.
Their networks have three hidden layers whose width is a constructor argument the agent never passes (256);
this script passes --width through those arguments. Their critic class fixes three hidden layers: --qf-arch gives
both agents critics of other widths and depths, for which their critic's two networks are replaced by Mish
networks of the same form, initialised by their own helper.

The loop (the same for both agents): 1,000 uniformly random steps (--learning-starts), then one behaviour action
and one update per environment step; a transition is terminal only when the environment *terminated* (a time
limit bootstraps); the entropy coefficient decays as in the authors' main.py; every --eval-freq steps, the
deterministic policy is evaluated on --eval-episodes episodes whose initial states are the same for both
agents. CPU time per update is ``time.process_time`` around the update (one torch thread).

Known differences, left as they are: the authors initialise every linear layer with a normal of standard
deviation 1 / (2 sqrt(fan_in)) and zero biases (their truncation loop never changes a value), this package
with PyTorch's default (``--our-init authors`` gives this package theirs; measured, it does not help, see
docs/evidence.md); their evaluation draws fresh noise at every call, this package's a fixed, seeded one.

Every run checkpoints every --checkpoint-freq steps into OUT/runs/<impl>__<env>__<seed>/ (the agent with its
optimizers and replay memory, the loop's random generators) and the same command resumes a killed run from its
last checkpoint, or continues a run paused by --stop-at; the episode under way at the checkpoint is not saved, so
a resumed run starts a new one there (seeded by the step). Finished runs are not trained again. --authors-code
may be left out with --impls sb3_qvpo (then without the forward-equivalence check).

Writes OUT/evals.csv (impl, env, seed, step, mean_return, std_return), OUT/table.md and prints both tables.
"""

import argparse
import functools
import itertools
import json
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import torch as th
from compare import (
    CHECKPOINT,
    add_resume_arguments,
    check_resume_arguments,
    read_checkpoint,
    write_atomically,
)  # benchmarks/compare.py
from stable_baselines3.common.logger import Logger

from sb3_qvpo import QVPO
from sb3_qvpo.diffusion import make_beta_schedule

IMPLS = ("authors", "sb3_qvpo")
CSV_HEADER = "impl,env,seed,step,mean_return,std_return"


def load_authors_code(path: Path) -> SimpleNamespace:
    """Import the authors' agent package from a clone of their repository."""
    if not (path / "agent" / "qvpo.py").is_file():
        raise SystemExit(f"error: {path} is not a clone of github.com/wadx2019/qvpo (no agent/qvpo.py)")
    sys.path.insert(0, str(path.resolve()))
    import agent.diffusion
    import agent.model
    import agent.qvpo
    import agent.replay_memory

    return SimpleNamespace(diffusion=agent.diffusion, model=agent.model, qvpo=agent.qvpo, memory=agent.replay_memory)


def authors_args(settings: dict) -> SimpleNamespace:
    """The authors' command-line arguments for the paper's QVPO (main.py --weighted --aug) at these settings."""
    return SimpleNamespace(
        policy_type="Diffusion",
        noise_ratio=1.0,
        beta_schedule="cosine",
        n_timesteps=settings["n_diffusion_steps"],
        behavior_sample=4,
        target_sample=4,
        eval_sample=settings["n_eval_candidates"],
        deterministic=False,
        beta=1.0,
        alpha_mean=0.001,
        alpha_std=0.001,
        chosen=1,
        q_neg=0.0,
        weighted=True,
        aug=True,
        train_sample=settings["n_train_candidates"],
        q_transform="qadv",
        gradient=False,
        policy_freq=1,
        cut=1.0,
        epsilon=0.0,
        entropy_alpha=0.02,
        diffusion_lr=1e-4,
        critic_lr=3e-4,
        action_lr=0.03,
        action_gradient_steps=20,
        ratio=0.1,
        ac_grad_norm=2.0,
        tau=0.005,
        update_actor_target_every=1,
    )


def authors_critic(state_dim: int, action_dim: int, *, code: SimpleNamespace, width: int, qf_arch: list[int] | None):
    """Their critic, with its two networks replaced by Mish networks of hidden sizes ``qf_arch`` when given."""
    critic = code.model.Critic(state_dim, action_dim, hidden_dim=width)
    if qf_arch is not None:
        sizes = [state_dim + action_dim, *qf_arch]
        for name in ("q1_model", "q2_model"):
            layers: list[th.nn.Module] = []
            for n_in, n_out in itertools.pairwise(sizes):
                layers += [th.nn.Linear(n_in, n_out), th.nn.Mish()]
            setattr(critic, name, th.nn.Sequential(*layers, th.nn.Linear(sizes[-1], 1)))
        critic.apply(code.model.init_weights)
    return critic


def make_authors_agent(code: SimpleNamespace, env: gym.Env, settings: dict, capacity: int):
    width = settings["width"]
    # the width is an argument of their network classes that their agent leaves at 256
    code.diffusion.Model = functools.partial(code.model.Model, hidden_size=width)
    code.qvpo.Critic = functools.partial(authors_critic, code=code, width=width, qf_arch=settings.get("qf_arch"))
    state_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
    memory = code.memory.ReplayMemory(state_dim, action_dim, capacity, "cpu")
    diffusion_memory = code.memory.DiffusionMemory(state_dim, action_dim, 1, "cpu")
    return code.qvpo.QVPO(authors_args(settings), state_dim, env.action_space, memory, diffusion_memory, "cpu")


def authors_initialisation(module: th.nn.Module) -> None:
    """The authors' initialisation, as their helpers describe it: every linear layer's weight drawn from a normal
    of standard deviation 1 / (2 sqrt(fan_in)) (their truncation at two standard deviations changes no value),
    zero biases."""
    for layer in module.modules():
        if isinstance(layer, th.nn.Linear):
            th.nn.init.normal_(layer.weight, std=1.0 / (2.0 * np.sqrt(layer.in_features)))
            th.nn.init.zeros_(layer.bias)


def our_net_arch(settings: dict) -> list[int] | dict[str, list[int]]:
    """Three hidden layers of --width for the denoiser, and for the critics unless --qf-arch gives theirs."""
    denoiser = [settings["width"]] * 3
    qf_arch = settings.get("qf_arch")
    return denoiser if qf_arch is None else dict(pi=denoiser, qf=list(qf_arch))


def make_our_model(env: gym.Env, settings: dict, seed: int, capacity: int) -> QVPO:
    model = QVPO(
        "MlpPolicy",
        env,
        buffer_size=capacity,
        learning_starts=settings["learning_starts"],
        batch_size=settings["batch_size"],
        n_diffusion_steps=settings["n_diffusion_steps"],
        n_train_candidates=settings["n_train_candidates"],
        n_eval_candidates=settings["n_eval_candidates"],
        policy_kwargs=dict(net_arch=our_net_arch(settings)),
        ent_coef_decay_steps=settings["ent_coef_decay_steps"],
        seed=seed,
        device="cpu",
    )
    model.set_logger(Logger(folder=None, output_formats=[]))
    if settings.get("our_init") == "authors":
        policy = model.policy
        for network in (policy.actor, policy.critic):
            authors_initialisation(network)
        policy.actor_target.load_state_dict(policy.actor.state_dict())
        policy.critic_target.load_state_dict(policy.critic.state_dict())
    return model


class AuthorsAgent:
    """The loop's interface over the authors' agent."""

    def __init__(self, agent, settings: dict, total_steps: int):
        self.agent = agent
        self.gamma, self.batch_size = 0.99, settings["batch_size"]
        self.decay_steps = settings["ent_coef_decay_steps"] or total_steps

    @classmethod
    def create(cls, code: SimpleNamespace, env: gym.Env, settings: dict, seed: int, total_steps: int) -> "AuthorsAgent":
        return cls(make_authors_agent(code, env, settings, total_steps), settings, total_steps)

    @classmethod
    def load(cls, files: list[Path], settings: dict, total_steps: int) -> "AuthorsAgent":
        return cls(th.load(files[0], weights_only=False), settings, total_steps)

    def save(self, run_dir: Path, step: int) -> list[str]:
        name = f"checkpoint_{step}_agent.pt"
        write_atomically(run_dir / name, lambda path: th.save(self.agent, path))
        return [name]

    def act(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        return self.agent.sample_action(obs, eval=deterministic)

    def store(self, obs, action, reward, next_obs, terminated: bool) -> None:
        self.agent.append_memory(obs, action, reward, next_obs, 0.0 if terminated else self.gamma)

    def update(self, step: int) -> None:
        self.agent.train(step, 1, batch_size=self.batch_size)
        alpha = 0.02  # their main.py, after every update (over their --num_steps there)
        self.agent.entropy_alpha = min(alpha, max(0.002, alpha - step / self.decay_steps * alpha))


class OurAgent:
    """The loop's interface over sb3_qvpo's QVPO, bypassing learn() so that both agents share the loop."""

    def __init__(self, model: QVPO, settings: dict, total_steps: int):
        self.model = model
        self.batch_size, self.total_steps = settings["batch_size"], total_steps

    @classmethod
    def create(cls, code: SimpleNamespace | None, env: gym.Env, settings: dict, seed: int, total_steps: int) -> "OurAgent":
        return cls(make_our_model(env, settings, seed, total_steps), settings, total_steps)

    @classmethod
    def load(cls, files: list[Path], settings: dict, total_steps: int) -> "OurAgent":
        model = QVPO.load(files[0], device="cpu")
        model.load_replay_buffer(files[1])
        model.set_logger(Logger(folder=None, output_formats=[]))
        return cls(model, settings, total_steps)

    def save(self, run_dir: Path, step: int) -> list[str]:
        names = [f"checkpoint_{step}.zip", f"checkpoint_{step}_buffer.pkl"]
        write_atomically(run_dir / names[0], self.model.save)
        write_atomically(run_dir / names[1], self.model.save_replay_buffer)
        return names

    def act(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        return self.model.predict(obs, deterministic=deterministic)[0]

    def store(self, obs, action, reward, next_obs, terminated: bool) -> None:
        scaled = self.model.policy.scale_action(action)
        self.model.replay_buffer.add(obs[None], next_obs[None], scaled[None], np.array([reward]), np.array([terminated]), [{}])

    def update(self, step: int) -> None:
        self.model.num_timesteps = step
        self.model._current_progress_remaining = 1.0 - step / self.total_steps
        self.model.train(1, self.batch_size)


AGENTS: dict[str, type[AuthorsAgent] | type[OurAgent]] = {"authors": AuthorsAgent, "sb3_qvpo": OurAgent}


def evaluate(agent, env_id: str, episodes: int, seed: int) -> tuple[float, float]:
    env = gym.make(env_id)
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(agent.act(obs, deterministic=True))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns)), float(np.std(returns))


# Checkpoints: the agent's files, then the loop's (random generators, update times), then checkpoint.json, each
# written under a temporary name and renamed, so that a kill at any moment leaves the previous checkpoint whole.


def save_checkpoint(
    run_dir: Path, agent, step: int, update_times: list[float], resumed_from: list[int], settings: dict
) -> None:
    files = agent.save(run_dir, step)
    loop = dict(torch_rng=th.get_rng_state(), numpy_rng=np.random.get_state(), update_times=update_times)
    files.append(f"checkpoint_{step}_loop.pt")
    write_atomically(run_dir / files[-1], lambda path: th.save(loop, path))
    previous = read_checkpoint(run_dir)
    state = dict(step=step, files=files, resumed_from=resumed_from, settings=settings)
    write_atomically(run_dir / CHECKPOINT, lambda path: path.write_text(json.dumps(state, indent=2)))
    if previous is not None and previous["step"] != step:
        for name in previous["files"]:
            (run_dir / name).unlink(missing_ok=True)


def check_same_settings(run_dir: Path, saved: dict, settings: dict) -> None:
    differ = sorted(key for key in settings.keys() | saved.keys() if saved.get(key) != settings.get(key))
    if differ:
        raise SystemExit(
            f"error: {run_dir} holds a run with other settings ({', '.join(differ)}); "
            "use another --out, or delete that folder to start the run again"
        )


def shared_settings(args: argparse.Namespace) -> dict:
    """The settings every run of the command shares (the runner's checkpoint frequency and pause are not among them)."""
    keys = ("n_diffusion_steps", "n_train_candidates", "n_eval_candidates", "width", "qf_arch", "batch_size")
    keys += ("learning_starts", "eval_freq", "eval_episodes", "our_init", "ent_coef_decay_steps")
    return {key: getattr(args, key) for key in keys}


def run_settings(impl: str, env_id: str, seed: int, steps: int, args: argparse.Namespace) -> dict:
    """Everything that defines one run."""
    return dict(shared_settings(args), impl=impl, env=env_id, seed=seed, steps=steps)


def run_dir_of(out: Path, impl: str, env_id: str, seed: int) -> Path:
    return out / "runs" / f"{impl}__{env_id.replace('/', '_')}__{seed}"


def evaluation_step(row: str) -> float:
    """The step of an evaluation row of evals.csv; infinite for a row cut by a kill."""
    fields = row.split(",")
    return int(fields[3]) if len(fields) == len(CSV_HEADER.split(",")) and fields[3].isdigit() else float("inf")


def train(impl: str, env_id: str, seed: int, steps: int, args: argparse.Namespace, code) -> dict | None:
    """One run, resumed from its checkpoint if it has one; its result, or None if it paused at --stop-at."""
    run_dir = run_dir_of(args.out, impl, env_id, seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    settings, done_path, csv_path = run_settings(impl, env_id, seed, steps, args), run_dir / "done.json", run_dir / "evals.csv"
    if done_path.exists():
        done = json.loads(done_path.read_text())
        check_same_settings(run_dir, done["settings"], settings)
        return done["result"]
    env = gym.make(env_id)
    agent_class = AGENTS[impl]
    checkpoint = read_checkpoint(run_dir)
    if checkpoint is None:
        th.manual_seed(seed)
        np.random.seed(seed)
        agent = agent_class.create(code, env, settings, seed, steps)
        env.action_space.seed(seed)
        obs, _ = env.reset(seed=seed)
        first_step, update_times, resumed_from, rows = 1, [], [], []
    else:
        check_same_settings(run_dir, checkpoint["settings"], settings)
        first_step = checkpoint["step"] + 1
        agent = agent_class.load([run_dir / name for name in checkpoint["files"][:-1]], settings, steps)
        loop = th.load(run_dir / checkpoint["files"][-1], weights_only=False)
        th.set_rng_state(loop["torch_rng"])
        np.random.set_state(loop["numpy_rng"])
        update_times, resumed_from = loop["update_times"], [*checkpoint["resumed_from"], checkpoint["step"]]
        # the episode under way at the checkpoint is not part of it: a new one, seeded by the step
        env.action_space.seed(seed + checkpoint["step"])
        obs, _ = env.reset(seed=seed + checkpoint["step"])
        rows = [row for row in csv_path.read_text().splitlines()[1:] if evaluation_step(row) <= checkpoint["step"]]
        print(f"{impl} {env_id} seed {seed}: resuming from the checkpoint at step {checkpoint['step']}", flush=True)
    write_atomically(csv_path, lambda path: path.write_text("\n".join([CSV_HEADER, *rows]) + "\n"))

    with open(csv_path, "a") as csv:
        for step in range(first_step, steps + 1):
            if step <= args.learning_starts:
                action = env.action_space.sample()
            else:
                action = agent.act(obs, deterministic=False)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            agent.store(obs, action, float(reward), next_obs, terminated)
            obs = next_obs
            if terminated or truncated:
                obs, _ = env.reset()
            if step >= args.learning_starts:
                start = time.process_time()
                agent.update(step)
                update_times.append(time.process_time() - start)
            if step % args.eval_freq == 0:
                mean_return, std_return = evaluate(agent, env_id, args.eval_episodes, seed + 10_000 + step)
                csv.write(f"{impl},{env_id},{seed},{step},{mean_return:.2f},{std_return:.2f}\n")
                csv.flush()
                print(f"{impl} {env_id} seed {seed} step {step}: {mean_return:.1f} +/- {std_return:.1f}", flush=True)
            pause = args.stop_at is not None and step == args.stop_at and step < steps
            if args.checkpoint_freq and (step % args.checkpoint_freq == 0 or pause) and step < steps:
                save_checkpoint(run_dir, agent, step, update_times, resumed_from, settings)
            if pause:
                print(f"{impl} {env_id} seed {seed}: paused at step {step} (--stop-at): run again without it to go on")
                return None

    evaluations = [float(row.split(",")[4]) for row in csv_path.read_text().splitlines()[1:]]
    result = dict(
        final=evaluations[-1] if evaluations else float("nan"),
        best=max(evaluations, default=float("nan")),
        ms_per_update=1e3 * statistics.median(update_times) if update_times else float("nan"),
    )
    done = dict(settings=settings, result=result, resumed_from=resumed_from)
    write_atomically(done_path, lambda path: path.write_text(json.dumps(done, indent=2)))
    if checkpoint := read_checkpoint(run_dir):
        for name in [*checkpoint["files"], CHECKPOINT]:
            (run_dir / name).unlink(missing_ok=True)
    return result


def forward_equivalence(code: SimpleNamespace, args: argparse.Namespace, env_id: str) -> dict[str, float]:
    """
    The authors' freshly initialised denoiser and critics copied into this package's: the largest absolute
    differences of the schedule, the denoiser's output, the reverse samples for the same noise and the critics.
    """
    th.manual_seed(0)
    env = gym.make(env_id)
    theirs = make_authors_agent(code, env, vars(args), 10)
    ours = make_our_model(env, vars(args), 0, 10)
    actor, critic = ours.policy.actor, ours.policy.critic
    net, their_net = actor.noise_net, theirs.actor.model
    pairs = [(net.time_mlp[0], their_net.time_mlp[1]), (net.time_mlp[2], their_net.time_mlp[3])]
    pairs += [(layer, their_net.layer[2 * index]) for index, layer in enumerate(net.hidden)]
    pairs += [(net.output, their_net.layer[2 * len(net.hidden)])]
    for q_index, their_q in enumerate((theirs.critic.q1_model, theirs.critic.q2_model)):
        ours_q = critic.q_networks[q_index]
        pairs += [(ours_q[index], their_q[index]) for index in range(0, len(ours_q), 2)]
    with th.no_grad():
        for mine, their in pairs:
            mine.weight.copy_(their.weight)
            mine.bias.copy_(their.bias)

    n_states, n_candidates, steps = 8, 16, args.n_diffusion_steps
    generator = th.Generator().manual_seed(1)
    states = th.randn(n_states, env.observation_space.shape[0], generator=generator)
    noise = th.randn(steps + 1, n_states * n_candidates, env.action_space.shape[0], generator=generator)
    diffusion = theirs.actor
    with th.no_grad():
        # their reverse chain, step by step, with the given noise in place of their internal draws
        repeated = states.repeat_interleave(n_candidates, dim=0)
        x = noise[steps]
        for index in reversed(range(steps)):
            t = th.full((len(x),), index, dtype=th.long)
            mean, _, log_variance = diffusion.p_mean_variance(x, t, repeated)
            x = mean + (index > 0) * (0.5 * log_variance).exp() * noise[index]
        their_samples = x.clamp(-1.0, 1.0)
        our_samples = actor.sample(states, n_candidates, noise=noise).reshape(-1, x.shape[1])
        t = th.randint(0, steps, (len(repeated),), generator=generator)
        their_eps = their_net(noise[0], t, repeated)
        our_eps = net(noise[0], t, repeated)
        their_q = th.cat(theirs.critic(repeated, their_samples), dim=1)
        our_q = th.cat(critic(repeated, their_samples), dim=1)
    our_betas = th.as_tensor(make_beta_schedule(ours.policy.beta_schedule, steps), dtype=th.float32)
    our_alphas_cumprod = ours.policy.actor.diffusion.sqrt_alphas_cumprod.float() ** 2
    return {
        "betas": float((our_betas - diffusion.betas).abs().max()),
        "alphas_cumprod": float((our_alphas_cumprod - diffusion.alphas_cumprod).abs().max()),
        "denoiser output": float((our_eps - their_eps).abs().max()),
        "reverse samples (same noise)": float((our_samples - their_samples).abs().max()),
        "critic values": float((our_q - their_q).abs().max()),
    }


def parse_envs(items: list[str]) -> dict[str, int]:
    envs = {}
    for item in items:
        env_id, _, steps = item.partition("=")
        if not steps.isdigit() or int(steps) <= 0:
            raise SystemExit(f"error: --envs: '{item}' is not ENV=STEPS with a positive number of steps")
        envs[env_id] = int(steps)
    return envs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--authors-code", type=Path, help="a clone of github.com/wadx2019/qvpo (not needed with --impls sb3_qvpo)"
    )
    parser.add_argument("--envs", nargs="+", default=["Pendulum-v1=10000", "InvertedPendulum-v5=16000"], metavar="ENV=STEPS")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS))
    parser.add_argument("--n-diffusion-steps", type=int, default=5)
    parser.add_argument("--n-train-candidates", type=int, default=16)
    parser.add_argument("--n-eval-candidates", type=int, default=16)
    parser.add_argument("--width", type=int, default=64, help="units of each of the three hidden layers")
    parser.add_argument(
        "--qf-arch",
        type=int,
        nargs="+",
        default=None,
        metavar="UNITS",
        help="the critics' hidden layer sizes (default: three layers of --width)",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-starts", type=int, default=1000)
    parser.add_argument("--eval-freq", type=int, default=2000)
    parser.add_argument("--eval-episodes", type=int, default=5)
    parser.add_argument(
        "--ent-coef-decay-steps",
        type=int,
        default=None,
        metavar="STEPS",
        help="steps over which the entropy coefficient decays to its floor (default: each run's own; the paper's: 1000000)",
    )
    parser.add_argument(
        "--our-init",
        choices=["default", "authors"],
        default="default",
        help="this package's networks with PyTorch's initialisation (default) or the authors'",
    )
    parser.add_argument("--out", type=Path, default=Path("fidelity"))
    add_resume_arguments(parser)
    args = parser.parse_args()
    check_resume_arguments(parser, args)
    if args.stop_at is not None and not args.checkpoint_freq:
        parser.error("--stop-at needs checkpoints (--checkpoint-freq > 0)")
    if args.qf_arch is not None and min(args.qf_arch) <= 0:
        parser.error("--qf-arch: every layer needs a positive number of units")
    if args.ent_coef_decay_steps is not None and args.ent_coef_decay_steps <= 0:
        parser.error("--ent-coef-decay-steps must be positive")
    if args.authors_code is None and "authors" in args.impls:
        parser.error("--authors-code is needed to run the authors' implementation (or pass --impls sb3_qvpo)")
    th.set_num_threads(1)
    code = load_authors_code(args.authors_code) if args.authors_code is not None else None
    envs = parse_envs(args.envs)
    for env_id in envs:
        gym.spec(env_id)  # an unknown id fails here, before any training

    args.out.mkdir(parents=True, exist_ok=True)
    equivalence = forward_equivalence(code, args, next(iter(envs))) if code is not None else {}
    rows, paused = [], []
    for env_id, steps in envs.items():
        for seed in args.seeds:
            for impl in args.impls:
                result = train(impl, env_id, seed, steps, args, code)
                if result is None:
                    paused.append(f"{impl} {env_id} seed {seed}")
                else:
                    rows.append((env_id, seed, impl, result))
    run_csvs = [
        run_dir_of(args.out, impl, env_id, seed) / "evals.csv" for env_id in envs for seed in args.seeds for impl in args.impls
    ]
    evaluations = [row for path in run_csvs for row in path.read_text().splitlines()[1:]]
    (args.out / "evals.csv").write_text("\n".join([CSV_HEADER, *evaluations]) + "\n")

    lines = [
        f"Settings: {json.dumps(shared_settings(args))}.",
        "",
        "| env | seed | implementation | steps | final return | best return | CPU ms per update (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    for env_id, seed, impl, result in rows:
        lines.append(
            f"| {env_id} | {seed} | {impl} | {envs[env_id]} | {result['final']:.1f} | {result['best']:.1f} "
            f"| {result['ms_per_update']:.1f} |"
        )
    if paused:
        lines += ["", f"Paused at step {args.stop_at} (the same command without --stop-at goes on): {', '.join(paused)}."]
    if equivalence:
        lines += ["", "| forward equivalence (authors' initial weights copied into ours) | max abs difference |", "|---|---|"]
        lines += [f"| {name} | {value:.2e} |" for name, value in equivalence.items()]
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
