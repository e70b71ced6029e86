"""The CPU preset has one definition, and importing the package leaves torch's global settings alone."""

import json
import subprocess
import sys

import yaml

from sb3_qvpo.presets import CPU_PRESET, cpu_preset
from sb3_qvpo.zoo.checks import parse_policy_kwargs
from sb3_qvpo.zoo.registration import DEFAULT_CONFIG

CPU_ENTRIES = ("Pendulum-v1", "MountainCarContinuous-v0", "LunarLanderContinuous-v3")


def test_zoo_cpu_entries_are_the_cpu_preset():
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    for env_id in CPU_ENTRIES:
        entry = dict(config[env_id])
        entry["policy_kwargs"] = parse_policy_kwargs(entry["policy_kwargs"])
        for key, value in CPU_PRESET.items():
            assert entry[key] == value, (env_id, key)


def test_cpu_preset_copies_are_independent():
    preset = cpu_preset()
    preset["policy_kwargs"]["net_arch"] = [8]
    preset["batch_size"] = 1
    assert CPU_PRESET["policy_kwargs"]["net_arch"] != [8] and CPU_PRESET["batch_size"] != 1


TORCH_GLOBALS = """
import json, sys
import torch as th

def torch_globals():
    return dict(
        threads=th.get_num_threads(),
        interop=th.get_num_interop_threads(),
        dtype=str(th.get_default_dtype()),
        deterministic=th.are_deterministic_algorithms_enabled(),
        matmul_precision=th.get_float32_matmul_precision(),
        grad=th.is_grad_enabled(),
    )

before = torch_globals()
import sb3_qvpo, sb3_qvpo.policies, sb3_qvpo.qvpo, sb3_qvpo.presets, sb3_qvpo.envs, sb3_qvpo.zoo.registration
print(json.dumps([before, torch_globals()]))
"""


def test_import_does_not_change_torch_globals():
    result = subprocess.run([sys.executable, "-c", TORCH_GLOBALS], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    before, after = json.loads(result.stdout.strip().splitlines()[-1])
    assert before == after
