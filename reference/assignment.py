"""Train a Beras classifier on MNIST, report its test accuracy and save its predictions.

    python assignment.py               the single-layer model: Dense(784, 10) + Softmax
    python assignment.py --two-layer   a hidden layer too, for the 95%-or-better target
"""
import argparse
import time

import numpy as np

from beras.activations import LeakyReLU, Softmax
from beras.layers import Dense
from beras.losses import CategoricalCrossEntropy
from beras.metrics import CategoricalAccuracy
from beras.model import SequentialModel
from beras.onehot import OneHotEncoder
from beras.optimizers import BasicOptimizer
from preprocess import load_and_preprocess_data

EPOCHS = 10
BATCH_SIZE = 100


def get_model(two_layer=False) -> SequentialModel:
    """The single-layer softmax classifier, or with two_layer a model with a hidden layer."""
    # BEGIN SOLUTION: return SequentialModel([Dense(784, 10), Softmax()]); with two_layer, put a hidden Dense layer and an activation first
    if two_layer:
        return SequentialModel([
            Dense(784, 128, initializer="kaiming"),
            LeakyReLU(alpha=0.01),
            Dense(128, 10, initializer="xavier"),
            Softmax(),
        ])
    return SequentialModel([Dense(784, 10, initializer="xavier"), Softmax()])
    # END SOLUTION


def get_optimizer():
    # BEGIN SOLUTION: return the optimizer to train with, e.g. BasicOptimizer (plain SGD) and its learning rate
    return BasicOptimizer(0.5)
    # END SOLUTION


def get_loss_fn():
    # BEGIN SOLUTION: return the loss to train with (categorical cross-entropy)
    return CategoricalCrossEntropy()
    # END SOLUTION


def get_acc_fn():
    # BEGIN SOLUTION: return the metric to report (categorical accuracy)
    return CategoricalAccuracy()
    # END SOLUTION


def train_and_evaluate(two_layer=False, epochs=EPOCHS, batch_size=BATCH_SIZE, seed=0):
    """Train on MNIST's training split; return (test metrics, test predictions)."""
    np.random.seed(seed)
    train_x, train_y, test_x, test_y = load_and_preprocess_data()
    encoder = OneHotEncoder()
    encoder.fit(np.arange(10))
    model = get_model(two_layer)
    model.compile(optimizer=get_optimizer(), loss_fn=get_loss_fn(), acc_fn=get_acc_fn())
    model.fit(train_x, encoder(train_y), epochs=epochs, batch_size=batch_size)
    return model.evaluate(test_x, encoder(test_y), batch_size=batch_size)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--two-layer", action="store_true", help="train the model with a hidden layer")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--out", default="predictions.npy", help="where to save the test predictions")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    metrics, predictions = train_and_evaluate(args.two_layer, args.epochs, args.batch_size)
    print(f"test loss {metrics['loss']:.4f}, test accuracy {metrics['acc']:.2%} "
          f"({time.perf_counter() - start:.1f} s)")
    np.save(args.out, np.asarray(predictions))
    print(f"saved the test predictions to {args.out}")


if __name__ == "__main__":
    main()
