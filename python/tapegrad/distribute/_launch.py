"""The ``mpirun`` command line the tests, benchmarks and CI use: Open MPI on
one machine (loopback), safe in containers."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys


def have_mpirun() -> bool:
    """Whether ``mpirun`` is on the PATH and mpi4py is importable."""
    return shutil.which("mpirun") is not None and importlib.util.find_spec("mpi4py") is not None


def mpirun_command(processes: int, argv: list[str]) -> list[str]:
    """``mpirun -n processes`` running ``python argv...`` with Open MPI
    settings for a single machine, including a container: shared-memory and
    self transports only (``btl self,vader``), no cross-process memory
    attach (``btl_vader_single_copy_mechanism none``: containers usually
    forbid ``ptrace``), more processes than cores allowed
    (``--oversubscribe``), and root allowed (``--allow-run-as-root``) when
    running as root.

    >>> mpirun_command(2, ["train.py"])[:3]
    ['mpirun', '-n', '2']
    """
    command = ["mpirun", "-n", str(processes)]
    command += ["--oversubscribe", "--mca", "btl", "self,vader"]
    command += ["--mca", "btl_vader_single_copy_mechanism", "none"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-run-as-root")
    return command + [sys.executable, *argv]
