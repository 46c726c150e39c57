"""GradientTape.summary() and GradientTape.to_dot(): what the tape recorded,
row by row, with the bytes each node's gradient rule keeps alive."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tapegrad as tf


def body_rows(text: str) -> list[str]:
    """The lines between the header rule (====) and the totals rule (====)."""
    lines = text.splitlines()
    rules = [i for i, line in enumerate(lines) if line and set(line) == {"="}]
    assert len(rules) == 2, text
    return [line for line in lines[rules[0] + 1 : rules[1]] if set(line) != {"-"}]


def dot_graph(text: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Node ids with their labels, and (tail, head, label) edges, parsed from
    the DOT text this module emits (one statement per line)."""
    lines = text.splitlines()
    assert lines[0] == "digraph GradientTape {" and lines[-1] == "}"
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str]] = []
    for line in lines[1:-1]:
        line = line.strip()
        assert line.endswith(";"), line
        edge = re.fullmatch(r'(\w+) -> (\w+) \[label="([^"]*)"\];', line)
        node = re.fullmatch(r'(\w+) \[(.*)label="((?:[^"\\]|\\.)*)"\];', line)
        if edge:
            edges.append(edge.groups())
        elif node and node.group(1) not in ("node", "edge"):
            assert node.group(1) not in nodes, f"node {node.group(1)} declared twice"
            nodes[node.group(1)] = node.group(3)
    for tail, head, _ in edges:
        assert tail in nodes and head in nodes, f"edge {tail} -> {head} to an undeclared node"
    return nodes, edges


def small_program() -> tuple[tf.GradientTape, tf.Variable, tf.Tensor, tf.Tensor]:
    x = tf.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    w = tf.Variable(np.ones((3, 4), dtype=np.float32), name="w")
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        h = tf.tanh(tf.matmul(x, w))
        loss = tf.reduce_sum(h * h)
    return tape, w, x, loss


def test_summary_rows_for_a_small_program():
    tape, w, x, loss = small_program()  # keep w alive: the table names live variables
    text = tape.summary()
    assert text.splitlines()[0] == "GradientTape (persistent, stopped): 5 ops recorded"
    rows = body_rows(text)
    # exact text of the first rows: right-aligned numbers, left-aligned names
    header = text.splitlines()[2]
    assert header.split() == ["#", "Op", "Inputs", "Outputs", "Saved", "(bytes)"]
    assert rows[0] == "1  ReadVariableOp  var w:0: float32[3,4]  float32[3,4]              0"
    assert rows[1] == "2  MatMul          x0: float32[2,3]       float32[2,4]             72"
    assert rows[2] == "                   #1: float32[3,4]"
    assert rows[3] == "3  Tanh            #2: float32[2,4]       float32[2,4]             32"
    assert rows[4] == "4  Mul             #3: float32[2,4]       float32[2,4]             32"
    assert rows[5] == "                   #3: float32[2,4]"
    assert rows[6] == "5  Sum             #4: float32[2,4]       float32[]                 0"
    # the variable's value and x are both saved by MatMul; tanh's output by
    # Tanh and (twice) by Mul: three buffers, 24 + 48 + 32 bytes
    assert "Saved for backward: 104 bytes (104 B) in 3 distinct buffers" in text


def test_saved_bytes_are_the_sizes_of_the_saved_tensors():
    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((5, 7)))  # float64: 280 bytes
    b = tf.constant(rng.standard_normal((7, 3)).astype(np.float32))  # 84 bytes
    with tf.GradientTape() as tape:
        tape.watch([a, b])
        e = tf.exp(a)  # keeps its output (280)
        s = tf.sin(b)  # keeps its input b (84)
        m = tf.matmul(tf.cast(e, tf.float32), s)  # keeps both operands: 140 + 84
        tf.reduce_mean(m)  # a Sum (keeps nothing), then RealDiv by the count
    rows = [r.split() for r in body_rows(tape.summary()) if r[0] != " "]
    saved = {r[1]: int(r[-1].replace(",", "")) for r in rows}
    e32 = np.exp(a.numpy()).astype(np.float32)
    s32 = np.sin(b.numpy())
    assert saved == {
        "Exp": np.exp(a.numpy()).nbytes,
        "Sin": b.numpy().nbytes,
        "Cast": 0,
        "MatMul": e32.nbytes + s32.nbytes,
        "Sum": 0,
        "RealDiv": 4 + 4,  # the float32 sum and the float32 count
    }
    total = np.exp(a.numpy()).nbytes + b.numpy().nbytes + e32.nbytes + s32.nbytes + 8
    assert f"Saved for backward: {total:,} bytes" in tape.summary()


def test_big_numbers_are_grouped_and_humanised():
    x = tf.zeros((512, 512))  # 1 MiB of float32
    with tf.GradientTape() as tape:
        tape.watch(x)
        tf.exp(x)
    text = tape.summary()
    assert "1,048,576" in text
    assert "Saved for backward: 1,048,576 bytes (1.0 MiB) in 1 distinct buffer" in text


def test_dot_has_a_node_per_op_and_source_and_an_edge_per_use():
    tape, w, x, loss = small_program()
    nodes, edges = dot_graph(tape.to_dot())
    ops = {k: v for k, v in nodes.items() if k.startswith("op")}
    assert [v.split("\\n")[0] for v in ops.values()] == [
        "#1 ReadVariableOp",
        "#2 MatMul",
        "#3 Tanh",
        "#4 Mul",
        "#5 Sum",
    ]
    others = {k: v for k, v in nodes.items() if not k.startswith("op")}
    labels = sorted(v for v in others.values())
    # the watched tensor, the variable, and the loss (consumed by no op)
    assert labels == ["#5\\nfloat32[]", "var w:0\\nfloat32[3,4]", "x0\\nfloat32[2,3]"]
    # one edge per op input (1 + 2 + 1 + 2 + 1) and one to the loss
    assert len(edges) == 8
    assert ("op3", "op4", "float32[2,4]") in edges
    assert edges.count(("op3", "op4", "float32[2,4]")) == 2  # h * h uses h twice
    assert "saved 72 B" in ops["op2"]


def test_summary_counts_the_ops_it_lists():
    tape, w, x, loss = small_program()
    first = tape.summary().splitlines()[0]
    n = int(re.search(r"(\d+) ops recorded", first).group(1))
    numbered = [r for r in body_rows(tape.summary()) if r[0] != " "]
    assert len(numbered) == n
    nodes, _ = dot_graph(tape.to_dot())
    assert sum(k.startswith("op") for k in nodes) == n


def test_inspecting_records_nothing_and_works_inside_the_block():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.exp(x)
        inside = tape.summary()
        inside_dot = tape.to_dot()
        assert tape._tape.num_nodes() == 1
        z = tf.reduce_sum(y)
    assert inside.splitlines()[0] == "GradientTape (non-persistent, recording): 1 op recorded"
    assert "recording" in inside_dot
    after = tape.summary()
    assert after.splitlines()[0] == "GradientTape (non-persistent, stopped): 2 ops recorded"
    np.testing.assert_allclose(tape.gradient(z, x).numpy(), np.exp([1.0, 2.0]), rtol=1e-6)


def test_a_non_persistent_tape_is_released_by_gradient():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(x * x)
    tape.gradient(y, x)
    text = tape.summary()
    assert text.splitlines()[0] == "GradientTape (non-persistent, released): 0 ops recorded"
    assert body_rows(text) == [
        "(the record was freed by gradient(); use persistent=True to inspect it after)"
    ]
    assert "Saved for backward: 0 bytes" in text
    nodes, edges = dot_graph(tape.to_dot())
    assert list(nodes) == ["released"] and edges == []


def test_a_persistent_tape_keeps_its_record_and_reset_clears_it():
    x = tf.constant(3.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        before = tape.summary()
        tape.reset()
        cleared = tape.summary()
        tape.watch(x)
        z = tf.sin(x)
    tape.gradient(z, x)
    tape.gradient(z, x)
    assert "1 op recorded" in before and "Mul" in before
    assert "0 ops recorded" in cleared and body_rows(cleared) == []
    after = tape.summary()
    assert "(persistent, stopped): 1 op recorded" in after and "Sin" in after
    del y


def test_a_tape_never_entered_shows_an_empty_table():
    tape = tf.GradientTape()
    text = tape.summary()
    assert text.splitlines()[0] == "GradientTape (non-persistent, not entered): 0 ops recorded"
    assert body_rows(text) == []
    nodes, edges = dot_graph(tape.to_dot())
    assert nodes == {} and edges == []


def test_higher_order_shows_the_recorded_backward_pass():
    x = tf.constant(2.0)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = x * x * x
        dy = inner.gradient(y, x)
    # the outer tape saw the forward ops and the inner backward pass
    ops = [r.split()[1] for r in body_rows(outer.summary()) if r[0] != " "]
    assert ops[:2] == ["Mul", "Mul"] and len(ops) > 2
    assert float(outer.gradient(dy, x)) == pytest.approx(12.0)


def test_custom_gradient_rows_show_unknown_saved_bytes():
    @tf.custom_gradient
    def two_outputs(v):
        def grad(da, db):
            return da + db

        return (tf.identity(v), v * 2.0), grad

    v = tf.constant([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(v)
        a, b = two_outputs(v)
        total = tf.reduce_sum(a * b)
    rows = body_rows(tape.summary())
    custom = [r for r in rows if "CustomGradient" in r]
    assert len(custom) == 1 and custom[0].rstrip().endswith("?")
    assert any("#1.0: float32[3]" in r for r in rows)
    assert any("#1.1: float32[3]" in r for r in rows)
    assert "? = a custom gradient" in tape.summary()
    assert "saved ?" in tape.to_dot()
    # d total/dv through grad(da, db) = da + db, with da = b = 2v and db = a = v
    np.testing.assert_allclose(tape.gradient(total, v).numpy(), [3.0, 6.0, 9.0])


def test_dot_quotes_names_safely():
    v = tf.Variable([1.0], name='a"b\\c')
    with tf.GradientTape() as tape:
        tf.reduce_sum(v * 2.0)
    text = tape.to_dot()
    assert 'label="var a\\"b\\\\c:0\\nfloat32[1]"' in text
    nodes, _ = dot_graph(text)
    assert len(nodes) == 6  # 3 ops, the variable, the constant 2.0, the result


def test_a_deleted_variable_keeps_its_row():
    tape, w, x, loss = small_program()
    del w
    rows = body_rows(tape.summary())
    assert rows[0].split()[:4] == ["1", "ReadVariableOp", "var", "<deleted>:"]


def test_a_large_product_the_next_op_saves_is_remade_not_kept():
    # sin keeps its input, the product x·w, whose own node keeps x and w: the
    # backward pass makes the product again (bitwise) instead of holding it
    rng = np.random.default_rng(1)
    x = tf.constant(rng.standard_normal(1 << 16))  # float64: 512 KiB
    w = tf.constant(rng.standard_normal(1 << 16))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, w])
        y = tf.sin(x * w)
    rows = [r.split() for r in body_rows(tape.summary()) if r[0] != " "]
    saved = {r[1]: int(r[-1].replace(",", "")) for r in rows}
    assert saved == {"Mul": 2 * x.numpy().nbytes, "Sin": 0}
    assert f"Saved for backward: {2 * x.numpy().nbytes:,} bytes" in tape.summary()
    expected = np.cos(x.numpy() * w.numpy()) * w.numpy()
    for _ in range(2):  # a persistent tape remakes it at every call
        np.testing.assert_array_equal(tape.gradient(y, x).numpy(), expected)


def test_a_small_or_shared_product_is_kept():
    x = tf.constant(np.arange(4.0))
    with tf.GradientTape() as tape:  # small: remaking would cost more than it saves
        tape.watch(x)
        tf.sin(x * x)
    assert [r.split()[-1] for r in body_rows(tape.summary()) if r[0] != " "] == ["32", "32"]
    big = tf.constant(np.arange(float(1 << 16)))
    with tf.GradientTape() as outer, tf.GradientTape() as inner:  # two tapes share the node
        outer.watch(big)
        inner.watch(big)
        tf.sin(big * big)
    # big (saved twice by Mul: one buffer) and the product, kept by Sin
    assert f"Saved for backward: {2 * big.numpy().nbytes:,} bytes" in inner.summary()


def test_a_product_by_a_constant_is_remade_from_the_saves_before_it():
    # exp keeps its output e; e·0.5 keeps only 0.5; sin would keep e·0.5:
    # made again from e (exp's save) and 0.5 (the product's)
    x = tf.constant(np.linspace(-2.0, 2.0, 1 << 16))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.sin(tf.exp(x) * 0.5)
    saved = [r.split()[-1] for r in body_rows(tape.summary()) if r[0] != " "]
    assert saved == [f"{x.numpy().nbytes:,}", "8", "0"]
    with tf.GradientTape() as outer, tf.GradientTape() as kept:  # two tapes: nothing remade
        outer.watch(x)
        kept.watch(x)
        y_kept = tf.sin(tf.exp(x) * 0.5)
    assert body_rows(kept.summary())[-1].split()[-1] == f"{x.numpy().nbytes:,}"
    grad = tape.gradient(y, x).numpy()
    np.testing.assert_array_equal(grad, kept.gradient(y_kept, x).numpy())
    e = np.exp(x.numpy())
    np.testing.assert_allclose(grad, np.cos(e * 0.5) * 0.5 * e, rtol=1e-12, atol=1e-14)


def test_a_remade_value_may_be_remade_from_one_remade_itself():
    # (exp(x)·0.5)² remakes exp(x)·0.5; cos of it remakes the square from
    # that recipe: only exp's output and 0.5 stay
    x = tf.constant(np.linspace(-1.0, 1.0, 1 << 16))

    def chain() -> tf.Tensor:
        h = tf.exp(x) * 0.5
        return tf.cos(h * h)

    with tf.GradientTape() as tape:
        tape.watch(x)
        y = chain()
    saved = [r.split()[-1] for r in body_rows(tape.summary()) if r[0] != " "]
    assert saved == [f"{x.numpy().nbytes:,}", "8", "0", "0"]
    with tf.GradientTape() as outer, tf.GradientTape() as kept:
        outer.watch(x)
        kept.watch(x)
        y_kept = chain()
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), kept.gradient(y_kept, x).numpy())


def test_an_output_is_remade_from_an_input_an_earlier_op_keeps():
    # W6's cycle: tanh keeps its output t, and everything after it is made
    # again from t and x: exp(t) (exp's own save), 0.5·e, its square, cos of
    # that (saved by the product by x) and that product (saved by the next
    # sin). Bitwise the gradient of a run that keeps them all (two tapes),
    # at every call of a persistent tape.
    x = tf.constant(np.linspace(-1.0, 1.0, 1 << 16))

    def cycles(y: tf.Tensor) -> tf.Tensor:
        for _ in range(2):
            t = tf.tanh(tf.sin(y) * 0.5 + x)
            m = tf.exp(t) * 0.5
            y = tf.cos(m * m) * x
        return y

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = cycles(x)
    rows = [r.split() for r in body_rows(tape.summary())]
    saved = [(r[1], int(r[-1].replace(",", ""))) for r in rows if r[0].isdigit()]
    big = [op for op, n in saved if n > 8]
    # what stays: the first sin's input x, tanh's outputs, and x for c·x
    assert big == ["Sin", "Tanh", "Mul", "Tanh", "Mul"]
    assert f"Saved for backward: {3 * x.numpy().nbytes + 4 * 8:,} bytes" in tape.summary()
    with tf.GradientTape() as outer, tf.GradientTape() as kept:  # two tapes: nothing remade
        outer.watch(x)
        kept.watch(x)
        y_kept = cycles(x)
    expected = kept.gradient(y_kept, x).numpy()
    for _ in range(2):
        np.testing.assert_array_equal(tape.gradient(y, x).numpy(), expected)
