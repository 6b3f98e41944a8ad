"""The reference committee.py: width normalisation and averaging committees."""
import numpy as np
import pytest


@pytest.fixture(scope="module")
def committee(reference_beras):
    import committee

    return committee


@pytest.fixture(scope="module")
def digits(reference_preprocess, mnist_dir):
    return reference_preprocess.load_mnist_arrays(mnist_dir).test_images[:300]


def inked_columns(images):
    return [np.flatnonzero(image.any(axis=0)) for image in images.reshape(-1, 28, 28)]


@pytest.mark.parametrize("width", [10, 12, 14, 16, 18, 20])
def test_bounding_box_gets_the_width_centred_and_rows_are_kept(committee, digits, width):
    out = committee.width_normalize(digits, width)
    assert out.shape == digits.shape and out.dtype == digits.dtype
    left = (28 - width) // 2
    for before, after in zip(inked_columns(digits), inked_columns(out)):
        assert (after.min(), after.max()) == (left, left + width - 1)
        if len(before) == before.max() - before.min() + 1:  # no blank column inside the box
            np.testing.assert_array_equal(after, np.arange(left, left + width))
    # Only columns are resampled: no ink moves to a row that had none.
    assert not np.any(out.any(axis=2) & ~digits.any(axis=2))
    assert out.max() > 200  # the strokes stay dark


def test_flat_float_inputs_and_blank_images(committee, digits):
    flat = digits.reshape(-1, 784).astype(np.float32) / 255
    flat[3] = 0
    out = committee.width_normalize(flat, 14)
    assert out.shape == (300, 784) and out.dtype == np.float32
    assert not out[3].any()
    assert 0 <= out.min() and out.max() <= 1
    expected = committee.width_normalize(digits, 14).reshape(-1, 784) / 255
    np.testing.assert_allclose(np.delete(out, 3, axis=0), np.delete(expected, 3, axis=0), atol=1 / 255 + 1e-6)


def test_committee_averages_its_members(committee):
    members = [lambda x: x * 1.0, lambda x: x * 2.0, lambda x: x * 6.0]
    out = committee.Committee(members)(np.ones((2, 3)))
    np.testing.assert_allclose(out, np.full((2, 3), 3.0))
