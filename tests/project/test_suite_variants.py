"""A correct solution written differently gets full marks on every correctness test.

The variant is the reference with edits to other valid styles the API allows: (N, m, r) weight
gradients and (r,) bias gradients, the handout's `g * J` compose (an array, not a list),
float32 inside Sigmoid, a smaller cross-entropy clip, Keras' form of Adam, and Python loops in
Softmax. Only the vectorisation test (10.1) may cost it points, because of those loops.
(Epsilon inside RMSProp's square root is not among them: the API puts it outside,
`g / (sqrt(v) + epsilon)`, and with small gradients the two differ; 6.2 fails it.)
"""
from suite_support import by_number, edited_copy, graded, losing

VARIANT = [
    ("beras/layers.py", "return [x[:, :, np.newaxis], np.ones_like(self.b)]",
     "return [np.repeat(x[:, :, np.newaxis], self.w.shape[1], axis=2), np.ones(self.w.shape[1])]", 1),
    ("beras/activations.py", "return [self.get_input_gradients()[0] * J[0]]",
     "return self.get_input_gradients()[0] * J", 2),
    ("beras/activations.py", "e = np.exp(-np.abs(x))",
     "x = np.asarray(x, dtype=np.float32)\n        e = np.exp(-np.abs(x))", 1),
    ("beras/activations.py", """        shifted = np.exp(x - np.max(x, axis=-1, keepdims=True))
        return shifted / np.sum(shifted, axis=-1, keepdims=True)""",
     """        rows = []
        for row in np.asarray(x):
            e = np.exp(row - row.max())
            rows.append(e / e.sum())
        return np.array(rows)""", 1),
    ("beras/activations.py", """        diagonal = y[:, :, np.newaxis] * np.eye(y.shape[-1])
        return [diagonal - y[:, :, np.newaxis] * y[:, np.newaxis, :]]""",
     "        return [np.array([np.diag(row) - np.outer(row, row) for row in y])]", 1),
    ("beras/losses.py", "EPSILON = 1e-7", "EPSILON = 1e-12", 1),
    ("beras/optimizers.py", """            m_hat = self.m[i] / (1 - self.beta_1**self.t)
            v_hat = self.v[i] / (1 - self.beta_2**self.t)
            p -= self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon)""",
     """            lr_t = self.learning_rate * np.sqrt(1 - self.beta_2**self.t) / (1 - self.beta_1**self.t)
            p -= lr_t * self.m[i] / (np.sqrt(self.v[i]) + self.epsilon)""", 1),
]


def test_correct_variant_gets_every_correctness_point(reference_dir, mnist_dir, tmp_path):
    folder = edited_copy(reference_dir, tmp_path / "variant", VARIANT)
    doc, _ = graded(folder)
    lost = losing(doc)
    tests = by_number(doc)
    assert lost <= {"10.1"}, "; ".join(f"{n}: {tests[n]['output'][:400]}" for n in sorted(lost - {"10.1"}))
    assert "10.1" in lost, "Python loops over the rows should cost vectorisation credit"
    assert 0 < tests["10.1"]["score"] < tests["10.1"]["max_score"], "the loops cost part of 10.1, not all"
