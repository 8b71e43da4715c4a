"""Paths through a latent space: linear (Sketch RNN eq. 15) and spherical interpolation, in numpy."""

import numpy as np

METHODS = ("linear", "slerp")


def latent_path(z_a, z_b, t, method="linear"):
    """Latents at fractions `t` (any points of [0, 1]) on the path from z_a to z_b.

    Args:
        z_a, z_b: (N_z,) latents.
        t: (S,) fractions; 0 gives z_a and 1 gives z_b.
        method: "linear" (eq. 15) or "slerp" (spherical; linear for nearly parallel z).

    Returns:
        (S, N_z) float32 numpy array.
    """
    z_a = np.asarray(z_a, np.float64).reshape(-1)
    z_b = np.asarray(z_b, np.float64).reshape(-1)
    if z_a.shape != z_b.shape:
        raise ValueError(f"z_a {z_a.shape} and z_b {z_b.shape} differ in shape")
    if method not in ("linear", "slerp"):
        raise ValueError(f"unknown interpolation method {method!r}; use linear or slerp")
    t = np.asarray(t, np.float64).reshape(-1, 1)  # (S, 1)
    out = (1.0 - t) * z_a + t * z_b  # (S, Nz)
    if method == "slerp":
        na, nb = np.linalg.norm(z_a), np.linalg.norm(z_b)
        if na > 0 and nb > 0:
            omega = np.arccos(np.clip(np.dot(z_a / na, z_b / nb), -1.0, 1.0))
            if np.sin(omega) > 1e-6:
                out = (np.sin((1.0 - t) * omega) * z_a + np.sin(t * omega) * z_b) / np.sin(omega)
    return out.astype(np.float32)


def interpolate_latents(z_a, z_b, steps, method="linear"):
    """Latents along the path from z_a to z_b (eq. 15), t = 0..1 in `steps` points.

    Args:
        z_a, z_b: (N_z,) latents.
        steps: number of points (>= 2), both ends included.
        method: "linear" (eq. 15) or "slerp" (spherical; linear for nearly parallel z).

    Returns:
        (steps, N_z) float32 numpy array; row 0 is z_a and the last row is z_b.
    """
    if steps < 2:
        raise ValueError(f"steps={steps} must be >= 2")
    out = latent_path(z_a, z_b, np.linspace(0.0, 1.0, steps), method)
    out[0] = np.asarray(z_a, np.float32).reshape(-1)
    out[-1] = np.asarray(z_b, np.float32).reshape(-1)
    return out
