"""Models: layers composed into pure functions `init(key) -> params`, `apply(params, x) -> y`."""
from funcnet.models.many import Runs, fit_many
from funcnet.models.model import Model
from funcnet.models.sequential import Sequential
from funcnet.saving import load_model

__all__ = ["Model", "Runs", "Sequential", "fit_many", "load_model"]
