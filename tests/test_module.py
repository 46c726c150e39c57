"""tf.Module and tf.name_scope: names, variable discovery and its order,
checked against what TF 2.21 reports for the same programs (recorded by
running them under TensorFlow)."""

from __future__ import annotations

import copy
import pickle
import re
import threading

import pytest
import tapegrad as tf


class Sub(tf.Module):
    def __init__(self, name=None):
        super().__init__(name=name)
        with self.name_scope:
            self.w = tf.Variable(1.0, name="w")
            self.b = tf.Variable(2.0, name="b", trainable=False)


class Top(tf.Module):
    def __init__(self):
        super().__init__()
        self.z = Sub()
        self.a = [
            Sub(name="s1"),
            {"k2": tf.Variable(3.0, name="v2"), "k1": tf.Variable(4.0, name="v1")},
        ]
        self.c = self.scoped_variable(5.0, "c")
        self.tup = (tf.Variable(6.0, name="t"),)

    @tf.Module.with_name_scope
    def make(self, x):
        return tf.Variable(x, name="inner")


def test_names_and_variable_order_match_tf():
    top = Top()
    # TF 2.21 prints exactly these for the same classes
    assert top.name == "top" and top.name_scope.name == "top/"
    assert top.z.name_scope.name == "sub/"
    assert [v.name for v in top.variables] == [
        "v1:0",
        "v2:0",
        "top/c:0",
        "t:0",
        "s1/b:0",
        "s1/w:0",
        "sub/b:0",
        "sub/w:0",
    ]
    assert [v.name for v in top.trainable_variables] == [
        "v1:0",
        "v2:0",
        "top/c:0",
        "t:0",
        "s1/w:0",
        "sub/w:0",
    ]
    assert [v.name for v in top.non_trainable_variables] == ["s1/b:0", "sub/b:0"]
    assert [m.name for m in top.submodules] == ["s1", "sub"]
    assert top.make(1.0).name == "top/inner:0"


def test_nested_name_scopes():
    with tf.name_scope("outer"):
        sub = Sub(name="inner_mod")
        assert sub.name_scope.name == "outer/inner_mod/"
        with tf.name_scope("x") as scope:
            assert scope == "outer/x/"
            assert tf.module.scoped_name("q") == "outer/x/q"
    assert [v.name for v in sub.variables] == ["outer/inner_mod/b:0", "outer/inner_mod/w:0"]
    assert tf.module.current_name_scope() == ""
    with tf.name_scope("a"), tf.name_scope("abs/"):  # a trailing "/": absolute
        assert tf.module.current_name_scope() == "abs/"


def test_bare_variables_take_the_name_scope_like_tf():
    # what TF 2.21 names the same variables (eager: no uniquifying, "s/w:0" twice)
    names = {}
    with tf.name_scope("s"):
        names["w"] = tf.Variable(1.0, name="w").name
        names["w again"] = tf.Variable(1.0, name="w").name
        names["default"] = tf.Variable(1.0).name
        with tf.name_scope("t"):
            names["nested"] = tf.Variable(1.0, name="w").name
        with tf.name_scope("s"):
            names["same name nested"] = tf.Variable(1.0, name="w").name
        with tf.name_scope("u/"):
            names["absolute scope"] = tf.Variable(1.0, name="w").name
        with tf.name_scope(""):
            names["empty scope"] = tf.Variable(1.0, name="w").name
        names["slash inside"] = tf.Variable(1.0, name="a/b").name
        names["absolute name"] = tf.Variable(1.0, name="c/").name
    with tf.name_scope("a/b/"):
        names["absolute nested scope"] = tf.Variable(1.0, name="w").name
    names["outside"] = tf.Variable(1.0, name="w").name
    names["outside, slash inside"] = tf.Variable(1.0, name="a/b").name
    assert names == {
        "w": "s/w:0",
        "w again": "s/w:0",
        "default": names["default"],  # checked below
        "nested": "s/t/w:0",
        "same name nested": "s/s/w:0",
        "absolute scope": "u/w:0",
        "empty scope": "w:0",
        "slash inside": "s/a/b:0",
        "absolute name": "c:0",
        "absolute nested scope": "a/b/w:0",
        "outside": "w:0",
        "outside, slash inside": "a/b:0",
    }
    # TF: "s/Variable:0"; tapegrad numbers unnamed variables (docs/compat.md)
    assert re.fullmatch(r"s/Variable(_\d+)?:0", names["default"])


def test_module_name_scope_prefixes_bare_variables_like_tf():
    class M(tf.Module):
        def __init__(self):
            super().__init__(name="m")
            with self.name_scope:
                self.v = tf.Variable(1.0, name="v")
                self.n = tf.Variable(1.0)

    assert M().v.name == "m/v:0"  # TF 2.21: "m/v:0", "m/Variable:0", "outer/m/v:0"
    assert re.fullmatch(r"m/Variable(_\d+)?:0", M().n.name)
    with tf.name_scope("outer"):
        assert M().v.name == "outer/m/v:0"
    assert M().v.name == "m/v:0"


def test_name_scopes_are_per_thread():
    seen = []

    def other_thread():
        seen.append((tf.module.current_name_scope(), tf.Variable(1.0, name="w").name))

    with tf.name_scope("main"):
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert tf.Variable(1.0, name="w").name == "main/w:0"
    assert seen == [("", "w:0")]


def test_a_copy_keeps_the_name_in_any_scope():
    with tf.name_scope("s"):
        original = tf.Variable([1.0], name="w")
    with tf.name_scope("elsewhere"):
        assert copy.deepcopy(original).name == "s/w:0"
        assert pickle.loads(pickle.dumps(original)).name == "s/w:0"


def test_default_name_and_invalid_names():
    class MyModel2(tf.Module):
        pass

    assert MyModel2().name == "my_model2"
    with pytest.raises(ValueError, match="valid Python identifiers"):
        tf.Module(name="a b")
    with pytest.raises(ValueError, match="not a valid scope name"):
        tf.name_scope("-bad")


def test_each_variable_once_and_cycles_terminate():
    shared = tf.Variable(1.0, name="shared")
    a, b = tf.Module(name="a"), tf.Module(name="b")
    a.x, a.y, a.child = shared, [shared], b
    b.parent, b.z = a, shared
    assert [v.name for v in a.variables] == ["shared:0"]
    assert [m.name for m in a.submodules] == ["b"]


def test_module_variables_train_with_a_tape():
    class Linear(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = self.scoped_variable(tf.zeros([2, 1]), "w")
            self.b = self.scoped_variable(tf.zeros([1]), "b")

        def __call__(self, x):
            return tf.matmul(x, self.w) + self.b

    model = Linear()
    x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    opt = tf.optimizers.SGD(0.05)
    for _ in range(300):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - [[1.0], [2.0]]) ** 2)
        opt.apply_gradients(
            zip(
                tape.gradient(loss, model.trainable_variables),
                model.trainable_variables,
                strict=True,
            )
        )
    assert float(loss) < 1e-3
    assert [v.name for v in model.trainable_variables] == ["linear/b:0", "linear/w:0"]
