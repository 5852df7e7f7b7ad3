"""Layers: immutable descriptions of computations; `init` makes their weights, `apply` runs them."""
from funcnet.layers._base import Input, InputLayer, Layer, SymbolicTensor
from funcnet.layers.convolutional import Conv1D, Conv2D
from funcnet.layers.core import Activation, Dense, Dropout, Flatten, Masking, Reshape
from funcnet.layers.embedding import Embedding
from funcnet.layers.merge import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from funcnet.layers.normalization import BatchNormalization, LayerNormalization
from funcnet.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from funcnet.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN

__all__ = [
    "Activation",
    "Add",
    "Average",
    "AveragePooling1D",
    "AveragePooling2D",
    "BatchNormalization",
    "Bidirectional",
    "Concatenate",
    "Conv1D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Embedding",
    "GRU",
    "Flatten",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "Input",
    "InputLayer",
    "LSTM",
    "Layer",
    "LayerNormalization",
    "Masking",
    "MaxPooling1D",
    "MaxPooling2D",
    "Maximum",
    "Minimum",
    "Multiply",
    "Reshape",
    "SimpleRNN",
    "Subtract",
    "SymbolicTensor",
]
