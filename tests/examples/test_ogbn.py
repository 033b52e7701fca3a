"""examples/ogbn.py end to end on a tiny graph written in OGB's on-disk layout."""
from __future__ import annotations

import urllib.error

import ogb.utils.url as ogb_url
import pytest
from conftest import load_example
from test_data_ogb import make_tiny_graph, write_csv_layout

pytestmark = [pytest.mark.filterwarnings("ignore:Sparse:UserWarning"), pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(autouse=True)
def no_ogb_download(monkeypatch):
    def refuse(url, *args, **kwargs):
        raise urllib.error.URLError(f"the tests do not download ({url})")

    monkeypatch.setattr(ogb_url.ur, "urlopen", refuse)


@pytest.fixture(scope="module")
def ogbn():
    return load_example("ogbn")


@pytest.mark.parametrize("encoder", ["mlp", "sage"])
def test_trains_in_mini_batches_and_reports_every_score(ogbn, tmp_path, capsys, encoder):
    write_csv_layout(tmp_path / "ogbn_arxiv", make_tiny_graph(num_nodes=60, num_edges=150), "time", with_year=True)
    plot = tmp_path / "out" / "arxiv.png"
    code = ogbn.main(["--name", "ogbn-arxiv", "--root", str(tmp_path), "--epochs", "3", "--batch-size", "16",
                      "--encoder", encoder, "--hidden", "8", "--spectral", "--plot", str(plot)])
    out = capsys.readouterr().out
    assert code == 0
    assert "60 nodes" in out and "k = 3" in out  # k = number of classes by default
    for metric in ogbn.METRICS:
        assert metric in out
    assert "spectral clustering" in out and "peak resident memory" in out
    assert plot.stat().st_size > 0


@pytest.fixture
def fits(tmp_path, monkeypatch):
    """Writes the tiny arxiv layout under tmp_path; records (batch_size, init_) of every fit."""
    from neuncut_pyg import NeuNcut

    write_csv_layout(tmp_path / "ogbn_arxiv", make_tiny_graph(num_nodes=60, num_edges=150), "time", with_year=True)
    calls = []
    original = NeuNcut.fit

    def spy(self, *args, **kwargs):
        model = original(self, *args, **kwargs)
        calls.append((kwargs["batch_size"], model.init_))
        return model

    monkeypatch.setattr(NeuNcut, "fit", spy)
    return calls


def test_init_option_reaches_the_fit(ogbn, tmp_path, capsys, fits):
    for init, used in (("auto", "random"), ("spectral", "spectral")):
        assert ogbn.main(["--name", "ogbn-arxiv", "--root", str(tmp_path), "--epochs", "1", "--batch-size", "16",
                          "--hidden", "8", "--init", init]) == 0
        assert fits[-1] == (16, used)
    capsys.readouterr()


def test_batch_size_zero_trains_full_batch_from_the_spectral_start(ogbn, tmp_path, capsys, fits):
    assert ogbn.main(["--name", "ogbn-arxiv", "--root", str(tmp_path), "--epochs", "1", "--batch-size", "0",
                      "--hidden", "8"]) == 0
    assert fits == [(None, "spectral")]
    for bad in (["--batch-size", "-1"], ["--batch-size", "0", "--num-neighbors", "5"]):
        with pytest.raises(SystemExit):
            ogbn.main(["--name", "ogbn-arxiv", "--root", str(tmp_path)] + bad)
    capsys.readouterr()


def test_scores_use_labelled_nodes_only(ogbn):
    import torch
    from torch_geometric.data import Data

    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    data = Data(edge_index=edge_index, y=torch.tensor([0, -1, 1, -1]), num_nodes=4)
    scores = ogbn.score(torch.tensor([0, 0, 1, 1]), data, seconds=1.0)
    assert scores["NMI"] == pytest.approx(1.0) and scores["ACC"] == pytest.approx(1.0)  # -1 nodes ignored


def test_missing_dataset_exits_1_with_the_files_to_place(ogbn, tmp_path, capsys):
    code = ogbn.main(["--name", "ogbn-arxiv", "--root", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert "ogbn_arxiv" in err and "edge.csv.gz" in err
