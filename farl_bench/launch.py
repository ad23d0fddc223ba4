"""`farl-bench sweep`: a grid as N shard jobs (`farl-bench run ... --shard i/N` each), submitted with
submitit to Slurm, or to processes on this machine (`local`, for trying a sweep out).

Shards share one results folder: appends are locked and cells are keyed, so the shards' records
merge there as they finish, and a re-submitted sweep runs only the cells still missing.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from farl_bench.errors import UserError

LAUNCHERS = ("slurm", "local")


@dataclass(frozen=True)
class JobOptions:
    partition: str | None = None
    account: str | None = None
    gpus: int = 0           # per job; more than one runs the shard under torchrun (DDP)
    cpus: int = 8           # per job
    time_min: int = 240


def shard_command(run_args: list[str], index: int, count: int, gpus: int) -> list[str]:
    """The command line of one shard: `farl-bench run ARGS --shard i/N`, under torchrun for > 1 GPU."""
    if gpus > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
                    "-m", "farl_bench"]
    else:
        launcher = [sys.executable, "-m", "farl_bench"]
    return [*launcher, "run", *run_args, "--shard", f"{index}/{count}"]


class ShardJob:
    """One shard's command, run in the job. On pre-emption or time-out submitit calls `checkpoint`
    and the job is requeued with the same command, which skips the cells already recorded."""

    def __init__(self, command: list[str]):
        self.command = command

    def __call__(self) -> None:
        subprocess.run(self.command, check=True)  # output goes straight to the job's log files

    def checkpoint(self) -> object:
        import submitit

        return submitit.helpers.DelayedSubmission(ShardJob(self.command))


def submit(run_args: list[str], count: int, launcher: str, logs: Path, options: JobOptions) -> list:
    """Submit `count` shard jobs (one array job on Slurm); returns the submitit jobs in shard order."""
    import submitit

    if launcher not in LAUNCHERS:
        raise UserError(f"--launcher {launcher!r}: choose {' or '.join(LAUNCHERS)}")
    if any(a == "--shard" or a.startswith("--shard=") for a in run_args):
        raise UserError("sweep sets --shard itself: leave it out and give --shards N")
    if launcher == "slurm" and shutil.which("sbatch") is None:
        raise UserError("--launcher slurm: no sbatch here; submit from a Slurm login node, "
                        "or try the sweep on this machine with --launcher local")
    executor = submitit.AutoExecutor(folder=logs, cluster=launcher)
    parameters = {"name": "farl-bench", "timeout_min": options.time_min, "gpus_per_node": options.gpus or None,
                  "tasks_per_node": 1, "cpus_per_task": options.cpus, "slurm_partition": options.partition,
                  "slurm_account": options.account}
    executor.update_parameters(**{k: v for k, v in parameters.items() if v is not None})
    jobs = [ShardJob(shard_command(run_args, i, count, options.gpus)) for i in range(count)]
    with executor.batch():
        submitted = [executor.submit(job) for job in jobs]
    return submitted


def wait(jobs: list) -> list[str]:
    """Wait for every job; one line per failed shard naming its log (empty when all succeeded)."""
    failures = []
    for i, job in enumerate(jobs):
        try:
            job.result()
        except Exception:  # submitit wraps the job's own error; the log holds the details
            failures.append(f"shard {i}/{len(jobs)} (job {job.job_id}) failed: see {job.paths.stderr}")
    return failures
