"""Committees of networks (Ciresan, Meier, Gambardella and Schmidhuber, ICDAR 2011).

The same network is trained on differently preprocessed digits, the original ones and copies
whose bounding box is normalised to widths of 10 to 20 pixels; the committee's output is the
plain average of its members' outputs.

    python committee.py    train one single-layer member per width and compare with the committee
"""
import numpy as np

from beras.core import Callable

WIDTHS = (None, 10, 12, 14, 16, 18, 20)  # None: the original digits


def _resampling_matrix(size_in, size_out):
    """(size_out, size_in) weights that resample a row of size_in pixels to size_out pixels.

    Stretching interpolates linearly between pixel centres; shrinking averages the source
    pixels each output pixel covers, so that thin strokes are not skipped.
    """
    weights = np.zeros((size_out, size_in))
    rows = np.arange(size_out)
    if size_out >= size_in:
        centres = np.clip((rows + 0.5) * size_in / size_out - 0.5, 0, size_in - 1)
        low = np.floor(centres).astype(int)
        high = np.minimum(low + 1, size_in - 1)
        np.add.at(weights, (rows, low), 1 - (centres - low))
        np.add.at(weights, (rows, high), centres - low)
        return weights
    scale = size_in / size_out
    edges = np.arange(size_in + 1)
    starts, ends = rows * scale, (rows + 1) * scale
    overlap = np.minimum(ends[:, None], edges[None, 1:]) - np.maximum(starts[:, None], edges[None, :-1])
    return np.clip(overlap, 0, None) / scale


def width_normalize(images, width):
    """Resize each 28x28 digit's bounding box horizontally to width pixels, centred horizontally.

    images is (N, 784) or (N, 28, 28); the result has the same shape and dtype. Heights and
    vertical positions are kept, and blank images stay blank.
    """
    raise NotImplementedError("TODO: for each image, find the columns holding non-zero pixels, resample them to width columns, place them centred in a blank 28x28 frame")


class Committee(Callable):
    """Averages the outputs of its members, callables that map the same inputs to class scores."""

    def __init__(self, members):
        self.members = list(members)

    def forward(self, x):
        raise NotImplementedError("TODO: return the plain average of the members' outputs on x")


def main():
    from assignment import get_acc_fn, get_loss_fn, get_model, get_optimizer
    from beras.onehot import OneHotEncoder
    from preprocess import load_and_preprocess_data

    np.random.seed(0)
    train_x, train_y, test_x, test_y = load_and_preprocess_data()
    encoder = OneHotEncoder()
    encoder.fit(np.arange(10))
    train_onehot, test_onehot = encoder(train_y), encoder(test_y)
    members = []
    for width in WIDTHS:
        prepare = (lambda x: x) if width is None else (lambda x, w=width: width_normalize(x, w))
        model = get_model()
        model.compile(optimizer=get_optimizer(), loss_fn=get_loss_fn(), acc_fn=get_acc_fn())
        model.fit(prepare(train_x), train_onehot, epochs=10, batch_size=100)
        member = lambda x, model=model, prepare=prepare: model(prepare(x))
        accuracy = get_acc_fn()(member(test_x), test_onehot)
        print(f"member trained on {'original digits' if width is None else f'width {width}'}: "
              f"test accuracy {float(accuracy):.2%}")
        members.append(member)
    committee_accuracy = get_acc_fn()(Committee(members)(test_x), test_onehot)
    print(f"committee of {len(members)}: test accuracy {float(committee_accuracy):.2%}")


if __name__ == "__main__":
    main()
