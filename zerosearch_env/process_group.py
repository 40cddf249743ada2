"""Leaving a ``torch.distributed`` process group at the end of a command."""

from __future__ import annotations

import sys


def leave_process_group() -> None:
    """When this process ran in a process group (``accelerate launch``, ``torchrun``): wait
    until every process is done, then close the group.

    A process that exits with its group open can abort in gloo's teardown while another
    still uses it (SIGABRT, "terminate called without an active exception"), which both
    training commands hit in about one two-process CPU run in five. Call it after the
    command succeeded only: after a failure, another process may be inside a collective
    operation, and a barrier would wait for it instead of letting the launcher stop the
    run. Without torch imported there is no group, and torch is not imported for it.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
