"""Reference values for the customer-value models (BG/NBD and Gamma-Gamma) from `lifetimes`
0.11.3 on its bundled CDNOW sample (2,357 customers, times in weeks), written to
Tests/Fixtures/btyd_cdnow.csv (per customer) and btyd_cdnow.json (parameters, log-likelihood).

    python3 -m venv /tmp/lt && /tmp/lt/bin/pip install lifetimes==0.11.3 "pandas<2.2" "numpy<2" "scipy<1.13"
    /tmp/lt/bin/python scripts/make-btyd-fixtures.py
"""
import json
import os

import lifetimes
import numpy as np
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

HORIZON = 39.0  # weeks: the paper's holdout period
out = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures")
data = load_cdnow_summary_data_with_monetary_value()
bgf = BetaGeoFitter(penalizer_coef=0.0).fit(data["frequency"], data["recency"], data["T"], tol=1e-10)
repeat = data[(data["frequency"] > 0) & (data["monetary_value"] > 0)]
ggf = GammaGammaFitter(penalizer_coef=0.0).fit(repeat["frequency"], repeat["monetary_value"], tol=1e-10)

data["p_alive"] = bgf.conditional_probability_alive(data["frequency"], data["recency"], data["T"])
data["expected_purchases"] = bgf.conditional_expected_number_of_purchases_up_to_time(
    HORIZON, data["frequency"], data["recency"], data["T"])
data["expected_spend"] = ggf.conditional_expected_average_profit(data["frequency"], data["monetary_value"])
# A customer with no repeat purchase: the population's mean spend per purchase.
p, q, v = ggf.params_["p"], ggf.params_["q"], ggf.params_["v"]
data.loc[data["frequency"] == 0, "expected_spend"] = v * p / (q - 1)
# Mean log-likelihoods on the data as given (lifetimes reports BG/NBD's on times it rescaled).
ones = np.ones(len(data))
bgnbd_ll = -BetaGeoFitter._negative_log_likelihood(
    np.log(bgf.params_[["r", "alpha", "a", "b"]].values), data["frequency"].values,
    data["recency"].values, data["T"].values, ones, 0.0)
data.to_csv(os.path.join(out, "btyd_cdnow.csv"), index=False, float_format="%.10g")
with open(os.path.join(out, "btyd_cdnow.json"), "w") as handle:
    json.dump({
        "lifetimes": lifetimes.__version__,
        "horizon": HORIZON,
        "bgnbd": {k: float(v) for k, v in bgf.params_.items()},
        "bgnbd_mean_log_likelihood": float(bgnbd_ll),
        "gamma_gamma": {k: float(v) for k, v in ggf.params_.items()},
        "gamma_gamma_mean_log_likelihood": float(-ggf._negative_log_likelihood_),
        "gamma_gamma_customers": int(len(repeat)),
    }, handle, indent=1, sort_keys=True)
print(bgf.params_.to_dict(), ggf.params_.to_dict())
