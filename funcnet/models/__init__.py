"""Models: layers composed into pure functions `init(key) -> params`, `apply(params, x) -> y`."""
from funcnet.models.model import Model
from funcnet.models.sequential import Sequential
from funcnet.saving import load_model

__all__ = ["Model", "Sequential", "load_model"]
