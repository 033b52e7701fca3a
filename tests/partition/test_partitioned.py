"""Partitioned training on PyG's distributed engine (neuncut_pyg.partition, fitting.partitioned).

Tests that run PyG's ``DistNeighborLoader`` or ``Partitioner`` need pyg-lib and skip without it.
The graphs are partitioned with ``parts="random"``: METIS from pyg-lib's CPU wheels may die of an
illegal instruction on machines without AVX-512 (as on the development machines), which
``partition_graph(parts="metis")`` reports as an error instead.

The two-process tests share one spawn of 2 ranks (gloo and RPC on 127.0.0.1, free ports) with a
deadline, as ``tests/test_distributed.py`` does.
"""
from __future__ import annotations

import itertools
import os
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch_geometric.typing
from conftest import free_port, run_ranks

from neuncut_pyg.loss import NcutStatistics, ncut_statistics
from neuncut_pyg.sampling import cached_seed_statistics

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore:`torch_geometric.distributed` has been deprecated:DeprecationWarning"),
              pytest.mark.usefixtures("one_torch_thread")]

needs_pyg_lib = pytest.mark.skipif(not torch_geometric.typing.WITH_PYG_LIB,
                                   reason="pyg-lib is not installed: PyG's distributed sampler runs its operators")

WORLD = 2
DEADLINE_S = 900
NUM_NODES = 240
FEATURES = 8
CLUSTERS = 4
BATCH = 60
MIXING = 0.1
# The fit on 2 ranks (2 epochs, 2 runs, from the start stored at partition time) recovers the
# planted communities: NMI 0.917-0.954 over seeds 0-4 (the start alone: 0.969). The bar lies
# below the lowest; the test's fit is unseeded, so every run of the suite draws anew.
MIN_NMI = 0.85


def _graph(seed: int = 0):
    from neuncut_pyg.generators import planted_partition_graph

    return planted_partition_graph(NUM_NODES, CLUSTERS, 8.0, mixing=MIXING, num_features=FEATURES, size_exponent=0.0,
                                   seed=seed)


def _model(root=None):
    """A fixed model; with a partition ``root``, reading the input those partitions store."""
    from neuncut_pyg.models import NeuNcut
    from neuncut_pyg.partition.directory import INPUT_FILE

    torch.manual_seed(0)
    model = NeuNcut(FEATURES, CLUSTERS, hidden_channels=16, dropout=0.0, gamma=40.0)
    if root is not None:
        model.encoder.input_scaling.load_state_dict(torch.load(Path(root) / INPUT_FILE, weights_only=True))
    return model


# ---------------------------------------------------------------------------------------------
# Two ranks
# ---------------------------------------------------------------------------------------------


def _worker(rank: int, ports, roots, out: str) -> None:
    import torch.distributed as dist

    from neuncut_pyg.fitting import TrainSettings, seeds_of
    from neuncut_pyg.fitting.partitioned import Partitioned
    from neuncut_pyg.models import NeuNcut
    from neuncut_pyg.models.fit_support import OnSeeds as _OnSeeds
    from neuncut_pyg.partition import close_partitions, open_partition
    from neuncut_pyg.partition.engine import check_rpc_reachable

    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(ports["group"])
    dist.init_process_group("gloo", rank=rank, world_size=WORLD, timeout=timedelta(seconds=300))
    result = {}
    try:
        # 1. Failures a user can cause, before RPC starts.
        def error_of(call):
            try:
                call()
            except Exception as err:  # noqa: BLE001 - the test reads the type and message
                return type(err).__name__, str(err)
            return None

        # rank 1 dials a port where nothing listens
        result["unreachable"] = error_of(lambda: check_rpc_reachable(
            "127.0.0.1", ports["probe"] if rank == 0 else ports["closed"], 2.0))
        result["three_parts"] = error_of(lambda: open_partition(roots["three"], rpc_port=ports["rpc"]))
        result["mixed"] = error_of(lambda: open_partition(roots["main"] if rank == 0 else roots["other"],
                                                          rpc_port=ports["rpc"]))
        result["missing"] = error_of(lambda: open_partition(roots["main"] + "-missing", rpc_port=ports["rpc"]))

        # 2. An epoch with whole neighbourhoods and a fixed model: the summed seed terms.
        local = open_partition(roots["main"], rpc_port=ports["rpc"])
        model = _model(roots["main"])
        model.eval()
        settings = TrainSettings(1, 1e-2, 0.0, 40.0, False)
        strategy = Partitioned(_OnSeeds(model), local, settings, batch_size=BATCH, num_neighbors=[-1], hops=1, seed=3)
        with torch.no_grad():
            memberships = strategy.memberships()
            strategy.cache.reset(memberships)
            total = None
            for i, batch in enumerate(strategy.batches):
                s, seeds = strategy.on_seeds(batch), seeds_of(batch)
                if i == 0:  # one step's combined estimate, through the strategy's own reduction
                    result["step"] = strategy._statistics(s, batch)
                    result["step_seeds"] = seeds.clone()
                    strategy.cache.reset(memberships)
                terms = cached_seed_statistics(s, local.deg[local.rows[seeds]], strategy.cache.neighbour_sum(seeds))
                total = terms if total is None else NcutStatistics(*(a + b for a, b in zip(total, terms)))
            from neuncut_pyg.distributed import all_reduce_statistics

            result["epoch"] = all_reduce_statistics(total)
            result["steps"] = i + 1
        result["memberships"] = memberships
        result["num_local"] = local.num_local

        # 3. fit_partitioned without a seed (ranks start differently) and predict_partitioned.
        fitted = NeuNcut(FEATURES, CLUSTERS, hidden_channels=16)
        fitted.fit_partitioned(roots["main"], epochs=2, batch_size=BATCH, n_init=2, progress=False,
                               rpc_port=ports["rpc"])
        result.update(state={k: v.clone() for k, v in fitted.state_dict().items()},
                      objectives=fitted.init_objectives_, history=fitted.loss_history_.as_dict(),
                      labels_=fitted.labels_.clone(), init=fitted.init_)
        result["proba"] = fitted.predict_proba_partitioned(roots["main"], batch_size=50, rpc_port=ports["rpc"])
        torch.save(result, Path(out) / f"rank{rank}.pt")
    finally:
        close_partitions()
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def partitions(tmp_path_factory):
    pytest.importorskip("pyg_lib", reason="pyg-lib is not installed: partitioned training needs its operators")
    from neuncut_pyg.partition import partition_graph

    base = tmp_path_factory.mktemp("partitions")
    roots = {"main": base / "main", "three": base / "three", "other": base / "other"}
    partition_graph(_graph(), WORLD, roots["main"], parts="random", num_clusters=CLUSTERS)
    partition_graph(_graph(), 3, roots["three"], parts="random")
    partition_graph(_graph(seed=1), WORLD, roots["other"], parts="random")
    return {key: str(value) for key, value in roots.items()}


@pytest.fixture(scope="module")
def two_ranks(partitions, tmp_path_factory):
    out = tmp_path_factory.mktemp("ranks")
    ports = {"group": free_port(), "rpc": free_port(), "probe": free_port(), "closed": free_port()}
    return run_ranks(_worker, (ports, partitions, str(out)), out, WORLD, DEADLINE_S)


def _full_memberships(root):
    model = _model(root)
    model.eval()
    data = _graph()
    with torch.no_grad():
        return model(data.x, data.edge_index), data


@needs_pyg_lib
def test_partitioned_training_epoch_statistics_equal_the_full_graph(two_ranks, partitions):
    s, data = _full_memberships(partitions["main"])
    want = ncut_statistics(s, data.edge_index)
    for rank in two_ranks:
        # inference through DistNeighborLoader with whole neighbourhoods is the full-graph forward
        torch.testing.assert_close(rank["memberships"], s, rtol=1e-5, atol=1e-5)
        for got, expected in zip(rank["epoch"], want):
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert two_ranks[0]["steps"] == two_ranks[1]["steps"] == -(-NUM_NODES // BATCH)


@needs_pyg_lib
def test_partitioned_training_step_is_the_stratified_estimate(two_ranks, partitions):
    from neuncut_pyg.sampling import MembershipCache
    from neuncut_pyg.adjacency import symmetric_degrees, to_sparse_adjacency

    s, data = _full_memberships(partitions["main"])
    adj = to_sparse_adjacency(data.edge_index, num_nodes=NUM_NODES)
    cache = MembershipCache(adj, symmetric_degrees(adj))
    cache.reset(s)
    want = None
    for rank in two_ranks:
        seeds = rank["step_seeds"]
        # each rank's seeds: its partition's sums scaled by n_r / b_r
        part = cache.statistics(s[seeds], seeds, rank["num_local"] / seeds.numel())
        want = part if want is None else NcutStatistics(*(a + b for a, b in zip(want, part)))
    sizes = [rank["step_seeds"].numel() / rank["num_local"] for rank in two_ranks]
    assert abs(sizes[0] - sizes[1]) < 0.02  # seeds drawn in proportion to the partitions
    for rank in two_ranks:
        for got, expected in zip(rank["step"], want):
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@needs_pyg_lib
def test_partitioned_training_models_identical_on_both_ranks_and_recover_the_communities(two_ranks):
    first, second = two_ranks
    for key, value in first["state"].items():
        assert torch.equal(value, second["state"][key]), key
    assert first["objectives"] == second["objectives"] and len(first["objectives"]) == 2
    for key in ("loss", "cut", "orth"):
        assert first["history"][key] == second["history"][key]
    assert torch.equal(first["labels_"], second["labels_"])
    assert torch.equal(first["proba"], second["proba"])
    assert first["init"] == "spectral"  # the start stored at partition time was fitted
    from neuncut_pyg.metrics import nmi

    assert nmi(_graph().y, first["labels_"]) > MIN_NMI

    # predict_partitioned gathers the full-graph outputs of the fitted model
    model = _model()
    model.load_state_dict(first["state"])
    model.eval()
    data = _graph()
    with torch.no_grad():
        torch.testing.assert_close(first["proba"], model(data.x, data.edge_index), rtol=1e-5, atol=1e-5)
    assert torch.equal(first["proba"].argmax(-1), first["labels_"])


@needs_pyg_lib
def test_partitioned_training_clear_errors_on_two_ranks(two_ranks):
    for rank in two_ranks:
        kind, message = rank["unreachable"]
        assert kind == "RuntimeError" and "not reachable" in message and "within 2 s" in message
        kind, message = rank["three_parts"]
        assert kind == "ValueError" and "holds 3 partitions but the process group has 2 ranks" in message
        kind, message = rank["mixed"]
        assert kind == "ValueError" and "different graphs" in message
        kind, message = rank["missing"]
        assert kind == "FileNotFoundError" and "does not exist" in message


# ---------------------------------------------------------------------------------------------
# One process
# ---------------------------------------------------------------------------------------------


def test_partitioned_training_stratified_estimator_is_unbiased():
    """Over every draw of b_r seeds from each partition, sum_r n_r/b_r T_r averages to the full
    graph's statistics; weighting by seed counts (the union batch) does not when b_r/n_r differ."""
    ring = torch.arange(7)
    pairs = torch.cat([torch.stack([ring, (ring + 1) % 7]), torch.tensor([[0, 2], [3, 5]])], dim=1)
    edge_index = torch.cat([pairs, pairs.flip(0)], dim=1)  # a ring of 7 with two chords, undirected
    s = torch.softmax(torch.randn(7, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64), -1)
    from neuncut_pyg.adjacency import symmetric_degrees, to_sparse_adjacency

    adj = to_sparse_adjacency(edge_index, num_nodes=7)
    deg = symmetric_degrees(adj).double()
    full = ncut_statistics(s, edge_index)
    strata, draws = [torch.arange(0, 3), torch.arange(3, 7)], [1, 2]

    def terms(seeds):
        return cached_seed_statistics(s[seeds], deg[seeds], adj.index_select(0, seeds).matmul(s))

    stratified, union, count = None, None, 0
    for first in itertools.combinations(strata[0].tolist(), draws[0]):
        for second in itertools.combinations(strata[1].tolist(), draws[1]):
            parts = [terms(torch.tensor(first)), terms(torch.tensor(second))]
            est = NcutStatistics(*(3 / 1 * a + 4 / 2 * b for a, b in zip(*parts)))
            uni = NcutStatistics(*(7 / 3 * (a + b) for a, b in zip(*parts)))
            stratified = est if stratified is None else NcutStatistics(*(x + y for x, y in zip(stratified, est)))
            union = uni if union is None else NcutStatistics(*(x + y for x, y in zip(union, uni)))
            count += 1
    for got, want in zip(stratified, full):
        torch.testing.assert_close(got / count, want)
    assert not torch.allclose(union.vol / count, full.vol)


def test_partitioned_training_pyg_deprecation_notice_becomes_a_deprecation_warning():
    """PyG 2.8 issues it as warn(..., stack_level=2), a TypeError; while a loader is built the
    call is routed to warnings.warn, and only then."""
    import warnings

    from torch_geometric.distributed import dist_neighbor_sampler

    from neuncut_pyg.partition import engine

    with pytest.warns(DeprecationWarning, match="has been deprecated"):
        engine._warn_deprecated("`torch_geometric.distributed` has been deprecated since 2.7.0", stack_level=2)
    assert dist_neighbor_sampler.warn is warnings.warn


def test_partitioned_training_steps_and_seed_chunks():
    from neuncut_pyg.fitting.partitioned import steps_per_epoch
    from neuncut_pyg.partition import SeedChunks

    assert steps_per_epoch(60, [110, 130]) == 4
    assert steps_per_epoch(1, [3, 500]) == 3  # at least one seed per rank and step
    chunks = SeedChunks(130, rank=1)
    chunks.configure(steps=4, shuffle=True, seed=2)
    first, second = list(chunks), list(chunks)
    assert len(first) == len(chunks) == 4 and {len(c) for c in first} <= {32, 33}
    assert sorted(sum(first, [])) == list(range(130))  # every node once per epoch
    assert first != second  # a new order every epoch
    chunks.configure(steps=2, shuffle=False, pool=torch.tensor([5, 7, 9]))
    assert list(chunks) == [[5, 7], [9]]
    with pytest.raises(ValueError, match="steps"):
        chunks.configure(steps=4, shuffle=False, pool=torch.tensor([1, 2]))


def test_partitioned_training_without_pyg_lib_says_how_to_install(monkeypatch, tmp_path):
    from neuncut_pyg.models import NeuNcut
    from neuncut_pyg.partition import partition_graph

    monkeypatch.setattr(torch_geometric.typing, "WITH_PYG_LIB", False)
    for call in (lambda: partition_graph(_graph(), 2, tmp_path / "p"),
                 lambda: NeuNcut(FEATURES, CLUSTERS).fit_partitioned(tmp_path / "p", batch_size=32)):
        with pytest.raises(ImportError, match=r"install pyg-lib for partitioned training: pip install pyg-lib -f "
                                              r"https://data\.pyg\.org/whl/torch-"):
            call()
    assert not (tmp_path / "p").exists()  # raised before any work


@needs_pyg_lib
def test_partitioned_training_partition_directory_checks(tmp_path):
    from neuncut_pyg.partition import COLUMNS, LocalPartition, graph_fingerprint, partition_graph, read_metadata

    data = _graph()
    root = tmp_path / "parts"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_metadata(root)
    meta = partition_graph(data, 2, root, parts="random")
    assert meta["fingerprint"] == graph_fingerprint(data.x, data.edge_index)
    assert meta["columns"] == list(COLUMNS) and sum(p["num_nodes"] for p in meta["parts"]) == NUM_NODES
    assert sum(p["num_edges"] for p in meta["parts"]) == data.edge_index.size(1)
    assert partition_graph(data, 2, root, parts="random") == meta  # the same graph: kept as it is
    with pytest.raises(ValueError, match="another graph"):
        partition_graph(_graph(seed=1), 2, root, parts="random")

    # the columns a rank reads are the full graph's terms
    local = LocalPartition(root.resolve(), 0, 2, meta)
    from neuncut_pyg.models.graph import Graph

    sampled = _model().encoder.sampling_data(data.x, Graph(data.x, data.edge_index))
    torch.testing.assert_close(local.deg, sampled.deg[local.node_ids])
    x = local.feature_store.get_tensor(group_name=None, attr_name="x")
    batch = local.split(type(sampled)(x=x[local.feature_store.get_global_id(None).argsort()]))
    for name in ("count", "gcn_scale", "gcn_loop", "gcn_count"):
        torch.testing.assert_close(getattr(batch, name), getattr(sampled, name)[local.node_ids], check_dtype=False)
    # every row of W of the partition's nodes, none of other nodes
    dense = torch.zeros(NUM_NODES, NUM_NODES)
    dense[data.edge_index[0], data.edge_index[1]] = 1
    torch.testing.assert_close(local.adjacency.to_dense(), dense[local.node_ids])

    # a part from another partitioning is refused
    other = tmp_path / "other"
    partition_graph(data, 2, other, parts="random", seed=5)
    (root / "part_0" / "node_feats.pt").write_bytes((other / "part_0" / "node_feats.pt").read_bytes())
    with pytest.raises(ValueError, match="does not hold the partition"):
        LocalPartition(root.resolve(), 0, 2, meta)
    (root / "neuncut_partitions.json").unlink()
    with pytest.raises(FileNotFoundError, match="not written by partition_graph"):
        read_metadata(root)
    with pytest.raises(ValueError, match="not empty"):
        partition_graph(data, 2, root, parts="random")


@needs_pyg_lib
def test_partitioned_training_reads_the_input_of_a_mini_batch_fit(tmp_path):
    # The stored features are what a GNN encoder reads in a mini-batch fit: x smoothed to the
    # start's depth and standardized; smoothed_input=False keeps x as given.
    from neuncut_pyg.models.encoders import RAW_INPUT
    from neuncut_pyg.models.graph import Graph
    from neuncut_pyg.partition import LocalPartition, partition_graph

    data = _graph()

    def stored_rows(root, meta):
        rows = []
        for rank in range(2):
            local = LocalPartition(root.resolve(), rank, 2, meta)
            x = local.feature_store.get_tensor(group_name=None, attr_name="x")[:, :FEATURES]
            rows.append((local.feature_store.get_global_id(None), x))
        ids, x = (torch.cat(parts) for parts in zip(*rows))
        return x[ids.argsort()]

    meta = partition_graph(data, 2, tmp_path / "smoothed", parts="random", num_clusters=CLUSTERS)
    start = torch.load(tmp_path / "smoothed" / "start.pt", weights_only=True)
    model = _model(tmp_path / "smoothed")
    assert meta["input"]["steps"] == model.encoder.input_scaling.depth == start["steps"] >= 1
    graph = Graph(data.x, data.edge_index)
    torch.testing.assert_close(stored_rows(tmp_path / "smoothed", meta), model.encoder.node_features(graph))
    mini = _model().fit(data, batch_size=64, epochs=1, seed=0, progress=False)  # the same input in mini-batches
    assert mini.encoder.input_scaling.depth == start["steps"]

    meta = partition_graph(data, 2, tmp_path / "raw", parts="random", smoothed_input=False)
    assert meta["input"]["steps"] == RAW_INPUT
    torch.testing.assert_close(stored_rows(tmp_path / "raw", meta), data.x)


@needs_pyg_lib
def test_partitioned_training_refuses_what_it_cannot_train(tmp_path):
    from neuncut_pyg.models import NeuNcut
    from neuncut_pyg.partition import partition_graph

    data = _graph()
    weighted = data.clone()
    weighted.edge_weight = torch.ones(data.edge_index.size(1))
    with pytest.raises(ValueError, match="unweighted"):
        partition_graph(weighted, 2, tmp_path / "w", parts="random")
    with pytest.raises(ValueError, match="parts must"):
        partition_graph(data, 2, tmp_path / "a", parts=torch.zeros(NUM_NODES, dtype=torch.long))
    with pytest.raises(ValueError, match="encoder='mlp'"):
        NeuNcut(FEATURES, CLUSTERS, encoder="mlp").fit_partitioned(tmp_path / "a", batch_size=32)
    with pytest.raises(RuntimeError, match="process group"):
        NeuNcut(FEATURES, CLUSTERS).fit_partitioned(tmp_path / "a", batch_size=32)


def test_partitioned_training_input_must_match_the_model():
    # fit_partitioned takes the partitions' input as the encoder's; later calls refuse another one.
    from types import SimpleNamespace

    from torch_geometric.nn import GCNConv

    from neuncut_pyg.models import NeuNcut
    from neuncut_pyg.models.encoders import RAW_INPUT

    def partitions(steps):
        state = {"steps": torch.tensor(steps), "shift": torch.full((FEATURES,), 0.5, dtype=torch.float64),
                 "scale": torch.full((FEATURES,), 2.0, dtype=torch.float64)}
        return SimpleNamespace(root=Path("parts"), input_state=lambda: {k: v.clone() for k, v in state.items()})

    model = _model()
    with pytest.raises(ValueError, match="store the input at depth 3"):
        model._read_partition_input(partitions(3), fit=False)  # a model that reads x as given
    model._read_partition_input(partitions(3), fit=True)
    assert model.encoder.input_scaling.depth == 3 and float(model.encoder.input_scaling.scale[0]) == 2.0
    model._read_partition_input(partitions(3), fit=False)  # the input it was fitted on: accepted
    custom = NeuNcut(FEATURES, CLUSTERS, encoder=GCNConv(FEATURES, 16), encoder_out_channels=16)
    with pytest.raises(ValueError, match="smoothed_input=False"):
        custom._read_partition_input(partitions(3), fit=True)
    custom._read_partition_input(partitions(RAW_INPUT), fit=True)  # x as given: what it reads
