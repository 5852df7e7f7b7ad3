"""`optimizers.get`: Keras names, optax variants, pass-through and errors."""
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from funcnet import optimizers
from funcnet.optimizers import _transforms


def _first_update(tx, grad=0.5):
    params = jnp.ones(3)
    updates, _ = tx.update(jnp.full(3, grad), tx.init(params), params)
    return np.asarray(updates)


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adagrad", "adam", "RMSprop", "Adam"])
def test_keras_names_give_the_hand_written_optimizer_with_keras_defaults(name):
    tx = optimizers.get(name)
    factory = getattr(optimizers, name.lower())
    np.testing.assert_array_equal(_first_update(tx), _first_update(factory()))
    state = tx.init(jnp.ones(3))
    assert any(
        isinstance(s, (_transforms.ScaleByLearningRateState, _transforms.ScaleByRmsState))
        for s in (state if isinstance(state, tuple) else (state,))
    )


@pytest.mark.parametrize(
    "name, reference",
    [
        ("optax:sgd", optax.sgd(0.01)),
        ("optax:rmsprop", optax.rmsprop(0.001, decay=0.9, eps=1e-7)),
        ("optax:adagrad", optax.adagrad(0.001, initial_accumulator_value=0.1, eps=1e-7)),
        ("optax:adam", optax.adam(0.001, b1=0.9, b2=0.999, eps=1e-7)),
    ],
)
def test_optax_prefix_gives_optax_with_the_same_hyper_parameters(name, reference):
    tx = optimizers.get(name)
    np.testing.assert_array_equal(_first_update(tx), _first_update(reference))
    assert type(tx.init(jnp.ones(3))) is type(reference.init(jnp.ones(3)))


def test_transformation_passes_through_unchanged():
    tx = optax.chain(optax.clip_by_global_norm(1.0), optimizers.rmsprop(1e-3))
    assert optimizers.get(tx) is tx


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown optimizer 'adamax'.*'adam'.*'optax:rmsprop'"):
        optimizers.get("adamax")
    with pytest.raises(ValueError, match="optax:nope"):
        optimizers.get("optax:nope")


@pytest.mark.parametrize("bad", [None, 3, 0.1, ["sgd"]])
def test_wrong_type_raises_type_error(bad):
    with pytest.raises(TypeError, match="optimizer must be a name"):
        optimizers.get(bad)
