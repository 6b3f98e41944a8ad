"""Family 11: committees (committee.py) [more bonus 3-4].

Digits here are synthetic: a random ink pattern filling a chosen bounding box, with ink in
every column and every row of the box, so that any reasonable resampling (linear,
area-averaging or nearest) keeps the box's outer columns inked. The height test draws
digit-like strokes, at least 2 pixels wide, so that every such resampling keeps every row's
ink too (validation/variants.yaml: width-normalize-nearest, -bilinear, -area).
"""
import numpy as np
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given
from hypothesis import strategies as st

import judge
import numerics as M
import strategies as S
from replies import fetch
from feedback import REMINDER, Hint, expect, expect_close

INK = 1e-6  # a pixel is ink when above this (resampling may leave rounding dust near 0)


@st.composite
def digit(draw):
    width, height = draw(st.integers(3, 24)), draw(st.integers(3, 26))
    left, top = draw(st.integers(0, 28 - width)), draw(st.integers(0, 28 - height))
    box = draw(S.array((height, width), 0, 1)) * draw(st.sampled_from([0.0, 1.0]))  # sparse or empty extra ink
    for column in range(width):  # ink in every column and every row of the box
        box[draw(st.integers(0, height - 1)), column] = draw(S.values(0.3, 1.0))
    for row in range(height):
        box[row, draw(st.integers(0, width - 1))] = draw(S.values(0.3, 1.0))
    image = np.zeros((28, 28))
    image[top:top + height, left:left + width] = box
    return image


@st.composite
def stroked_digit_and_width(draw):
    """(image, width): a digit-like image whose every row of ink is a stroke at least 2 pixels
    wide, and wide enough for the resize to `width` (at least ceil(box / width) + 1 pixels), so
    that nearest-neighbour, linear and area resampling all keep each row inked. (A 1-pixel
    stroke can fall between the columns that nearest or plain linear resampling reads.)"""
    width = draw(st.integers(8, 20), label="width")
    box_width, height = draw(st.integers(2, 24)), draw(st.integers(3, 26))
    left, top = draw(st.integers(0, 28 - box_width)), draw(st.integers(0, 28 - height))
    stroke = min(box_width, max(2, -(-box_width // width) + 1))
    box = np.zeros((height, box_width))
    for row in range(height):
        length = draw(st.integers(stroke, box_width))
        start = draw(st.integers(0, box_width - length))
        box[row, start:start + length] = draw(S.values(0.3, 1.0))
    image = np.zeros((28, 28))
    image[top:top + height, left:left + box_width] = box
    return image, width


def bounding_box(image):
    """(first row, last row, first column, last column) of the ink, or None when blank."""
    rows, cols = np.nonzero(np.asarray(image).reshape(28, 28) > INK)
    if rows.size == 0:
        return None
    return rows.min(), rows.max(), cols.min(), cols.max()


@weight(2)
@number("11.1")
@visibility("visible")
@tags("committee", "width-normalize", "bonus-more-4")
@given(images=st.lists(digit(), min_size=1, max_size=3), width=st.sampled_from([10, 12, 14, 16, 18, 20]))
def test_width_normalize_sets_the_box_width_and_centres_it(student_file, images, width):
    """[More bonus 4] width_normalize: box width ±1, centred"""
    stack = np.stack(images).reshape(len(images), 784)
    out = np.asarray(fetch(student_file("committee").width_normalize(stack, width), stack.shape), dtype=float)
    expect(out.shape == stack.shape, "`width_normalize` keeps the input's shape.",
           inputs={"images shape": stack.shape, "width": width}, detail=f"It returned shape {out.shape}.",
           hint=Hint("shape", "return the images in the shape they came in: (N, 784) stays (N, 784).")
           if out.size == stack.size else None)
    for i, image in enumerate(images):
        top, bottom, left, right = bounding_box(image)
        inputs = {"image (ink box rows, columns)": f"rows {top}-{bottom}, columns {left}-{right} "
                                                   f"(width {right - left + 1})", "width": width,
                  "image": image[top:bottom + 1, left:right + 1]}
        box = bounding_box(out[i])
        expect(box is not None, "A digit stays a digit after `width_normalize`.", inputs=inputs,
               detail=f"Image {i} came back blank.")
        got_width = box[3] - box[2] + 1
        expect(abs(got_width - width) <= 1,
               f"`width_normalize(images, {width})` makes each digit's bounding box {width} pixels wide (+-1).",
               inputs=inputs, detail=f"Image {i}'s box is now columns {box[2]}-{box[3]}: {got_width} pixels wide.",
               hint=Hint(REMINDER, "resample the columns of the box (first to last inked column) to `width` columns."))
        centre = (box[2] + box[3]) / 2
        expect(abs(centre - 13.5) <= 1, "The resized box is centred horizontally in the 28-pixel frame (+-1).",
               inputs=inputs, detail=f"Image {i}'s box is columns {box[2]}-{box[3]}, centred at {centre}.",
               hint=Hint("wrong-formula", "centre the resized box: the blank columns left of it and right of it "
                                         "should be as many (rounded down on the left)."))


@weight(1)
@number("11.2")
@visibility("visible")
@tags("committee", "width-normalize", "bonus-more-4")
@given(case=stroked_digit_and_width(), square=st.booleans())
def test_width_normalize_keeps_height_and_blank_images(student_file, case, square):
    """[More bonus 4] width_normalize: height, shape, blanks kept"""
    image, width = case
    stack = np.stack([image, np.zeros((28, 28))])
    given_images = stack if square else stack.reshape(2, 784)
    out = np.asarray(fetch(student_file("committee").width_normalize(given_images, width), given_images.shape), dtype=float)
    top, bottom, left, right = bounding_box(image)
    inputs = {"images shape": given_images.shape, "width": width,
              "image 0": image[top:bottom + 1, left:right + 1], "image 0 box rows": (top, bottom),
              "image 1": "blank (all zeros)"}
    expect(out.shape == given_images.shape, "`width_normalize` keeps the input's shape ((N, 784) or (N, 28, 28)).",
           inputs=inputs, detail=f"It returned shape {out.shape}.",
           hint=Hint("shape", "return the images in the shape they came in: (N, 784) stays (N, 784).")
           if out.size == given_images.size else None)
    box = bounding_box(out[0])
    expect(box is not None and (box[0], box[1]) == (top, bottom),
           "`width_normalize` changes widths only: each digit keeps its rows (height and vertical place).",
           inputs=inputs, detail=f"Image 0's ink rows are now {None if box is None else (box[0], box[1])}.",
           hint=Hint("wrong-formula", "stretch or squeeze the columns only: keeping the aspect ratio changes the "
                                      "digit's height.") if box is not None else None)
    expect(not np.any(np.abs(out[1]) > INK), "A blank image stays blank.", inputs=inputs,
           detail=f"The blank image came back with {int(np.sum(np.abs(out[1]) > INK))} inked pixels.",
           hint=Hint("wrong-formula", "an image with no ink has no bounding box: leave it as it is."))


@weight(2)
@number("11.3")
@visibility("visible")
@tags("committee", "bonus-more-3")
@given(members=S.dim(1, 4), shape=S.batch_shape(max_dim=4), classes=S.dim(2, 4), data=st.data())
def test_committee_averages_its_members(student_file, worker_side, members, shape, classes, data):
    """[More bonus 3] Committee averages its members"""
    n, m = shape
    x = data.draw(S.array((n, m)), label="x")
    params = [(data.draw(S.array((m, classes)), label=f"a{k}"), data.draw(S.array((1, classes)), label=f"c{k}"))
              for k in range(members)]
    probes = worker_side("probes")
    committee = student_file("committee").Committee([probes.GatedMember(a, c) for a, c in params])
    expect_close("`Committee(members)(x)` is the plain average of the members' outputs on x.",
                 expected=judge.value("gated_committee", x, params), returned=fetch(committee(x), (n, classes)), what="Committee(members)(x)",
                 inputs={"x": x, "members": f"{members} gated maps (x @ a_k) * c_k"}, **M.VALUE,
                 mistakes={Hint("batch-mean", "you summed the members' outputs; average them."):
                           judge.value("gated_committee_sum", x, params),
                           Hint("wrong-formula", "you took the element-wise maximum of the members' outputs; "
                                                 "average them."): judge.value("gated_committee_max", x, params)})
