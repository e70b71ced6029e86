"""Helpers of the rl-zoo3 tests: run the CLI in a subprocess, a tiny hyperparameter file, a throwaway PostgreSQL."""

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent

# Tiny QVPO settings: the tests check the plumbing, not learning.
TINY_HYPERPARAMS = {
    "n_timesteps": 300,
    "policy": "MlpPolicy",
    "learning_starts": 50,
    "batch_size": 32,
    "buffer_size": 10_000,
    "n_diffusion_steps": 3,
    "n_train_candidates": 4,
    "n_behavior_candidates": 2,
    "n_target_candidates": 2,
    "n_eval_candidates": 4,
    "n_uniform_samples": 2,
    "policy_kwargs": "dict(net_arch=[16])",
}


def write_tiny_conf(path: Path, env_id: str = "Pendulum-v1", **overrides) -> Path:
    path.write_text(yaml.safe_dump({env_id: {**TINY_HYPERPARAMS, **overrides}}))
    return path


def zoo_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    env.setdefault("MUJOCO_GL", "egl")
    return env


def zoo_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "sb3_qvpo.zoo", *args]


def run_zoo(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m sb3_qvpo.zoo ARGS``; fail with its output if it fails."""
    result = subprocess.run(zoo_command(*args), cwd=cwd, env=zoo_env(), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


def postgres_bindir() -> Path:
    """Directory of PostgreSQL's server programs (initdb, pg_ctl)."""
    candidates = []
    if shutil.which("pg_config"):
        output = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        candidates.append(output)
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb")).resolve().parent))  # type: ignore[arg-type]
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise RuntimeError(
        "PostgreSQL's initdb and pg_ctl were not found (pg_config --bindir, /usr/lib/postgresql/*/bin, PATH): "
        "install the Debian package 'postgresql'"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def throwaway_postgres(database: str = "optuna", password: str | None = None) -> Iterator[str]:
    """
    A PostgreSQL server on 127.0.0.1 with its data in a new temporary directory, stopped and
    deleted on exit (also on failure). As root, the server runs as the ``postgres`` user
    (initdb refuses root). Yields the URL of an empty database; with ``password``, the server asks for it
    (scram-sha-256) and the URL holds it.
    """
    bindir = postgres_bindir()
    as_server_user: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="qvpo-postgres-"))
    if as_server_user:
        shutil.chown(root, user="postgres")
    data, port = root / "data", free_port()

    def run(*command: str) -> None:
        result = subprocess.run([*as_server_user, *command], capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
            raise RuntimeError(f"{command[0]} failed:\n{result.stdout}\n{result.stderr}\n{log}")

    started = False
    try:
        auth = ["-A", "trust"]
        if password is not None:
            (root / "password").write_text(password + "\n")
            if as_server_user:
                shutil.chown(root / "password", user="postgres")
            auth = ["-A", "scram-sha-256", f"--pwfile={root / 'password'}"]
        run(str(bindir / "initdb"), "-D", str(data), *auth, "-U", "postgres", "--no-sync", "-E", "UTF8")
        options = f"-h 127.0.0.1 -p {port} -k {root} -F"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "-t", "60", "start")
        started = True
        createdb = [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", database]
        run(*(["env", f"PGPASSWORD={password}", *createdb] if password is not None else createdb))
        user = "postgres" if password is None else f"postgres:{password}"
        yield f"postgresql://{user}@127.0.0.1:{port}/{database}"
    finally:
        if started:
            subprocess.run(
                [*as_server_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)
