"""Family 12: end-to-end training on MNIST (assignment.py, and everything it uses).

The worker trains the student's `get_model()` with their `get_optimizer()`, `get_loss_fn()`
and `get_acc_fn()` on the training split, then predicts the test images. Only this trusted
process holds the test labels; it computes the accuracy from the predictions that come back.

Data (data.py): with only MNIST's test files (as in CI), its first 8,000 images train and its
last 2,000 test. Training: EPOCHS epochs of batch size BATCH_SIZE (the handout's values), one
epoch per call so that no single call nears the per-call time limit. The number of epochs is
fixed, never cut by a clock: on a loaded machine a clock would train fewer epochs and change
the grade (the engine's per-call and per-test limits stop code that is pathologically slow).
Tiers: a correct single Dense(784, 10) + Softmax layer reaches about 92% here (92.0-92.4% over
three seeds of the reference), so full credit starts at 90%. Without MNIST (offline runs), the
handout falls back to scikit-learn's 8x8 digits resized to 28x28, where the same model reaches
87.5-88.6% on the 297 test digits: its tiers are 5 points lower, and every message says which
data was used.
"""
import numpy as np
import pytest
from gradescope_utils.autograder_utils.decorators import (leaderboard, number, partial_credit, tags,
                                                           visibility, weight)

import data
from autograder.sandbox import fetch
from feedback import REMINDER, Hint, failed_unit_tests, failure, message

EPOCHS, BATCH_SIZE = 10, 100
TIERS = ((0.90, 1.0), (0.85, 2 / 3), (0.75, 1 / 3))  # (accuracy at least, fraction of the points)
FALLBACK_TIERS = ((0.85, 1.0), (0.80, 2 / 3), (0.70, 1 / 3))  # scikit-learn's digits, not MNIST
POINTS = 7
TRAINING_SEED = 0
MAX_PREDICTIONS_BYTES = 10 * 1024 * 1024


def tier_credit(accuracy, tiers=TIERS):
    return next((fraction for threshold, fraction in tiers if accuracy >= threshold), 0.0)


def tiers_text(tiers):
    return ", ".join(f"{threshold:.0%}: {fraction * POINTS:.3g} points" for threshold, fraction in tiers)


def predicted_classes(predictions, rows):
    """Class ids from predictions of shape (rows, 10) (scores) or (rows,) (ids); None if neither."""
    predictions = np.asarray(predictions)
    if predictions.shape == (rows, data.CLASSES) and predictions.dtype.kind in "biuf":
        return np.argmax(predictions, axis=1)
    if predictions.shape == (rows,) and predictions.dtype.kind in "biu":
        return predictions.astype(np.int64)
    return None


@leaderboard("MNIST accuracy")
@partial_credit(POINTS)
@number("12.1")
@visibility("hidden")
@tags("end-to-end", "training", "assignment")
def test_end_to_end_training_accuracy(student, worker_side, add_output, set_score=None, set_leaderboard_value=None):
    """end-to-end MNIST training, tiers 75/85/90% (leaderboard)"""
    split = data.training_split()
    student.import_module("numpy.random").seed(TRAINING_SEED)  # reproducible initial weights
    assignment = student.import_module("assignment")
    model = assignment.get_model()
    model.compile(optimizer=assignment.get_optimizer(), loss_fn=assignment.get_loss_fn(),
                  acc_fn=assignment.get_acc_fn())
    keep = worker_side("probes").kept  # send the training set once, then refer to it
    train_x, train_labels = keep(split.train_x), keep(data.one_hot(split.train_y))
    for _ in range(EPOCHS):
        model.fit(train_x, train_labels, epochs=1, batch_size=BATCH_SIZE)
    predictions = fetch(model(split.test_x))
    classes = predicted_classes(predictions, len(split.test_x))
    shape = np.shape(predictions)
    what = (f"Your `get_model()` trained with your optimizer and loss for {EPOCHS} epochs of batch size "
            f"{BATCH_SIZE} on {len(split.train_x):,} training images ({split.source}).")
    if classes is None:
        set_score(0)
        raise AssertionError(message(what + " Its predictions on the test images must be an (N, 10) array of "
                                     "class scores.", detail=f"The model returned shape {shape}."))
    accuracy = float(np.mean(classes == split.test_y))
    tiers = TIERS if split.is_mnist else FALLBACK_TIERS
    set_leaderboard_value(round(accuracy * 100, 2))
    set_score(POINTS * tier_credit(accuracy, tiers))
    if tier_credit(accuracy, tiers) == 1:
        add_output(what + f" Test accuracy: **{accuracy:.2%}** on {len(split.test_x):,} test images: full credit "
                          f"(tiers: {tiers_text(tiers)}).")
    else:
        raise failure(
            what + f" Test accuracy: {accuracy:.2%} on {len(split.test_x):,} test images.",
            detail=f"Credit tiers: {tiers_text(tiers)}. A correct single Dense(784, 10) + Softmax model "
                   f"reaches about {'92' if split.is_mnist else '88'}% here.",
            hint=training_hint(student, model))


def training_hint(student, model):
    """Training uses every part: when unit tests failed, they say where the mistake is; when
    none did, what the trained model shows about assignment.py."""
    failed = failed_unit_tests()
    if failed:
        listed = ", ".join(f"{number} ({name})" for number, name in failed[:5])
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        return Hint(REMINDER, f"training uses every part of your Beras, and these tests of its parts failed: "
                              f"{listed}{more}. Fix them first, starting with {failed[0][0]}; this test will "
                              f"likely pass then.")
    builtins = student.import_module("builtins")
    try:
        layers = builtins.getattr(model, "layers")
        last = fetch(builtins.getattr(builtins.type(layers[-1]), "__name__", ""))
        rate = fetch(builtins.getattr(builtins.getattr(model, "optimizer", None), "learning_rate", None))
    except Exception:  # an unusual model: no specific advice
        last, rate = None, None
    if isinstance(last, str) and last and "softmax" not in last.lower():
        return Hint("missing-term", f"your model ends in {last}, not Softmax: cross-entropy needs probabilities, "
                                    f"so end get_model() with a Softmax layer.")
    if isinstance(rate, (int, float)) and 0 < rate < 1e-3:
        return Hint("hyperparameter", f"your learning rate, {rate:g}, is far too small to train in {EPOCHS} "
                                      f"epochs: plain SGD works well around 0.1 to 0.5.")
    return Hint(REMINDER, "every test of the parts passed, so look at assignment.py: the learning rate of "
                          "get_optimizer() (plain SGD works well around 0.1 to 0.5), the initializer, and that "
                          "the model ends in Softmax with cross-entropy as the loss.")


@weight(0)
@number("12.2")
@visibility("hidden")
@tags("end-to-end", "predictions")
def test_submitted_predictions(submission_root, add_output):
    """predictions.npy, when submitted, predicts the MNIST test set (informative, 0 points)."""
    path = submission_root / "predictions.npy"
    if not path.is_file():
        pytest.skip("predictions.npy was not submitted (it is optional).")
    labels = data.mnist_test_labels()
    if labels is None:
        pytest.skip("the grader has no MNIST test labels to check predictions.npy against.")
    prop = (f"`predictions.npy` holds your model's predictions for the {len(labels):,} MNIST test images: an "
            f"({len(labels)}, 10) array of scores or ({len(labels)},) class ids, reaching at least "
            f"{TIERS[-1][0]:.0%} accuracy.")
    if path.stat().st_size > MAX_PREDICTIONS_BYTES:
        raise AssertionError(message(prop, detail=f"The file is {path.stat().st_size:,} bytes: too large."))
    try:
        predictions = np.load(path, allow_pickle=False)
    except Exception as error:  # anything unreadable is the file's problem, reported as such
        raise AssertionError(message(prop, detail=f"It cannot be read by np.load: {type(error).__name__}: {error}",
                                     hint="save it with np.save('predictions.npy', np.asarray(predictions)).")) from None
    classes = predicted_classes(predictions, len(labels)) if isinstance(predictions, np.ndarray) else None
    if classes is None:
        raise AssertionError(message(prop, detail=f"It holds an array of shape {np.shape(predictions)} and dtype "
                                                  f"{getattr(predictions, 'dtype', '?')}."))
    accuracy = float(np.mean(classes == labels))
    if accuracy < TIERS[-1][0]:
        raise AssertionError(message(prop, detail=f"Its accuracy is {accuracy:.2%}.",
                                     hint="save the predictions of your trained model on the TEST images, "
                                          "in the files' order."))
    add_output(f"`predictions.npy` reaches **{accuracy:.2%}** on the {len(labels):,} MNIST test images.")
