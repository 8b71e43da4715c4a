"""Gram matrices against a numpy reference."""

import numpy as np

from wae_style import gram


def test_gram_matches_numpy():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(3, 5, 7, 4)).astype("float32")
    want = np.einsum("bhwi,bhwj->bij", f, f) / (5 * 7)
    got = np.asarray(gram.gram_matrix(f))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert got.shape == (3, 4, 4)
    np.testing.assert_allclose(got, np.transpose(got, (0, 2, 1)), atol=1e-6)
