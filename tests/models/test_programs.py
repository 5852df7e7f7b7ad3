"""Keys of the shared-program cache: equal only for things that compute the same."""
import numpy as np
import optax

from funcnet import optimizers
from funcnet.models._programs import get_or_build, value_key


def test_value_key_of_optimizers_follows_their_hyper_parameters():
    assert value_key(optimizers.adam(1e-3)) == value_key(optimizers.adam(1e-3))
    assert value_key(optimizers.adam(1e-3)) != value_key(optimizers.adam(1e-3, amsgrad=True))
    assert value_key(optimizers.sgd(0.1, momentum=0.9)) != value_key(optimizers.sgd(0.1, momentum=0.9, nesterov=True))
    chained = lambda: optax.chain(optax.clip_by_global_norm(1.0), optimizers.rmsprop(1e-3))  # noqa: E731
    assert value_key(chained()) == value_key(chained())


def test_value_key_gives_up_on_unhashable_captures():
    table = np.arange(3.0)
    assert value_key(lambda step: table[step]) is None
    assert value_key([1, 2]) is None


def test_get_or_build_builds_once_per_key():
    built = []
    for _ in range(3):
        get_or_build(("test", "once"), lambda: built.append(1) or "program")
    assert built == [1]
