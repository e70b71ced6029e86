import os

from setuptools import find_packages, setup

with open(os.path.join("sb3_qvpo", "version.py")) as file_handler:
    __version__ = file_handler.read().split('"')[1]

with open("README.md", encoding="utf-8") as file_handler:
    long_description = file_handler.read()

# What SB3's own "extra" adds that QVPO uses: learn(progress_bar=True) and tensorboard_log=...
EXTRA_REQUIRES = ["tqdm", "rich", "tensorboard"]

ZOO_REQUIRES = [
    *EXTRA_REQUIRES,
    "rl_zoo3>=2.9.2,<3.0",
    "optuna>=3.0",
    "pyyaml",
    # Optuna's RDB storage on PostgreSQL (--storage postgresql://...): SQLAlchemy >= 2.1 reads
    # postgresql:// with psycopg (3), older SQLAlchemy with psycopg2
    "sqlalchemy",
    "psycopg[binary]",
    "psycopg2-binary",
    # needed by the rl_zoo3 console command and its plots
    "requests",
    "scipy",
    "seaborn",
    # record_video: rendering of the classic-control tasks and the video writer
    "gymnasium[classic-control]>=1.0",
    "moviepy",
]

# benchmarks/compare.py (plots and statistics) and benchmarks/multimodal.py
EVIDENCE_REQUIRES = ["matplotlib", "pandas", "scipy"]

setup(
    name="sb3_qvpo",
    packages=[package for package in find_packages() if package.startswith("sb3_qvpo")],
    package_data={"sb3_qvpo": ["py.typed"], "sb3_qvpo.zoo": ["hyperparams/*.yml"]},
    install_requires=[
        "stable_baselines3>=2.9.2,<3.0",
        # torch 2.13 satisfies this range; install it first (pip install torch==2.13.0) to get the CPU build
        "torch>=2.3,<2.14",
        "gymnasium>=1.0",
        "numpy",
    ],
    extras_require={
        # progress bar and TensorBoard logging (the README's first command installs it)
        "extra": EXTRA_REQUIRES,
        "mujoco": ["gymnasium[mujoco]>=1.0"],
        "box2d": ["gymnasium[box2d]>=1.0"],
        # rl-zoo3 integration (python -m sb3_qvpo.zoo / qvpo-zoo) and tuning on PostgreSQL
        "zoo": ZOO_REQUIRES,
        # comparisons with SB3 algorithms and the multimodality demo
        "evidence": EVIDENCE_REQUIRES,
        "tests": [
            *ZOO_REQUIRES,
            *EVIDENCE_REQUIRES,
            "pytest",
            "pytest-xdist",
            "ruff",
            "mypy",
        ],
    },
    entry_points={"console_scripts": ["qvpo-zoo=sb3_qvpo.zoo.__main__:main"]},
    description="QVPO (diffusion-policy online RL, NeurIPS 2024) for Stable-Baselines3",
    long_description=long_description,
    long_description_content_type="text/markdown",
    author="sb3-qvpo developers",
    license="MIT",
    keywords="reinforcement-learning diffusion-policy stable-baselines3 qvpo mujoco gymnasium",
    python_requires=">=3.10",
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: MIT License",
    ],
    version=__version__,
)
