"""Latent paths: linear (eq. 15) and spherical interpolation."""

import numpy as np
import pytest

from sketch_rnn.latents import interpolate_latents, latent_path


def test_interpolate_linear_and_slerp():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    z = interpolate_latents(a, b, 5, "linear")
    np.testing.assert_allclose(latent_path(a, b, np.linspace(0, 1, 5)), z, rtol=1e-6)
    np.testing.assert_allclose(z[2], [0.5, 0.5])
    zs = interpolate_latents(a, b, 5, "slerp")
    np.testing.assert_allclose(np.linalg.norm(zs, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(zs[[0, -1]], [a, b])


def test_interpolate_latents():
    rng = np.random.default_rng(6)
    za, zb = rng.normal(size=(2, 8))
    for method in ("linear", "slerp"):
        path = interpolate_latents(za, zb, 10, method=method)
        assert path.shape == (10, 8) and path.dtype == np.float32
        np.testing.assert_allclose(path[0], za, rtol=1e-6)
        np.testing.assert_allclose(path[-1], zb, rtol=1e-6)
    np.testing.assert_allclose(interpolate_latents(za, zb, 3)[1], (za + zb) / 2, rtol=1e-6)
    # slerp between equal-norm latents keeps the norm; linear shrinks it in the middle.
    zb_same = zb / np.linalg.norm(zb) * np.linalg.norm(za)
    norms = np.linalg.norm(interpolate_latents(za, zb_same, 7, "slerp"), axis=1)
    np.testing.assert_allclose(norms, np.linalg.norm(za), rtol=1e-5)
    assert np.linalg.norm(interpolate_latents(za, zb_same, 3)[1]) < np.linalg.norm(za)
    # Nearly parallel latents fall back to linear.
    np.testing.assert_allclose(interpolate_latents(za, 2 * za, 5, "slerp"),
                               interpolate_latents(za, 2 * za, 5), rtol=1e-6)
    with pytest.raises(ValueError, match="method"):
        interpolate_latents(za, zb, 4, method="cubic")
