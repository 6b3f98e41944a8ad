"""Family 13: the student's loader, load_and_preprocess_data (preprocess.py).

The student's loader reads real IDX files with their own (handout) reader, but the pixels
are a small synthetic sample: the grade must not depend on which MNIST a machine has
(students' kits, CI and Gradescope differ), and the property is about the preprocessing.
Loaders written like past handouts, with `tensorflow.keras.datasets.mnist.load_data()`,
get the same files through a stand-in (worker_side/mnist_files.py).
"""
import numpy as np
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

import idx
import judge
import numerics as M
from replies import fetch
from autograder.untrusted import code_span
from feedback import Hint, expect, expect_close, show

# Labels in no sorted order, every digit present, so that "in the files' order" is checked.
TRAIN_LABELS = [5, 0, 4, 1, 9, 2, 8, 3, 6, 7, 1, 3]
TEST_LABELS = [7, 2, 1, 0, 4]


def sample_images(rng, count):
    """count 28x28 uint8 images with 0, 255 and many values in between, so that no scaling,
    `// 255` and `/ 256` all give visibly wrong values."""
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    images[:, 0, 0], images[:, 0, 1] = 0, 255
    return images


def numeric_array(value):
    """value as a numpy array of numbers (a Tensor already comes back as one), or None."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return None
    return array if array.dtype.kind in "biuf" else None


def outline(value) -> str:
    """What a returned value is, without its contents, as Markdown: `tuple of 2: (array (12, 784), ...)`.
    Anything but the containers and shapes is student text, shown only as a code span."""
    if isinstance(value, np.ndarray):
        return f"array {value.shape}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {len(value)}: ({', '.join(outline(v) for v in value)})"
    return code_span(show(value))


def four_values(result, what, inputs):
    """The four returned values; anything else fails, saying what came back."""
    prop = "`load_and_preprocess_data()` returns four values: `(train_inputs, train_labels, test_inputs, test_labels)`."
    four = isinstance(result, (list, tuple)) and len(result) == 4
    pairs = isinstance(result, (list, tuple)) and len(result) == 2 and all(
        isinstance(v, (list, tuple)) and len(v) == 2 for v in result)
    expect(four, prop, inputs=inputs, detail=f"`{what}` returned {outline(result)}.",
           hint=Hint("shape", "return the four values in one flat tuple, not ((x, y), (x, y)) pairs.") if pairs else None)
    return result


@weight(2)
@number("13.1")
@visibility("visible")
@tags("preprocess")
def test_load_and_preprocess_data(student_file, worker_side):
    """`load_and_preprocess_data`: flattened, scaled to [0, 1], labels in file order"""
    # One fixed example, not Hypothesis: the loader takes no arguments, and a single sample
    # with 0, 255, many values in between and unsorted labels already tells every mistake apart.
    rng = np.random.default_rng(1301)
    images = {"train": sample_images(rng, len(TRAIN_LABELS)), "test": sample_images(rng, len(TEST_LABELS))}
    labels = {"train": np.array(TRAIN_LABELS, dtype=np.uint8), "test": np.array(TEST_LABELS, dtype=np.uint8)}
    worker_side("mnist_files").install(idx.mnist_files(images["train"], labels["train"],
                                                       images["test"], labels["test"]))
    inputs = {
        "MNIST files (raw IDX, in BERAS_MNIST_DIR)": ", ".join(idx.TRAIN_FILES + idx.TEST_FILES),
        "images": f"{len(TRAIN_LABELS)} training and {len(TEST_LABELS)} test images, 28x28 uint8 pixels",
        "first training image, first 6 pixels": images["train"][0].reshape(-1)[:6],
        "training labels": TRAIN_LABELS,
        "test labels": TEST_LABELS,
    }
    what = "load_and_preprocess_data()"
    train_inputs, train_labels, test_inputs, test_labels = four_values(
        fetch(student_file("preprocess").load_and_preprocess_data(), (len(TRAIN_LABELS), 784), len(TRAIN_LABELS),
              (len(TEST_LABELS), 784), len(TEST_LABELS)), what, inputs)

    for split, returned in (("train", train_inputs), ("test", test_inputs)):
        pixels = images[split].reshape(len(images[split]), -1).astype(np.float64)
        name = f"{split}_inputs"
        got = numeric_array(returned)
        prop = f"`{name}` holds one row of 784 values per image: shape (N, 784)."
        shape = getattr(got, "shape", None)
        expect(shape == pixels.shape, prop, inputs=inputs,
               detail=f"`{name}` has shape {shape}; expected {pixels.shape}." if shape is not None
               else f"`{name}` is `{show(returned)}`, not an array of numbers.",
               hint=Hint("shape", "flatten each 28x28 image into one row of 784 values: keep the first axis (one "
                                  "row per image) and let a reshape work out the other.")
               if shape is not None and shape[1:] in ((28, 28), (28, 28, 1), (1, 28, 28)) else None)
        expect_close(f"`{name}` is the pixels scaled from 0-255 to [0, 1]: pixel / 255 (float32 or float64).",
                     expected=judge.value("scaled_pixels", pixels), returned=returned, what=name, inputs=inputs, **M.VALUE,
                     mistakes={
                         Hint("constant-factor", "the pixels are not scaled: divide by 255 to bring 0-255 into "
                                                 "[0, 1]."): pixels,
                         Hint("integer-division", "`// 255` is integer division, which turns every pixel but 255 "
                                                  "into 0: convert to float and use `/ 255`."):
                         judge.value("pixels_floor_divided", pixels),
                         Hint("constant-factor", "you divided by 256; the largest pixel, 255, must become exactly 1: "
                                                 "divide by 255."): judge.value("pixels_over_256", pixels),
                     })

    for split, returned in (("train", train_labels), ("test", test_labels)):
        expected = labels[split].astype(np.int64)
        name = f"{split}_labels"
        prop = f"`{name}` are the integer class ids from the labels file, in the file's order: shape (N,)."
        got = numeric_array(returned)
        shape = getattr(got, "shape", None)
        one_hot = shape == (len(expected), 10)
        expect(shape == expected.shape, prop, inputs=inputs,
               detail=f"`{name}` has shape {shape}; expected {expected.shape}." if shape is not None
               else f"`{name}` is `{show(returned)}`, not an array of numbers.",
               hint=Hint("shape", "the labels stay class ids here; one-hot encoding happens later, in training.")
               if one_hot else None)
        expect(np.array_equal(got, expected), prop, inputs=inputs,
               detail=f"Expected `{show(expected)}`, returned `{show(got)}`.",
               hint=Hint("wrong-input", "keep the labels as read from the file: do not sort, shuffle or transform them.")
               if sorted(got.tolist()) == sorted(expected.tolist()) else None)
