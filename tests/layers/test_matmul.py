"""Dense's matmul: plain values, and derivatives equal to plain matmul's in every mode."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from funcnet.layers._matmul import matmul


@pytest.mark.parametrize("x_shape", [(5, 3), (2, 5, 3)])
def test_values_and_derivatives_match_plain_matmul(x_shape):
    rs = np.random.default_rng(0)
    x = jnp.asarray(rs.normal(size=x_shape), jnp.float32)
    k = jnp.asarray(rs.normal(size=(3, 4)), jnp.float32)
    np.testing.assert_array_equal(matmul(x, k), jnp.matmul(x, k))
    check_grads(matmul, (x, k), order=2, modes=["fwd", "rev"], eps=1e-2, atol=1e-2, rtol=1e-2)

    def loss(f):
        return lambda x, k: jnp.sum(jnp.sin(f(x, k)))

    for argnums in (0, 1, (0, 1)):
        ours = jax.grad(loss(matmul), argnums)(x, k)
        plain = jax.grad(loss(jnp.matmul), argnums)(x, k)
        for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(plain)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    tangent = jax.jvp(matmul, (x, k), (x, k))[1]
    np.testing.assert_allclose(tangent, 2 * jnp.matmul(x, k), rtol=1e-5)
