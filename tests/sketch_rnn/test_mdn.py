"""The mixture density head: parameter layout and the standard layer checks."""

import numpy as np

from sketch_rnn.mdn import MixtureDensityHead, mdn_output_size, split_mixture_params
from tests.support.layers import run_layer_test


def test_mdn_head_layout_and_layer_checks(tmp_path):
    m = 3
    raw = np.arange(2 * (6 * m + 3), dtype="float32").reshape(2, -1) / 10.0
    p = split_mixture_params(raw, m)
    np.testing.assert_allclose(p["pen_logits"], raw[:, :3])
    for k, key in enumerate(["pi_logits", "mu_x", "mu_y", "log_sigma_x", "log_sigma_y"]):
        np.testing.assert_allclose(p[key], raw[:, 3 + k * m:3 + (k + 1) * m])
    np.testing.assert_allclose(p["rho"], np.tanh(raw[:, 3 + 5 * m:]), rtol=1e-6)
    assert mdn_output_size(m) == 21
    x = np.random.default_rng(0).normal(size=(2, 4, 5)).astype("float32")
    run_layer_test(lambda: MixtureDensityHead(m), x, (2, 4, 21), tmp_path,
                   expected_num_trainable_weights=2, expected_num_non_trainable_weights=0,
                   expected_num_params=5 * 21 + 21)
