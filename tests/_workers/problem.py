"""The small classification problem the data-parallel tests train on (shared by the subprocesses)."""
import numpy as np

EPOCHS = 3
BATCH = 30  # 203 samples: a last batch of 23, and 30 does not divide over 4 or 8 devices


def make_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(203, 20)).astype(np.float32)
    y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 203)]
    return x, y


def build_model():
    from funcnet import layers, models

    return models.Sequential([
        layers.Dense(32, activation="relu", input_shape=(20,)),
        layers.Dropout(0.2),
        layers.Dense(5, activation="softmax"),
    ])


def build_bn_model():
    """The same problem through BatchNormalization: batch statistics must be the global batch's."""
    from funcnet import layers, models

    return models.Sequential([
        layers.Dense(32, input_shape=(20,)),
        layers.BatchNormalization(),
        layers.Activation("relu"),
        layers.Dropout(0.2),
        layers.Dense(5, activation="softmax"),
    ])


def build_conv_model():
    """The same problem seen as 4 x 5 images: the convolution and pooling split across devices too."""
    from funcnet import layers, models

    return models.Sequential([
        layers.Input(shape=(20,)),
        layers.Reshape((4, 5, 1)),
        layers.Conv2D(6, (2, 2), activation="relu", padding="same"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(5, activation="softmax"),
    ])
