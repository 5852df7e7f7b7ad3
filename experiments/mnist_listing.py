# Chollet, Deep Learning with Python, listings 2.1-2.5: the first network, verbatim but for the imports
# (`from funcnet import ...` for `from keras import ...`). Data come from $FUNCNET_DATA_DIR, the cache,
# or a download (see docs/datasets.md). Run: FUNCNET_DATA_DIR=../shared/datasets python experiments/mnist_listing.py
from funcnet.datasets import mnist
(train_images, train_labels), (test_images, test_labels) = mnist.load_data()

from funcnet import models
from funcnet import layers

network = models.Sequential()
network.add(layers.Dense(512, activation='relu', input_shape=(28 * 28,)))
network.add(layers.Dense(10, activation='softmax'))

network.compile(optimizer='rmsprop',
                loss='categorical_crossentropy',
                metrics=['accuracy'])

train_images = train_images.reshape((60000, 28 * 28))
train_images = train_images.astype('float32') / 255

test_images = test_images.reshape((10000, 28 * 28))
test_images = test_images.astype('float32') / 255

from funcnet.utils import to_categorical

train_labels = to_categorical(train_labels)
test_labels = to_categorical(test_labels)

network.fit(train_images, train_labels, epochs=5, batch_size=128)

test_loss, test_acc = network.evaluate(test_images, test_labels)
print('test_acc:', test_acc)

# Not in the book: `--save PATH.keras` writes the trained network in Keras's format (docs/saving.md).
import sys  # noqa: E402

if "--save" in sys.argv[1:]:
    network.save(sys.argv[sys.argv.index("--save") + 1])
