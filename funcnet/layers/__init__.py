"""Layers: immutable descriptions of computations; `init` makes their weights, `apply` runs them."""
from funcnet.layers._base import Input, InputLayer, Layer, SymbolicTensor
from funcnet.layers.core import Activation, Dense, Dropout, Flatten, Reshape
from funcnet.layers.merge import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from funcnet.layers.normalization import BatchNormalization, LayerNormalization

__all__ = [
    "Activation",
    "Add",
    "Average",
    "BatchNormalization",
    "Concatenate",
    "Dense",
    "Dropout",
    "Flatten",
    "Input",
    "InputLayer",
    "Layer",
    "LayerNormalization",
    "Maximum",
    "Minimum",
    "Multiply",
    "Reshape",
    "Subtract",
    "SymbolicTensor",
]
