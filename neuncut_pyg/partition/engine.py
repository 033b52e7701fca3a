r"""The parts of PyG's distributed engine (``torch_geometric.distributed``) that partitioned
training touches, and the repairs it needs: the one place that knows PyG's engine is optional
(pyg-lib), deprecated and, in places, broken.

- **pyg-lib.** PyG's ``DistNeighborSampler`` runs pyg-lib operators
  (``torch.ops.pyg.dist_neighbor_sample``) and its ``Partitioner`` runs pyg-lib's METIS;
  :func:`require_pyg_lib` refuses early, naming the install command.
- **Deprecation.** PyG marks ``torch_geometric.distributed`` deprecated since 2.7 and warns each
  time a ``DistNeighborLoader`` is built, with ``warn(..., stack_level=2)``, a keyword
  :func:`warnings.warn` does not take (a ``TypeError`` in torch_geometric 2.8).
  :func:`dist_neighbor_loader` builds loaders with that call routed to a
  :class:`DeprecationWarning` (hidden by default, shown by test runners), patched only while
  the loader is built.
- **RPC.** PyG's RPC start waits 30 minutes for a peer that never comes;
  :func:`check_rpc_reachable` tries the port first, within a timeout of the caller's. Under
  ``torchrun`` (``TORCHELASTIC_USE_AGENT_STORE=True``) every rank would join RPC's rendezvous
  as a client of a store that nobody hosts (torchrun's agent hosts one at ``MASTER_PORT``
  only) and wait forever: :func:`start_rpc` lets rank 0 host it.
"""
from __future__ import annotations

import os
import socket
import time
import warnings
from contextlib import ExitStack
from typing import Any, Optional
from unittest import mock

import torch
import torch_geometric.typing
from torch_geometric.distributed import DistContext, DistNeighborLoader, dist_neighbor_loader, dist_neighbor_sampler
from torch_geometric.distributed.rpc import init_rpc

from neuncut_pyg import distributed as dist

__all__ = ["PYG_LIB_INSTALL", "require_pyg_lib", "build_dist_neighbor_loader", "check_rpc_reachable", "start_rpc"]

#: How to get pyg-lib: PyG's wheel index for the installed torch (CPU or CUDA build).
PYG_LIB_INSTALL = f"pip install pyg-lib -f https://data.pyg.org/whl/torch-{torch.__version__}.html"


def require_pyg_lib() -> None:
    """Raises ``ImportError`` (naming the install command) unless pyg-lib is importable."""
    if not torch_geometric.typing.WITH_PYG_LIB:
        raise ImportError(f"install pyg-lib for partitioned training: {PYG_LIB_INSTALL} "
                          "(PyG's distributed sampler runs its operators)")


def _warn_deprecated(message: Any, category: Any = None, stacklevel: int = 1,
                     stack_level: Optional[int] = None, **kwargs: Any) -> None:
    warnings.warn(message, category or DeprecationWarning, stacklevel=(stack_level or stacklevel) + 1, **kwargs)


def build_dist_neighbor_loader(*args: Any, **kwargs: Any) -> DistNeighborLoader:
    """PyG's :class:`~torch_geometric.distributed.DistNeighborLoader` (same arguments), its
    deprecation notice a :class:`DeprecationWarning` (see the module docs)."""
    with ExitStack() as stack:
        for module in (dist_neighbor_loader, dist_neighbor_sampler):
            stack.enter_context(mock.patch.object(module, "warn", _warn_deprecated))
        return DistNeighborLoader(*args, **kwargs)


def check_rpc_reachable(address: str, port: int, timeout: float) -> None:
    r"""Raises on every rank unless every rank can open a TCP connection to rank 0's RPC port
    within ``timeout`` seconds (rank 0 listens there meanwhile); collective over the default
    process group, which is up already."""
    rank = dist.get_rank()
    problem: Optional[str] = None
    server: Optional[socket.socket] = None
    if rank == 0:
        try:
            server = socket.create_server(("", port), reuse_port=False)
        except OSError as err:
            problem = f"rank 0 cannot listen on port {port} for RPC ({err}): pass another rpc_port"
    torch.distributed.barrier()
    if rank != 0:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((address, port), timeout=max(0.1, deadline - time.monotonic())).close()
                break
            except OSError as err:
                if time.monotonic() >= deadline:
                    problem = (f"rank {rank} could not reach rank 0's RPC port {address}:{port} within {timeout:g} s "
                               f"({err}): the port must be open on rank 0's machine "
                               "(rpc_port, default MASTER_PORT + 1) "
                               "and the address name rank 0's machine as the other machines reach it (rpc_address, "
                               "default MASTER_ADDR)")
                    break
                time.sleep(0.2)
    problems = [None] * dist.get_world_size()
    torch.distributed.all_gather_object(problems, problem)
    if server is not None:
        server.close()
    found = [p for p in problems if p is not None]
    if found:
        raise RuntimeError("RPC for partitioned training is not reachable: " + "; ".join(found))


def start_rpc(context: DistContext, address: str, port: int, timeout: float) -> None:
    """PyG's RPC start for ``context`` at rank 0's ``address:port`` (collective), once the port
    is known to be reachable, rank 0 hosting the rendezvous store (see the module docs)."""
    check_rpc_reachable(address, port, timeout)
    try:
        with mock.patch.dict(os.environ, {"TORCHELASTIC_USE_AGENT_STORE": "False"}):
            init_rpc(context, address, port, rpc_timeout=timeout)
    except RuntimeError as err:
        raise RuntimeError(f"partitioned training could not start RPC at {address}:{port}: {err}") from err
