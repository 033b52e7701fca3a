"""Data-parallel training over torch.distributed: 2 processes (gloo, CPU) against 1 process.

The two-process test starts its workers with ``torch.multiprocessing`` (spawn), a gloo process
group on 127.0.0.1 and a free port, and a deadline: a worker that hangs in a collective is
killed and the test fails instead of hanging.
"""
from __future__ import annotations

import os
import socket
import time
from datetime import timedelta
from pathlib import Path

import pytest
import torch

from neuncut_pyg.distributed import (
    average_statistics,
    all_reduce_statistics,
    get_rank,
    get_world_size,
    shard_seeds,
)
from neuncut_pyg.loss import NcutStatistics

pytestmark = [pytest.mark.filterwarnings("ignore:Sparse:UserWarning"), pytest.mark.usefixtures("one_torch_thread")]

WORLD = 2
DEADLINE_S = 600
NUM_NODES = 240
SEEDS_PER_RANK = 40


def _graph():
    from neuncut_pyg.generators import planted_partition_graph

    return planted_partition_graph(NUM_NODES, 4, 8.0, num_features=8, size_exponent=0.0, seed=0)


def _model():
    from neuncut_pyg.models import NeuNcut

    torch.manual_seed(0)
    # No dropout: one step is then a deterministic function of the parameters and the seeds.
    return NeuNcut(8, 4, hidden_channels=16, num_layers=1, dropout=0.0, gamma=40.0)


def _one_step(model, loader, estimate, reduce=None):
    """One step of the real training loop; returns (loss, gradients). SGD with lr=0 keeps the
    parameters and leaves the (DDP-averaged) gradients in .grad."""
    from neuncut_pyg.fitting import train_mini_batch

    params = list(model.parameters())
    history = train_mini_batch(model, loader, estimate, reduce_statistics=reduce, epochs=1, lr=1.0,
                               gamma=40.0, optimizer=torch.optim.SGD(params, lr=0.0), progress=False)
    return history.loss[0], [p.grad.detach().clone() for p in params]


class _AllBatchNodes(torch.nn.Module):
    """The model on a NeighborLoader batch: memberships of every node of the batch, as the
    sampled-neighbour estimator (sampling.batch_estimate) reads them."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, batch):
        return self.model._logits(self.model.encoder.batch_input(batch)).softmax(dim=-1)


def _worker(rank: int, port: int, out: str) -> None:
    import torch.distributed as dist

    from neuncut_pyg.checkpoint import load_checkpoint, save_checkpoint_on_main
    from neuncut_pyg.distributed import ShardedNeighborLoader, StatisticsReducer, wrap_ddp
    from neuncut_pyg.models import NeuNcut
    from neuncut_pyg.models.graph import Graph

    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD, timeout=timedelta(seconds=60))
    try:
        result = {}
        data = _graph()

        # 1. One step, with the library's pieces: sharded seeds, the reducer, DDP.
        model = _model()
        sampled = model.encoder.sampling_data(data.x, Graph(data.x, data.edge_index))
        loader = ShardedNeighborLoader(sampled, num_neighbors=[-1, -1], batch_size=SEEDS_PER_RANK, seed=3)
        batch = next(iter(loader))  # full neighbourhoods: no sampling randomness
        reducer = StatisticsReducer(NUM_NODES)
        loss, grads = _one_step(wrap_ddp(_AllBatchNodes(model)), [batch], reducer.estimate, reducer)
        result.update(seeds=batch.n_id[: batch.batch_size].clone(), loss=loss, grads=grads)

        # 2. fit(distributed=True), no seed: ranks start from different initializations and
        # sample different neighbours; the fitted model must still be one model.
        fitted = NeuNcut(8, 4, hidden_channels=16)
        fitted.fit(data, epochs=3, lr=1e-2, n_init=2, batch_size=60, num_neighbors=[5],
                   progress=False, distributed=True)
        result.update(state={k: v.clone() for k, v in fitted.state_dict().items()},
                      objectives=fitted.init_objectives_, history=fitted.loss_history_.as_dict(),
                      labels=fitted.predict(data))

        # 3. One checkpoint, written by rank 0, readable by every rank after the barrier.
        path = save_checkpoint_on_main(Path(out) / "ckpt", fitted, {"distributed": True}, [str(i) for i in range(NUM_NODES)])
        loaded, config, _ = load_checkpoint(path.parent)
        result["checkpoint_matches"] = all(torch.equal(loaded.state_dict()[k], v) for k, v in fitted.state_dict().items())
        torch.save(result, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    import torch.multiprocessing as mp

    out = tmp_path_factory.mktemp("ddp")
    context = mp.start_processes(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=False,
                                 start_method="spawn")
    deadline = time.monotonic() + DEADLINE_S
    try:
        while not context.join(timeout=5):
            if time.monotonic() > deadline:
                pytest.fail(f"the {WORLD} ranks did not finish within {DEADLINE_S} s (a collective hung?)")
    finally:
        for process in context.processes:  # only the workers this fixture started
            if process.is_alive():
                process.kill()
                process.join(5)
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


def test_one_step_equals_one_process_over_the_union_batch(two_ranks):
    from torch_geometric.loader import NeighborLoader

    from neuncut_pyg.models.graph import Graph
    from neuncut_pyg.sampling import batch_estimate

    union = torch.cat([r["seeds"] for r in two_ranks])
    assert union.unique().numel() == WORLD * SEEDS_PER_RANK  # the ranks' seeds are disjoint

    model = _model()
    data = _graph()
    sampled = model.encoder.sampling_data(data.x, Graph(data.x, data.edge_index))
    batch = next(iter(NeighborLoader(sampled, num_neighbors=[-1, -1], input_nodes=union, batch_size=union.numel())))
    loss, grads = _one_step(_AllBatchNodes(model), [batch], lambda s, b: batch_estimate(s, b, NUM_NODES))

    for rank in two_ranks:
        assert rank["loss"] == pytest.approx(loss, rel=1e-5, abs=1e-5)
        for got, want in zip(rank["grads"], grads):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert two_ranks[0]["loss"] == two_ranks[1]["loss"]  # one objective, bitwise, on every rank
    assert max(float(g.abs().max()) for g in grads) > 1e-3  # the comparison is not of zeros


def test_fitted_model_is_identical_on_every_rank(two_ranks):
    first, second = two_ranks
    assert first["state"].keys() == second["state"].keys()
    for key, value in first["state"].items():
        assert torch.equal(value, second["state"][key]), key
    assert first["objectives"] == second["objectives"]
    for key in ("loss", "cut", "orth"):  # the per-epoch wall times differ, naturally
        assert first["history"][key] == second["history"][key]
    assert torch.equal(first["labels"], second["labels"])
    assert len(first["objectives"]) == 2 and len(first["history"]["loss"]) == 3


def test_one_checkpoint_from_rank_zero(two_ranks):
    assert all(rank["checkpoint_matches"] for rank in two_ranks)


# ---------------------------------------------------------------------------------------------
# In one process
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_nodes,world", [(10, 1), (10, 2), (10, 3), (7, 4), (3, 5)])
def test_shard_seeds_cover_every_node_in_equal_shards(num_nodes, world):
    shards = [shard_seeds(num_nodes, rank=r, world_size=world, epoch=2, seed=5) for r in range(world)]
    assert len({s.numel() for s in shards}) == 1
    assert shards[0].numel() == -(-num_nodes // world)
    assert set(torch.cat(shards).tolist()) == set(range(num_nodes))
    if num_nodes % world == 0:
        assert torch.cat(shards).unique().numel() == num_nodes  # disjoint
    again = [shard_seeds(num_nodes, rank=r, world_size=world, epoch=2, seed=5) for r in range(world)]
    assert all(torch.equal(a, b) for a, b in zip(shards, again))  # the same on every rank, no messages


def test_shard_seeds_new_permutation_each_epoch():
    a = shard_seeds(100, rank=0, world_size=2, epoch=0, seed=1)
    b = shard_seeds(100, rank=0, world_size=2, epoch=1, seed=1)
    assert not torch.equal(a, b)
    with pytest.raises(ValueError, match="rank"):
        shard_seeds(10, rank=2, world_size=2)


def test_helpers_are_the_identity_outside_a_process_group():
    stats = NcutStatistics(torch.ones(3), torch.ones(3), torch.eye(3))
    assert get_rank() == 0 and get_world_size() == 1
    assert all_reduce_statistics(stats) is stats
    assert average_statistics(stats, 17) is stats
    with pytest.raises(ValueError, match="weight"):
        average_statistics(stats, 0)


def test_fit_distributed_needs_a_process_group_and_a_batch_size():
    from neuncut_pyg.models import NeuNcut

    data = _graph()
    with pytest.raises(ValueError, match="process group"):
        NeuNcut(8, 4).fit(data, epochs=1, batch_size=32, distributed=True)
