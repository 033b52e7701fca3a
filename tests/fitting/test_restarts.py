"""The restart loop (:mod:`neuncut_pyg.fitting.restarts`): ``n_init`` runs, the lowest loss
kept, warm starts, and the runs of a spectral start fitted to shrinking cores of it."""
from __future__ import annotations

import pytest
import torch

from conftest import skip_without_planetoid
from neuncut_pyg import NeuNcut
from neuncut_pyg.fitting import restarts
from neuncut_pyg.loss import relaxed_ncut_loss
from neuncut_pyg.metrics import nmi
from neuncut_pyg.start import core

pytestmark = [pytest.mark.filterwarnings("ignore:Sparse:UserWarning"), pytest.mark.usefixtures("one_torch_thread")]


def quick_fit(model: NeuNcut, data, epochs: int = 150, seed: int = 0, n_init: int = 1, init: str = "auto") -> NeuNcut:
    return model.fit(data, epochs=epochs, lr=1e-2, progress=False, seed=seed, n_init=n_init, init=init)


def test_n_init_keeps_the_lowest_loss_run(three_blocks):
    model = quick_fit(NeuNcut(8, 3, hidden_channels=16), three_blocks, epochs=40, seed=2, n_init=3)
    objectives = model.init_objectives_
    assert model.objective_ == min(objectives)
    # The kept parameters are those of the best run: re-scoring them gives its objective.
    score = relaxed_ncut_loss(model.predict_proba(three_blocks), three_blocks.edge_index, gamma=model.gamma_).loss
    assert float(score) == pytest.approx(model.objective_, rel=1e-4)
    with pytest.raises(ValueError, match="warm_start=True continues one run"):
        model.fit(three_blocks, epochs=1, progress=False, n_init=2, warm_start=True)


def test_fit_reinitializes_unless_warm_start(three_blocks):
    # From random parameters: a spectral start begins each run near the minimum already, so that
    # a fresh run and a continued one would start at about the same loss.
    model = quick_fit(NeuNcut(8, 3, hidden_channels=16), three_blocks, epochs=40, init="random")
    trained_loss = model.loss_history_.loss[-1]
    model.fit(three_blocks, epochs=1, lr=1e-2, progress=False, seed=0, init="random")
    assert model.loss_history_.loss[0] > trained_loss  # started over
    model.fit(three_blocks, epochs=1, lr=1e-2, progress=False, seed=0, init="random")
    fresh_start = model.loss_history_.loss[0]
    quick_fit(model, three_blocks, epochs=40, init="random")
    model.fit(three_blocks, epochs=1, lr=1e-2, progress=False, n_init=1, warm_start=True)
    assert model.loss_history_.loss[0] < fresh_start


def test_fit_spectral_start_keeps_the_partition_and_is_deterministic(six_communities):
    fits = [NeuNcut(six_communities.num_features, 6).fit(six_communities, epochs=30, n_init=2, seed=1, init="spectral",
                                                 progress=False) for _ in range(2)]
    labels = [m.predict(six_communities) for m in fits]
    assert torch.equal(labels[0], labels[1])
    assert nmi(six_communities.y, labels[0]) > 0.8
    # The first run is fitted to the whole start: the Ncut training refines it, not starts over.
    # (Later runs fit only cores of the start and may move more of its boundary nodes.)
    first = NeuNcut(six_communities.num_features, 6).fit(six_communities, epochs=30, n_init=1, seed=1, progress=False)
    assert nmi(first.init_clustering_.labels, first.predict(six_communities)) > 0.8


def test_fit_spectral_start_in_mini_batches(six_communities, monkeypatch):
    monkeypatch.setattr(restarts, "DISTILL_CORE_STEPS", 20)
    model = NeuNcut(six_communities.num_features, 6)
    # Batches of 10 seeds: some hold no core node of the quarter-core run and are skipped.
    model.fit(six_communities, epochs=1, n_init=3, seed=0, batch_size=10, init="spectral", progress=False)
    assert model.init_ == "spectral" and model.init_core_fractions_ == [1.0, 0.5, 0.25]
    assert nmi(six_communities.y, model.predict(six_communities, batch_size=300)) > 0.6


def test_fit_spectral_runs_fit_shrinking_cores_of_the_start(six_communities, monkeypatch):
    fitted = []
    original = restarts.train_to_partition

    def spy(model, batches, **kwargs):
        def counting():
            for s, target in batches:
                fitted.append(int((target >= 0).sum()))
                yield s, target
        return original(model, counting(), **kwargs)

    monkeypatch.setattr(restarts, "train_to_partition", spy)
    monkeypatch.setattr(restarts, "DISTILL_STEPS", 2)
    monkeypatch.setattr(restarts, "DISTILL_CORE_STEPS", 2)
    model = NeuNcut(six_communities.num_features, 6).fit(six_communities, epochs=3, n_init=3, seed=0, progress=False)
    assert model.init_core_fractions_ == [1.0, 0.5, 0.25]
    start = model.init_clustering_
    expected = [int(core.partition_core(start.labels, start.margins, f).sum()) for f in (1.0, 0.5, 0.25)]
    assert fitted == [n for n in expected for _ in range(2)]
    assert expected[0] == six_communities.num_nodes and expected[2] < 0.3 * six_communities.num_nodes
    random = NeuNcut(six_communities.num_features, 6).fit(six_communities, epochs=1, n_init=2, seed=0, init="random", progress=False)
    assert random.init_core_fractions_ is None


def test_fit_mlp_runs_all_fit_the_whole_start(six_communities, monkeypatch):
    # An MLP on smoothed features follows the graph's Ncut where the core runs free it (NOTES.md,
    # experiment 14): its runs keep the whole start.
    monkeypatch.setattr(restarts, "DISTILL_STEPS", 2)
    monkeypatch.setattr(restarts, "DISTILL_CORE_STEPS", 2)
    model = NeuNcut(six_communities.num_features, 6, encoder="mlp").fit(six_communities, epochs=2, n_init=3, seed=0, progress=False)
    assert model.init_core_fractions_ == [1.0, 1.0, 1.0]
    # A custom encoder gets the core runs.
    from torch_geometric.nn.models import GCN

    custom = NeuNcut(six_communities.num_features, 6, encoder=GCN(six_communities.num_features, 16, num_layers=2, out_channels=6))
    custom.fit(six_communities, epochs=2, n_init=2, seed=0, progress=False)
    assert custom.init_core_fractions_ == [1.0, 0.5]


def test_fit_start_of_an_mlp_on_a_larger_graph_samples_fitted_nodes(six_communities, monkeypatch):
    # Above DISTILL_SAMPLE nodes an MLP is fitted on sampled rows: they must be fitted (labelled) rows.
    from neuncut_pyg.fitting import strategies

    monkeypatch.setattr(strategies, "DISTILL_SAMPLE", 100)
    monkeypatch.setattr(restarts, "DISTILL_STEPS", 3)
    monkeypatch.setattr(restarts, "DISTILL_CORE_STEPS", 3)
    seen = []
    original = restarts.train_to_partition

    def spy(model, batches, **kwargs):
        def checking():
            for s, target in batches:
                seen.append((s.size(0), bool((target >= 0).all())))
                yield s, target
        return original(model, checking(), **kwargs)

    monkeypatch.setattr(restarts, "train_to_partition", spy)
    NeuNcut(six_communities.num_features, 6, encoder="mlp").fit(six_communities, epochs=2, n_init=2, seed=0, progress=False)
    assert seen == [(100, True)] * 6


# Measured (n_init=1, 150 epochs), seed 0: loss 0.150 (spectral) against 0.364 (random), ratio
# 0.41; NMI 0.412 against 0.243. The README's 5-seed means (300 epochs, n_init=3): NMI 0.414
# against 0.274. Seed 0 runs in the fast suite; seeds 1 and 2 with --runslow.
@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)])
def test_spectral_start_reaches_a_lower_loss_and_higher_nmi_on_citeseer(planetoid_root, seed):
    # The measured reason for the default (benchmarks/explore_quality/NOTES.md, exp. 8-9): on
    # CiteSeer random starts end in worse local minima of the relaxed Ncut than the spectral
    # start, and the better minimum is the better clustering. Both scores below are NeuNcut's
    # own, except the NMI, which only reports.
    from neuncut_pyg import load_planetoid

    skip_without_planetoid("CiteSeer")
    data = load_planetoid("CiteSeer", planetoid_root)
    fits = {init: NeuNcut(data.num_features, 6).fit(data, epochs=150, n_init=1, seed=seed, init=init, progress=False)
            for init in ("random", "spectral")}
    assert fits["spectral"].objective_ < 0.7 * fits["random"].objective_
    scores = {init: nmi(data.y, model.predict(data)) for init, model in fits.items()}
    assert scores["spectral"] > scores["random"] + 0.05, scores
    assert scores["spectral"] > 0.38, scores


def check_core_runs_on_cora(data, model) -> None:
    # The measured reason for the core runs (NOTES.md, experiment 14): on Cora the run fitted to
    # a quarter of each start cluster ends at a lower loss than the one fitted to all nodes
    # (README, 5 seeds: 0.50-0.52 against 0.54), and the lowest loss, NeuNcut's own criterion,
    # is then also the better clustering (the README's target, tests/benchmarks/test_readme_claims.py).
    objectives = dict(zip(model.init_core_fractions_, model.init_objectives_))
    assert model.init_core_fractions_ == [1.0, 0.5, 0.25]
    assert objectives[0.25] < objectives[1.0] - 0.01, objectives
    assert model.objective_ == objectives[0.25]
    assert nmi(data.y, model.labels_) >= 0.55


def test_core_start_lowers_the_loss_and_raises_nmi_on_cora(cora_default_fit):
    check_core_runs_on_cora(*cora_default_fit)  # seed 0, fitted once per session (tests/conftest.py)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_core_start_lowers_the_loss_on_other_seeds_of_cora(planetoid_root, seed):
    from neuncut_pyg import load_planetoid

    data = load_planetoid("Cora", planetoid_root)
    check_core_runs_on_cora(data, NeuNcut(data.num_features, 7).fit(data, seed=seed, progress=False))
