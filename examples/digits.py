r"""NeuNcut on vectors: cluster scikit-learn's digits and assign held-out points by a forward pass.

The 1797 8x8 digit images (64 features, 10 classes) are split 70/30 (stratified). NeuNcut with
an MLP encoder is trained on the self-tuning kNN graph of the 70% (:mod:`neuncut_pyg.knn`);
the held-out 30% are then assigned by the MLP alone, with no graph and no retraining.
Scikit-learn's ``SpectralClustering(affinity="nearest_neighbors")`` is shown beside it; it has no
out-of-sample step, so for the held-out part it is run on the held-out points themselves
(a transductive reference, not the same task).

Labels are used for scoring only.

Usage::

    python examples/digits.py [--epochs 200] [--lr 0.01] [--neighbors 10] [--n-init 3] [--seed 0] [--quick]
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Dict, Optional, Sequence

import numpy as np
from sklearn.cluster import SpectralClustering
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from neuncut_pyg.knn import fit_vectors, predict_vectors
from neuncut_pyg.metrics import clustering_accuracy, nmi


def _scores(y_true: np.ndarray, y_pred: np.ndarray) -> Dict[str, float]:
    return {"NMI": nmi(y_true, y_pred), "ACC": clustering_accuracy(y_true, y_pred)}


def run(epochs: int = 200, neighbors: int = 10, seed: int = 0, lr: float = 1e-2, n_init: int = 3,
        quick: bool = False) -> Dict[str, Dict[str, float]]:
    """Runs the comparison; returns ``{row name: {"NMI": ..., "ACC": ...}}``.

    ``n_init`` training runs are made and the lowest-loss one kept (no labels involved);
    ``quick`` keeps a third of the points (stratified) for a smoke test.
    """
    x, y = load_digits(return_X_y=True)
    if quick:
        x, _, y, _ = train_test_split(x, y, train_size=0.35, random_state=seed, stratify=y)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    k = len(np.unique(y))

    start = time.perf_counter()
    model = fit_vectors(x_train, k, n_neighbors=neighbors, epochs=epochs, lr=lr, n_init=n_init, seed=seed)
    train_pred = predict_vectors(model, x_train).argmax(dim=-1).numpy()
    test_pred = predict_vectors(model, x_test).argmax(dim=-1).numpy()
    neuncut_time = time.perf_counter() - start

    start = time.perf_counter()
    spectral = SpectralClustering(k, affinity="nearest_neighbors", n_neighbors=neighbors, random_state=seed)
    spectral_train = spectral.fit_predict(x_train)
    spectral_test = spectral.fit_predict(x_test)
    spectral_time = time.perf_counter() - start

    results = {
        "NeuNcut train (70%)": _scores(y_train, train_pred),
        "NeuNcut held-out (30%, forward pass)": _scores(y_test, test_pred),
        "Spectral train (70%)": _scores(y_train, spectral_train),
        "Spectral held-out (30%, refit on it)": _scores(y_test, spectral_test),
    }
    width = max(len(name) for name in results)
    print(f"digits: {len(x_train)} train / {len(x_test)} held-out points, k={k}, {neighbors}-NN graph")
    print(f"{'':<{width}}    NMI     ACC")
    for name, score in results.items():
        print(f"{name:<{width}}  {score['NMI']:.3f}  {score['ACC']:.3f}")
    print(f"time: NeuNcut {neuncut_time:.1f} s, spectral clustering {spectral_time:.1f} s")
    return results


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200, help="training epochs (default: 200)")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (default: 0.01)")
    parser.add_argument("--neighbors", type=int, default=10, help="k of the kNN graph (default: 10)")
    parser.add_argument("--n-init", type=int, default=3, help="training runs, lowest loss kept (default: 3)")
    parser.add_argument("--seed", type=int, default=0, help="split and training seed (default: 0)")
    parser.add_argument("--quick", action="store_true", help="a third of the data, for a smoke test")
    args = parser.parse_args(argv)
    run(args.epochs, args.neighbors, args.seed, args.lr, args.n_init, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
