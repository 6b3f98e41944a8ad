"""Family 12: end-to-end training on MNIST (assignment.py, and everything it uses).

The worker trains the student's `get_model()` with their `get_optimizer()`, `get_loss_fn()`
and `get_acc_fn()` on the training split. The test images never reach the worker, and nothing
it computes is taken as a prediction: this trusted process reads the trained layers' weights
and evaluates the network itself (hidden/network.py: Dense, LeakyReLU/ReLU, Sigmoid, Softmax;
any other layer earns nothing), on test images shifted by a fraction of a pixel and lightly
noised from the course's private seed (hidden/private.cfg); the same seed renumbers the ten
classes (a derangement) for training and testing, so weights or labels prepared in advance,
even loaded during `fit`, miss. Before `fit`, the same evaluation must find the model near
chance (at most MAX_START_ACCURACY, under either numbering): shipped weights earn nothing.
An `assignment.py` without these factory functions (the August 2024 handout trains under
`if __name__ == "__main__":`) gets the standard single-layer model built from the student's
own classes, STANDARD_MODEL, for each missing function, and the output says so.

Training budget (the same in CI and on Gradescope, 0.5 vCPU, 20 s per call): the first
TRAIN_IMAGES = 8,000 training images (data.py's split: MNIST's training files on Gradescope,
the first 8,000 test images in CI), EPOCHS = 5 epochs of batch size 100, one `fit(epochs=1)`
call per chunk of CHUNK_IMAGES = 2,000 images (20 batches). The number of epochs is fixed,
never cut by a clock: a clock would train less on a loaded machine and change the grade.
A correct but loop-heavy submission (per-sample Python loops in the Softmax Jacobian or the
tape) needs under 0.9 s per chunk on one core of the development machine, 18 s for all of 12.1
(bench/loop_heavy_training.py, 60,000 training images available), so under 1.8 s at 0.5 vCPU;
the slowest real submission measured (one epoch of 8,000 images in 6.8 s) needs 1.7 s per chunk
here, 3.4 s at 0.5 vCPU: 6x under the call limit, and about 70 s for the whole budget (40,000
image passes). When a chunk does run out of time, a
fresh worker times one batch part by part (each layer's forward, the loss, the tape's
gradient), measured here, and the failure names the slow part.
Tiers: the reference's single Dense(784, 10) + Softmax reaches 91.6-91.95% on this budget
(five seeds, CI split), so full credit starts at 90% (a 1.6-point margin); with the handout's
10 epochs it reached 91.9-92.35%. Without MNIST (offline runs), the handout falls back to
scikit-learn's 8x8 digits resized to 28x28 (1,500 train, 297 test): there the model trains
FALLBACK_EPOCHS = 10 epochs (5 reach only 85.9-86.9%) and reaches 87.5-88.9% over five seeds;
its tiers are 5 points lower, and every message says which data was used.
"""
import time
from types import SimpleNamespace

import numpy as np
import pytest
from gradescope_utils.autograder_utils.decorators import (leaderboard, number, partial_credit, tags,
                                                           visibility, weight)

import data
import idx
from autograder.sandbox import StudentError, WorkerTimeout
from replies import fetch
from autograder.untrusted import code_span
from feedback import REMINDER, Hint, blames, failed_unit_tests, failure, message
from hidden import network as oracle

EPOCHS, BATCH_SIZE = 5, 100
FALLBACK_EPOCHS = 10  # scikit-learn's 1,500 training digits: 15,000 image passes, under MNIST's 40,000
TRAIN_IMAGES, CHUNK_IMAGES = 8000, 2000
# What 12.1 builds from the student's own classes for each factory function assignment.py
# lacks (standard_part): the reference's single-layer model and settings.
STANDARD_MODEL = {
    "get_model": "SequentialModel([Dense(784, 10, initializer=\"xavier\"), Softmax()])",
    "get_optimizer": "BasicOptimizer(0.5)",
    "get_loss_fn": "CategoricalCrossEntropy()",
    "get_acc_fn": "CategoricalAccuracy()",
}
TIERS = ((0.90, 1.0), (0.85, 2 / 3), (0.75, 1 / 3))  # (accuracy at least, fraction of the points)
FALLBACK_TIERS = ((0.85, 1.0), (0.80, 2 / 3), (0.70, 1 / 3))  # scikit-learn's digits, not MNIST
POINTS = 7
TRAINING_SEED = 0
MAX_PREDICTIONS_BYTES = 10 * 1024 * 1024
# Chance is 10%. Fresh initial weights give the reference 3.7-14% (single and two-layer models,
# several seeds); weights trained in advance give 75% or more.
MAX_START_ACCURACY = 0.25
SEEN = (" (computed by the grader from your trained layers' weights, on the test images each shifted by a "
        "fraction of a pixel and lightly noised; the ten classes are numbered in a private order in training "
        "and testing, so only what your model learns from the data counts)")


# Which data 12.1 trains on is known before anything is loaded: a fallback is announced at the
# top of the results and in the test's name, with the tiers that apply.
DATA = data.kind()
pytestmark = [pytest.mark.autograder_note(DATA.fallback)] if DATA.fallback else []


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


def standard_part(beras, name):
    """The student's own classes, assembled as STANDARD_MODEL says for factory `name`."""
    if name == "get_model":
        return beras.model.SequentialModel([beras.layers.Dense(784, 10, initializer="xavier"),
                                           beras.activations.Softmax()])
    if name == "get_optimizer":
        return beras.optimizers.BasicOptimizer(0.5)
    if name == "get_loss_fn":
        return beras.losses.CategoricalCrossEntropy()
    return beras.metrics.CategoricalAccuracy()


def handout_data_path(worker_side, worker=None):
    """Before the student's assignment.py (and the preprocess.py it imports) is imported: what
    13.1 gives the student's loader, small sample MNIST files in BERAS_MNIST_DIR and keras'
    `mnist.load_data()` reading them (worker_side/mnist_files.py). A preprocess.py that loads
    its data at import, through the handout's own TensorFlow loader, then imports; 12.1 trains
    on the data it sends itself, and the test images never reach the worker."""
    rng = np.random.default_rng(1201)
    images, labels = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8), np.arange(30, dtype=np.uint8) % 10
    worker_side("mnist_files", worker).install(idx.mnist_files(images[:20], labels[:20], images[20:], labels[20:]))


def model_and_parts(student, beras):
    """(compiled model, the factory names assignment.py lacks): its own factories where it has
    them, the standard single-layer parts built from its classes where it does not."""
    assignment = student.import_module("assignment")
    has = student.import_module("builtins").hasattr
    missing = [name for name in STANDARD_MODEL if not fetch(has(assignment, name))]
    parts = {name: standard_part(beras, name) if name in missing else student.call(student.getattr(assignment, name))
             for name in STANDARD_MODEL}
    model = parts["get_model"]
    model.compile(optimizer=parts["get_optimizer"], loss_fn=parts["get_loss_fn"], acc_fn=parts["get_acc_fn"])
    return model, parts, missing


def timed(call):
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def slow_parts(sandbox, batch_x, batch_y, worker_side=None):
    """One batch of training, part by part, in a fresh worker, timed here: [(part, seconds)].
    A part that itself runs out of time ends the list, marked as over the limit."""
    found = []
    try:
        with sandbox.worker() as worker:
            if worker_side is not None:
                handout_data_path(worker_side, worker)
            worker.import_module("numpy.random").seed(TRAINING_SEED)
            beras = SimpleNamespace(**{name: worker.import_module(f"beras.{name}") for name in
                                       ("layers", "activations", "optimizers", "losses", "metrics", "model",
                                        "gradient_tape")})
            model, parts, _ = model_and_parts(worker, beras)
            layers = worker.list(model.layers)
            with beras.gradient_tape.GradientTape() as tape:
                out = batch_x
                for layer in layers:
                    out, seconds = timed(lambda: layer(out))
                    found.append((f"{code_span(worker.type_name(layer))} forward", seconds))  # student text
                loss, seconds = timed(lambda: parts["get_loss_fn"](out, batch_y))
                found.append(("the loss", seconds))
            _, seconds = timed(lambda: tape.gradient(loss, model.trainable_variables))
            found.append(("`GradientTape.gradient` (every layer's gradients and their composition)", seconds))
            for layer in layers:  # the layers' own gradients, which the tape composes
                name = worker.type_name(layer)
                for method in ("get_input_gradients", "get_weight_gradients"):
                    _, seconds = timed(lambda: worker.call(worker.getattr(layer, method)))
                    found.append((code_span(f"{name}.{method}"), seconds))
    except WorkerTimeout:
        found.append(("the next part", None))
    except StudentError:  # a crash is reported by training itself; keep what was measured
        pass
    return found


def slowness_report(parts, batch_size):
    if not parts:
        return ""
    rows = ", ".join(f"{name}: over the call limit" if seconds is None else f"{name}: {seconds:.3g} s"
                     for name, seconds in parts)
    return f" One batch of {batch_size} images, timed part by part: {rows}."


# The parts a unit test checks, by its tags. A failed test explains a low accuracy only when
# every part it checks is on this student's training path: the model's own layer types, its
# loss and optimizer, the tape, the model and the core classes. Not the metric (it does not
# change the weights), the one-hot encoder or the loader (12.1 sends its data itself), SGD's
# unbiasedness (9.x), the committee, or optimizer and activation tests of kinds it does not use.
PART_TAGS = {"tensor", "weighted", "dense", "leaky-relu", "sigmoid", "softmax", "mse", "cross-entropy",
             "sgd", "rmsprop", "adam", "gradient-tape", "model", "metrics", "onehot", "preprocess",
             "committee", "unbiased", "q4", "q7", "vectorisation"}
ALWAYS_ON_PATH = {"tensor", "weighted", "gradient-tape", "model"}
LAYER_TAGS = {"Dense": "dense", "LeakyReLU": "leaky-relu", "Sigmoid": "sigmoid", "Softmax": "softmax"}
FACTORY_TAGS = {"get_loss_fn": (("losses", "CategoricalCrossEntropy", "cross-entropy"),
                                ("losses", "MeanSquaredError", "mse")),
                "get_optimizer": (("optimizers", "BasicOptimizer", "sgd"), ("optimizers", "RMSProp", "rmsprop"),
                                  ("optimizers", "Adam", "adam"))}
# Every part a training may use: 12.1 may name their failed tests, so they must have run first.
TRAINING_PARTS = (ALWAYS_ON_PATH | set(LAYER_TAGS.values())
                  | {tag for options in FACTORY_TAGS.values() for _, _, tag in options})


@leaderboard("MNIST accuracy")
@partial_credit(POINTS)
@number("12.1")
@blames(*sorted(TRAINING_PARTS))
@visibility("hidden")
@tags("end-to-end", "training", "assignment")
def test_end_to_end_training_accuracy(student, beras, worker_side, sandbox, add_output, set_score=None,
                                      set_leaderboard_value=None):
    """end-to-end training on MNIST, tiers 75/85/90% (leaderboard); _training_title() names a fallback"""
    split = data.training_split(TRAIN_IMAGES)
    relabel = oracle.class_permutation(oracle.private_seed())  # what digit c is called in training and testing
    train_x, train_y = split.train_x[:TRAIN_IMAGES], data.one_hot(relabel[split.train_y[:TRAIN_IMAGES]])
    handout_data_path(worker_side)
    student.import_module("numpy.random").seed(TRAINING_SEED)  # reproducible initial weights
    model, parts, missing = model_and_parts(student, beras)
    test_images = oracle.perturbed(split.test_x, oracle.private_seed())
    keep = worker_side("probes").kept  # send each chunk once, then refer to it in every epoch
    chunks = [(keep(train_x[i:i + CHUNK_IMAGES]), keep(train_y[i:i + CHUNK_IMAGES]))
              for i in range(0, len(train_x), CHUNK_IMAGES)]
    standard = ""
    if missing:
        standard = (f" Your assignment.py has no {', '.join(f'`{name}()`' for name in missing)} (as in some "
                    f"handouts), so this test used the standard single-layer setup built from your own classes: "
                    + ", ".join(f"{STANDARD_MODEL[name]} for `{name}()`" for name in missing) + ".")
    epochs = EPOCHS if split.is_mnist else FALLBACK_EPOCHS
    what = (f"Your model{' (' + STANDARD_MODEL['get_model'] + ')' if 'get_model' in missing else ''} trained "
            f"for {epochs} epochs of batch size {BATCH_SIZE} on the first {len(train_x):,} training images "
            f"({split.source}), one `fit(epochs=1)` call per {CHUNK_IMAGES:,} images.{standard}")
    start = max(trusted_accuracy(student, beras, model, test_images, labels, set_score)[0]
                for labels in (split.test_y, relabel[split.test_y]))
    if start > MAX_START_ACCURACY:
        set_score(0)
        raise AssertionError(message(
            f"Before any training, your model already classifies {start:.1%} of the test images (chance is "
            f"10%). This test credits what training achieves, so `get_model()` must return a model with fresh "
            f"initial weights, at most {MAX_START_ACCURACY:.0%} before `fit`.",
            hint="build the layers with their initializers in get_model(); do not load or set weights there."))
    for epoch in range(epochs):
        for number_, (chunk_x, chunk_y) in enumerate(chunks):
            try:
                model.fit(chunk_x, chunk_y, epochs=1, batch_size=BATCH_SIZE)
            except WorkerTimeout as timeout:
                set_score(0)
                first = slice(0, BATCH_SIZE)
                measured = slowness_report(slow_parts(sandbox, train_x[first], train_y[first], worker_side), BATCH_SIZE)
                raise AssertionError(message(
                    what + f" Epoch {epoch + 1}, images {number_ * CHUNK_IMAGES:,}-"
                           f"{min((number_ + 1) * CHUNK_IMAGES, len(train_x)):,}: `fit` on "
                           f"{CHUNK_IMAGES // BATCH_SIZE} batches did not finish in time "
                           f"({timeout.headline().lower()}).",
                    detail=measured.strip() or None,
                    hint="a correct, vectorised model trains one such call in well under a second; look for "
                         "Python loops over the samples of a batch in the slowest part above.")) from None
    accuracy, network = trusted_accuracy(student, beras, model, test_images, relabel[split.test_y], set_score, what)
    tiers = TIERS if split.is_mnist else FALLBACK_TIERS
    set_leaderboard_value(round(accuracy * 100, 2))
    set_score(POINTS * tier_credit(accuracy, tiers))
    if tier_credit(accuracy, tiers) == 1:
        add_output(what + f" Test accuracy: **{accuracy:.2%}** on {len(split.test_x):,} test images{SEEN}: full credit "
                          f"(tiers: {tiers_text(tiers)}).")
    else:
        raise failure(
            what + f" Test accuracy: {accuracy:.2%} on {len(split.test_x):,} test images{SEEN}.",
            detail=f"Credit tiers: {tiers_text(tiers)}. A correct single Dense(784, 10) + Softmax model "
                   f"reaches about {'91.5' if split.is_mnist else '88'}% here.",
            hint=training_hint(student, model, training_path(student, beras, parts, network)))


def trusted_accuracy(student, beras, model, images, labels, set_score, what=""):
    """(accuracy, network): the model's layers as they are now, and their accuracy, computed on this side."""
    try:
        network = oracle.read_network(student, beras, model)
        classes = oracle.predict(network, images)
    except oracle.NotEvaluable as problem:
        set_score(0)
        raise AssertionError(message(f"{what} {problem}".strip())) from None
    return float(np.mean(classes == labels)), network


def training_path(student, beras, parts, network) -> set:
    """The part tags of what this training used (see PART_TAGS)."""
    path = set(ALWAYS_ON_PATH) | {LAYER_TAGS[layer.kind] for layer in network}
    builtins = student.import_module("builtins")
    for name, options in FACTORY_TAGS.items():
        for module, class_name, tag in options:
            try:
                cls = builtins.getattr(getattr(beras, module), class_name, None)
                if cls is not None and fetch(builtins.isinstance(parts[name], cls)):
                    path.add(tag)
            except StudentError:  # a module that does not import: its tests say so
                continue
    return path


def on_path(tags, path) -> bool:
    checked = set(tags) & PART_TAGS
    return bool(checked) and checked <= path


def training_hint(student, model, path):
    """When unit tests of the parts this training uses failed, they say where the mistake is;
    when none did, what the trained model shows about assignment.py."""
    failed = failed_unit_tests(keep=lambda tags: on_path(tags, path))
    if failed:
        listed = ", ".join(f"{number} ({name})" for number, name in failed[:5])
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        return Hint(REMINDER, f"your model's training uses parts of your Beras whose tests failed: "
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
        return Hint("missing-term", f"your model ends in {code_span(last)}, not Softmax: cross-entropy needs probabilities, "
                                    f"so end get_model() with a Softmax layer.")
    if isinstance(rate, (int, float)) and 0 < rate < 1e-3:
        return Hint("hyperparameter", f"your learning rate, {rate:g}, is far too small to train in {EPOCHS} "
                                      f"epochs: plain SGD works well around 0.1 to 0.5.")
    return Hint(REMINDER, "the tests of the parts your training uses passed, so look at assignment.py: the learning rate of "
                          "get_optimizer() (plain SGD works well around 0.1 to 0.5), the initializer, and that "
                          "the model ends in Softmax with cross-entropy as the loss.")


def _training_title(tiers=TIERS if DATA.is_mnist else FALLBACK_TIERS):
    cut = "/".join(f"{threshold * 100:.0f}" for threshold, _ in reversed(tiers))
    what = "MNIST" if DATA.is_mnist else "scikit-learn digits (FALLBACK, not MNIST)"
    if DATA.is_mnist and DATA.fallback:
        what = "MNIST test set only (FALLBACK split)"
    return f"end-to-end training on {what}, tiers {cut}% (leaderboard)"


test_end_to_end_training_accuracy.__doc__ = _training_title()


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
        raise AssertionError(message(prop, detail=f"It cannot be read by np.load: {code_span(f'{type(error).__name__}: {error}')}",
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
