"""Reference values for the diagonal and spherical Gaussian mixtures, computed by scikit-learn on
../shared/fixtures/algorithms/blobs_noise_640x2 from the same start as its full-covariance run
(weights 1/4, the means in gmm_means_init.csv, unit variances). Only the numbers are written
(Tests/Fixtures/mixture_covariances.json); the data stays in ../shared.

    bench/.venv/bin/python scripts/make-mixture-fixtures.py [shared-dir]
"""
import json
import os
import sys

import numpy as np
import sklearn
from sklearn.mixture import GaussianMixture

shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "shared")
folder = os.path.join(shared, "fixtures", "algorithms", "blobs_noise_640x2")
x = np.loadtxt(os.path.join(folder, "X.csv"), delimiter=",", skiprows=1)
means = np.loadtxt(os.path.join(folder, "gmm_means_init.csv"), delimiter=",", skiprows=1)
k, d = means.shape
out = {"source": "scikit-learn " + sklearn.__version__ + " on blobs_noise_640x2", "k": k, "reg_covar": 1e-6, "tol": 1e-6,
       "max_iter": 500}
for kind, precisions in (("diag", np.ones((k, d))), ("spherical", np.ones(k))):
    model = GaussianMixture(k, covariance_type=kind, weights_init=np.full(k, 1 / k), means_init=means,
                            precisions_init=precisions, reg_covar=1e-6, tol=1e-6, max_iter=500, n_init=1).fit(x)
    out[kind] = {"mean_log_likelihood": model.score(x), "bic": model.bic(x), "aic": model.aic(x), "n_iter": int(model.n_iter_),
                 "converged": bool(model.converged_), "weights": model.weights_.tolist(), "means": model.means_.tolist()}
target = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "mixture_covariances.json")
with open(target, "w") as handle:
    json.dump(out, handle, indent=1)
    handle.write("\n")
print("wrote", os.path.normpath(target))
