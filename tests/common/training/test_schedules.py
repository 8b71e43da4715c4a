"""Learning-rate schedules against numpy (Python numbers and tensors)."""

import numpy as np
import pytest
import tensorflow as tf

from common.training import schedules


@pytest.mark.parametrize("step", [0, 1, 1000, 45_000, 1_000_000])
def test_schedules_match_numpy(step):
    np.testing.assert_allclose(schedules.exponential_decay(step, 0.99995), 0.99995 ** step,
                               rtol=1e-5)
    np.testing.assert_allclose(schedules.learning_rate(step, 1e-3, 0.9999, 1e-5),
                               (1e-3 - 1e-5) * 0.9999 ** step + 1e-5, rtol=1e-5)
    # Tensors (a step counter variable, a decay rate tensor) work too.
    np.testing.assert_allclose(
        schedules.learning_rate(tf.constant(step, tf.int64), 1e-3, tf.constant(0.9999), 1e-5),
        (1e-3 - 1e-5) * 0.9999 ** step + 1e-5, rtol=1e-3)
