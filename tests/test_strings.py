"""String tensors, ``tf.strings`` and ``tf.io.decode_raw``.

Every expected value was recorded from TensorFlow 2.21 (CPU) with the same
calls; the suite itself never imports TF.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tapegrad as tf


def values(t: Any) -> Any:
    """A tensor's or RaggedTensor's elements as (nested) Python lists."""
    if isinstance(t, tf.RaggedTensor):
        return t.to_list()
    return t.numpy().tolist() if t.shape.rank else t.numpy()


# --- the tensors ---------------------------------------------------------


def test_constants_of_text_are_string_tensors() -> None:
    s = tf.constant("ab")
    assert isinstance(s, tf.Tensor)
    assert s.dtype == tf.string and s.dtype.name == "string"
    assert s.numpy() == b"ab" and isinstance(s.numpy(), bytes)
    nested = tf.constant([["a"], ["é"]])
    assert nested.shape == (2, 1)
    np.testing.assert_array_equal(nested.numpy(), np.array([[b"a"], [b"\xc3\xa9"]], dtype=object))
    assert nested.numpy().dtype == object
    assert tf.constant(b"a\x00").numpy() == b"a\x00"  # bytes kept exactly
    assert values(tf.constant(np.array([b"x", b"yz"]))) == [b"x", b"yz"]
    assert tf.constant(np.array(["x", "yz"])).dtype == tf.string
    assert values(tf.constant(np.array([b"x", "y"], dtype=object))) == [b"x", b"y"]
    assert tf.constant([], dtype=tf.string).shape == (0,)


def test_text_and_repr_are_tfs() -> None:
    assert str(tf.constant("ab")) == "tapegrad.Tensor(b'ab', shape=(), dtype=string)"
    assert repr(tf.constant(["a", "b"])) == (
        "<tapegrad.Tensor: shape=(2,), dtype=string, numpy=array([b'a', b'b'], dtype=object)>"
    )


def test_bad_conversions_raise_typeerror() -> None:
    with pytest.raises(TypeError, match="Cannot convert 1 to EagerTensor of dtype string"):
        tf.constant(1, dtype=tf.string)
    with pytest.raises(TypeError, match="Cannot convert '1' to EagerTensor of dtype float32"):
        tf.constant("1", dtype=tf.float32)
    with pytest.raises(ValueError):
        tf.constant(["a", 1])


def test_string_dtype() -> None:
    assert not tf.string.is_floating and not tf.string.is_integer
    assert tf.string.as_numpy_dtype is object and tf.string.size == 0
    assert tf.as_dtype(np.object_) == tf.string and tf.as_dtype("string") is tf.string
    assert tf.as_dtype(np.array([b"a"]).dtype) == tf.string
    assert str(tf.string) == "<dtype: 'string'>"


def test_shape_ops_move_strings() -> None:
    abc = tf.constant(["a", "b", "c"])
    assert values(tf.concat([["a"], ["b"]], 0)) == [b"a", b"b"]
    assert values(tf.stack(["a", "b"])) == [b"a", b"b"]
    assert values(tf.expand_dims("a", 0)) == [b"a"]
    assert values(tf.gather(abc, [2, 0])) == [b"c", b"a"]
    assert values(tf.transpose([["a", "b"]])) == [[b"a"], [b"b"]]
    assert values(tf.reshape(["a", "b"], [2, 1])) == [[b"a"], [b"b"]]
    assert values(tf.squeeze([["a"]])) == b"a"
    assert values(tf.tile(tf.constant(["a", "b"]), [2])) == [b"a", b"b", b"a", b"b"]
    assert values(abc[::-1]) == [b"c", b"b", b"a"]
    assert values(abc[1]) == b"b"
    assert values(tf.reverse(["a", "b"], [0])) == [b"b", b"a"]
    assert values(tf.boolean_mask(["a", "b"], [True, False])) == [b"a"]
    assert values(tf.where([True, False], ["a", "b"], "c")) == [b"a", b"c"]
    assert values(tf.identity(tf.constant("ab"))) == b"ab"
    assert values(tf.zeros([2], tf.string)) == [b"", b""]
    assert values(tf.zeros_like(abc)) == [b"", b"", b""]
    assert int(tf.size(abc)) == 3 and int(tf.rank(tf.constant("x"))) == 0
    assert values(tf.shape(tf.constant("x"))) == []
    assert len(abc) == 3 and [values(x) for x in abc] == [b"a", b"b", b"c"]
    np.testing.assert_array_equal(np.asarray(abc), np.array([b"a", b"b", b"c"], dtype=object))


def test_equality_compares_bytes() -> None:
    assert bool(tf.constant("ab") == "ab")
    assert values(tf.not_equal(tf.constant(["a", "b"]), "a")) == [False, True]
    assert values(tf.equal(tf.constant([["a"], ["b"]]), tf.constant(["a", "b"]))) == [
        [True, False],
        [False, True],
    ]


@pytest.mark.parametrize(
    "call",
    [
        lambda s: tf.abs(s),
        lambda s: tf.exp(s),
        lambda s: tf.reduce_sum(s),
        lambda s: tf.less(s, s),
        lambda s: tf.matmul(tf.reshape(s, [1, 1]), tf.reshape(s, [1, 1])),
        lambda s: tf.nn.relu(s),
        lambda s: tf.reduce_max(s),
        lambda s: tf.argmax(tf.reshape(s, [1])),
        lambda s: tf.cumsum(tf.reshape(s, [1])),
        lambda s: -s,
    ],
)
def test_numeric_ops_refuse_strings_by_dtype(call: Any) -> None:
    with pytest.raises(tf.errors.InvalidArgumentError, match="string"):
        call(tf.constant("ab"))


def test_casts_between_strings_and_numbers_are_unimplemented() -> None:
    with pytest.raises(tf.errors.UnimplementedError, match="Cast string to float is not supported"):
        tf.cast(tf.constant("1"), tf.float32)
    with pytest.raises(tf.errors.UnimplementedError, match="Cast float to string is not supported"):
        tf.cast(tf.constant(1.0), tf.string)


def test_strings_are_never_differentiated() -> None:
    s = tf.constant(["a", "bc"])
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        n = tf.cast(tf.strings.length(tf.gather(s, [1, 0])), tf.float32)
        y = tf.reduce_sum(n * x)
    g = tape.gradient(y, x)
    assert values(g) == [2.0, 1.0]
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.cast(tf.strings.length(s), tf.float32))
    assert tape.gradient(y, s) is None


# --- tf.strings ------------------------------------------------------------


def test_split() -> None:
    assert values(tf.strings.split(["a b", "c  d e", ""])) == [[b"a", b"b"], [b"c", b"d", b"e"], []]
    assert values(tf.strings.split("a b")) == [b"a", b"b"]
    assert values(tf.strings.split(["a,b,,c"], sep=",")) == [[b"a", b"b", b"", b"c"]]
    assert values(tf.strings.split(["a b c d"], maxsplit=1)) == [[b"a", b"b c d"]]
    assert isinstance(tf.strings.split(["a b"]), tf.RaggedTensor)
    # an explicit separator splits "" into one empty piece; whitespace splitting gives none
    assert values(tf.strings.split([""], sep=",")) == [[b""]]
    assert values(tf.strings.split([""], sep=",", maxsplit=1)) == [[b""]]
    assert values(tf.strings.split([""], maxsplit=1)) == [[]]


def test_split_of_rank_2_and_higher_matches_tf() -> None:
    pieces = tf.strings.split(tf.constant([["a b", "c"], ["d e f", ""]]))
    assert isinstance(pieces, tf.RaggedTensor)
    assert pieces.shape == (2, 2, None) and str(pieces.shape) == "(2, 2, None)"
    assert pieces.ragged_rank == 2 and pieces.dtype == tf.string
    assert values(pieces) == [[[b"a", b"b"], [b"c"]], [[b"d", b"e", b"f"], []]]
    assert str(pieces) == "<tf.RaggedTensor [[[b'a', b'b'], [b'c']],\n [[b'd', b'e', b'f'], []]]>"
    assert values(pieces.to_tensor()) == [
        [[b"a", b"b", b""], [b"c", b"", b""]],
        [[b"d", b"e", b"f"], [b"", b"", b""]],
    ]
    assert values(pieces.to_tensor(default_value="X")) == [
        [[b"a", b"b", b"X"], [b"c", b"X", b"X"]],
        [[b"d", b"e", b"f"], [b"X", b"X", b"X"]],
    ]
    assert values(pieces.flat_values) == [b"a", b"b", b"c", b"d", b"e", b"f"]
    assert values(pieces.row_lengths()) == [2, 2]
    assert values(pieces.row_lengths(axis=2)) == [[2, 1], [3, 0]]
    assert str(pieces.row_lengths(axis=2)) == "<tf.RaggedTensor [[2, 1],\n [3, 0]]>"
    assert [values(s) for s in pieces.nested_row_splits] == [[0, 2, 4], [0, 2, 3, 6, 6]]
    assert values(pieces.values) == [[b"a", b"b"], [b"c"], [b"d", b"e", b"f"], []]
    assert int(pieces.nrows()) == 2 and int(pieces.uniform_row_length) == 2
    assert values(pieces[1][0]) == [b"d", b"e", b"f"]
    assert values(pieces.bounding_shape()) == [2, 2, 3]

    commas = tf.strings.split([["x,,y", ""]], sep=",")
    assert str(commas) == "<tf.RaggedTensor [[[b'x', b'', b'y'], [b'']]]>"
    once = tf.strings.split([["a b", "c"], ["d e f", ""]], sep=" ", maxsplit=1)
    assert values(once) == [[[b"a", b"b"], [b"c"]], [[b"d", b"e f"], [b""]]]
    deep = tf.strings.split([[["a b"]], [["c"]]])
    assert deep.shape == (2, 1, 1, None) and deep.ragged_rank == 3
    assert str(deep) == "<tf.RaggedTensor [[[[b'a', b'b']]],\n\n [[[b'c']]]]>"
    empty = tf.strings.split(tf.zeros([2, 0], tf.string))
    assert empty.shape == (2, 0, None) and str(empty) == "<tf.RaggedTensor [[], []]>"
    assert empty.to_tensor().shape == (2, 0, 0)
    assert tf.strings.split(tf.zeros([1, 0], tf.string)).shape == (1, 0, None)


def test_bytes_split_and_unicode_split() -> None:
    assert values(tf.strings.bytes_split(["ab", "é"])) == [[b"a", b"b"], [b"\xc3", b"\xa9"]]
    assert values(tf.strings.bytes_split("ab")) == [b"a", b"b"]
    assert values(tf.strings.unicode_split(["héllo", "€"], "UTF-8")) == [
        [b"h", b"\xc3\xa9", b"l", b"l", b"o"],
        [b"\xe2\x82\xac"],
    ]
    assert values(tf.strings.unicode_split("hé", "UTF-8")) == [b"h", b"\xc3\xa9"]
    grid = tf.strings.unicode_split([["hé", ""]], "UTF-8")
    assert str(grid) == "<tf.RaggedTensor [[[b'h', b'\\xc3\\xa9'], []]]>"
    assert grid.shape == (1, 2, None)
    pairs = tf.strings.bytes_split([["ab"], ["c"]])
    assert str(pairs) == "<tf.RaggedTensor [[[b'a', b'b']],\n [[b'c']]]>"
    spaced = tf.strings.bytes_split([["a b", "c"], ["d e f", ""]])
    assert values(spaced) == [[[b"a", b" ", b"b"], [b"c"]], [[b"d", b" ", b"e", b" ", b"f"], []]]


def test_unicode_decode() -> None:
    assert values(tf.strings.unicode_decode(["héllo", "€"], "UTF-8")) == [
        [104, 233, 108, 108, 111],
        [8364],
    ]
    decoded = tf.strings.unicode_decode("hé", "UTF-8")
    assert decoded.dtype == tf.int32 and values(decoded) == [104, 233]
    assert values(tf.strings.unicode_decode([b"a\xffb"], "UTF-8")) == [[97, 65533, 98]]
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.strings.unicode_decode([b"a\xffb"], "UTF-8", errors="strict")
    points = tf.strings.unicode_decode([["hé", ""], ["€", "ab"]], "UTF-8")
    assert str(points) == "<tf.RaggedTensor [[[104, 233], []],\n [[8364], [97, 98]]]>"
    assert points.shape == (2, 2, None) and points.dtype == tf.int32
    assert values(points.to_tensor()) == [[[104, 233], [0, 0]], [[8364, 0], [97, 98]]]


def test_join_and_reduce_join() -> None:
    assert values(tf.strings.join([["a", "b"], "x"], separator="-")) == [b"a-x", b"b-x"]
    grid = [["a", "b"], ["c", "d"]]
    assert values(tf.strings.reduce_join(grid, axis=1, separator=",")) == [b"a,b", b"c,d"]
    assert values(tf.strings.reduce_join(grid)) == b"abcd"
    assert values(tf.strings.reduce_join(grid, axis=0, keepdims=True)) == [[b"ac", b"bd"]]


def test_length_and_case() -> None:
    assert values(tf.strings.length(["héllo", ""])) == [6, 0]
    assert values(tf.strings.length(["héllo", ""], unit="UTF8_CHAR")) == [5, 0]
    assert tf.strings.length(tf.constant("abc")).dtype == tf.int32
    assert values(tf.strings.lower(["HÉllo"])) == [b"h\xc3\x89llo"]
    assert values(tf.strings.lower(["HÉllo"], encoding="utf-8")) == [b"h\xc3\xa9llo"]
    assert values(tf.strings.upper(["héllo"])) == [b"H\xc3\xa9LLO"]
    assert values(tf.strings.strip(["  a b \n", "\tc"])) == [b"a b", b"c"]


def test_to_number() -> None:
    parsed = tf.strings.to_number(["1.5", "-2", " 3", "1e3", "inf", "nan"])
    assert parsed.dtype == tf.float32
    np.testing.assert_array_equal(parsed.numpy(), np.float32([1.5, -2, 3, 1000, np.inf, np.nan]))
    assert values(tf.strings.to_number(["1.5 ", "0x10", "+4", ".5"])) == [1.5, 16.0, 4.0, 0.5]
    assert values(tf.strings.to_number(["12", "-3"], out_type=tf.int32)) == [12, -3]
    assert values(tf.strings.to_number(["9999999999"], out_type=tf.int64)) == [9999999999]
    assert values(tf.strings.to_number(["0.1"], out_type=tf.float64)) == [0.1]
    for bad, out_type in [("abc", tf.float32), ("1.5", tf.int32), ("9999999999", tf.int32)]:
        with pytest.raises(
            tf.errors.InvalidArgumentError,
            match=f"StringToNumberOp could not correctly convert string: {bad}",
        ):
            tf.strings.to_number([bad], out_type=out_type)


def test_as_string() -> None:
    assert values(tf.strings.as_string([1.5, 2.0, 1e-7, 123456789.0])) == [
        b"1.500000",
        b"2.000000",
        b"0.000000",
        b"123456792.000000",
    ]
    assert values(tf.strings.as_string([1, -20])) == [b"1", b"-20"]
    assert values(tf.strings.as_string([True, False])) == [b"true", b"false"]
    assert values(tf.strings.as_string([3.14159], precision=2)) == [b"3.14"]
    assert values(tf.strings.as_string([3.14159], scientific=True)) == [b"3.141590e+00"]
    assert values(tf.strings.as_string([3], width=5, fill="0")) == [b"00003"]
    assert values(tf.strings.as_string(tf.constant([0.1], tf.float64))) == [b"0.100000"]


def test_format() -> None:
    assert (
        values(tf.strings.format("x={} y={}", (tf.constant([1, 2]), tf.constant(3.5))))
        == b"x=[1 2] y=3.5"
    )
    assert values(tf.strings.format("{}", tf.range(10))) == b"[0 1 2 ... 7 8 9]"
    assert values(tf.strings.format("a {} b", tf.constant(["x", "y"]))) == b'a ["x" "y"] b'
    assert values(tf.strings.format("{}", tf.range(10), summarize=2)) == b"[0 1 ... 8 9]"
    assert (
        values(tf.strings.format("{}", tf.reshape(tf.range(6.0), [2, 3]))) == b"[[0 1 2]\n [3 4 5]]"
    )
    assert values(tf.strings.format("{}", tf.constant("q"))) == b'"q"'
    with pytest.raises(
        ValueError, match="The template expects 2 tensors, but the inputs only has 1"
    ):
        tf.strings.format("{} {}", tf.constant(1))


def test_regex() -> None:
    assert values(tf.strings.regex_replace(["aaa bbb", "ab"], "a+", "X")) == [b"X bbb", b"Xb"]
    assert values(tf.strings.regex_replace(["aaa bab"], "a", "X", replace_global=False)) == [
        b"Xaa bab"
    ]
    assert values(tf.strings.regex_replace(["john smith"], r"(\w+) (\w+)", r"\2 \1")) == [
        b"smith john"
    ]
    assert values(tf.strings.regex_replace(["ab"], "b", r"<\0\\>")) == [b"a<b\\>"]
    assert values(tf.strings.regex_full_match(["abc", "ab1"], "[a-z]+")) == [True, False]
    with pytest.raises(tf.errors.InvalidArgumentError, match="Invalid pattern"):
        tf.strings.regex_replace(["a"], "(", "")


def test_substr() -> None:
    assert values(tf.strings.substr(["hello", "hi"], 1, 3)) == [b"ell", b"i"]
    assert values(tf.strings.substr(["hello"], -3, 2)) == [b"ll"]
    assert values(tf.strings.substr(["héllo"], 1, 2, unit="UTF8_CHAR")) == [b"\xc3\xa9l"]
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="pos 5 out of range for string b'hi' at index 0"
    ):
        tf.strings.substr(["hi"], 5, 1)


def test_text_functions_refuse_numbers() -> None:
    with pytest.raises(TypeError, match=r"Cannot convert \[1, 2\] to EagerTensor of dtype string"):
        tf.strings.length([1, 2])
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"cannot compute StringLength as input #0\(zero-based\) was expected to be a "
        "string tensor but is a int32 tensor",
    ):
        tf.strings.length(tf.constant([1, 2]))


def test_as_string_of_strings_pads_them() -> None:
    assert values(tf.strings.as_string(["ab", "c"])) == [b"ab", b"c"]
    assert values(tf.strings.as_string(["ab", "c"], width=4)) == [b"  ab", b"   c"]
    assert values(tf.strings.as_string(["ab", "c"], width=4, fill="0")) == [b"  ab", b"   c"]


# --- tf.io.decode_raw --------------------------------------------------------


def test_decode_raw() -> None:
    pairs = tf.io.decode_raw(tf.constant([b"\x01\x00\x02\x00", b"\x03\x00\x04\x00"]), tf.int16)
    assert pairs.dtype == tf.int16 and values(pairs) == [[1, 2], [3, 4]]
    assert values(tf.io.decode_raw(b"\x01\x00\x02\x00", tf.int16, little_endian=False)) == [
        256,
        512,
    ]
    assert values(tf.io.decode_raw(np.float32([1.5, 2]).tobytes(), tf.float32)) == [1.5, 2.0]
    assert values(tf.io.decode_raw(b"abc", tf.uint8)) == [97, 98, 99]
    assert values(tf.io.decode_raw([b"ab", b"abcd"], tf.uint8, fixed_length=3)) == [
        [97, 98, 0],
        [97, 98, 99],
    ]
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match="Input to DecodeRaw has length 3 that is not a multiple of 2, the size of int16",
    ):
        tf.io.decode_raw([b"abc"], tf.int16)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match="DecodeRaw requires input strings to all be the same size, "
        "but element 1 has size 2 != 4",
    ):
        tf.io.decode_raw([b"abcd", b"ab"], tf.int16)


# --- tf.data over strings ----------------------------------------------------


def test_datasets_of_strings() -> None:
    ds = tf.data.Dataset.from_tensor_slices(["a b", "c"])
    assert [values(x) for x in ds.map(tf.strings.split)] == [[b"a", b"b"], [b"c"]]
    assert ds.element_spec.dtype == tf.string and ds.element_spec.shape == ()
    assert list(ds.as_numpy_iterator()) == [b"a b", b"c"]
    batches = tf.data.Dataset.from_tensor_slices(["a", "bc", "d"]).batch(2)
    assert [values(b) for b in batches] == [[b"a", b"bc"], [b"d"]]
    lengths = tf.data.Dataset.from_tensor_slices(["a", "bc"]).map(tf.strings.length)
    assert [values(n) for n in lengths] == [1, 2]
    cached = ds.cache()
    assert [values(x) for x in cached] == [b"a b", b"c"] == [values(x) for x in cached]


# --- merged with complex dtypes and fallible kernels: TF 2.21's answers -------


def test_conversions_refuse_what_tf_refuses() -> None:
    for value in (1, 1.5, True):
        message = f"Cannot convert {value} to EagerTensor of dtype string"
        with pytest.raises(TypeError, match=message):
            tf.constant(value, tf.string)
    with pytest.raises(TypeError, match=r"Cannot convert \[1, 2\] to EagerTensor of dtype string"):
        tf.constant([1, 2], tf.string)
    with pytest.raises(
        ValueError,
        match=r"Failed to convert a NumPy array to a Tensor \(Unsupported object type int\)",
    ):
        tf.constant(np.array([1, 2]), tf.string)
    with pytest.raises(ValueError, match="Can't convert Python sequence with mixed types"):
        tf.constant([1, "a"])
    with pytest.raises(ValueError, match=r"Unsupported object type NoneType"):
        tf.constant(np.array([None]))
    with pytest.raises(TypeError, match=r"Cannot convert \['1'\] to EagerTensor of dtype float"):
        tf.constant(["1"], tf.float32)
    with pytest.raises(TypeError, match="Cannot convert b'a' to EagerTensor of dtype float"):
        tf.constant(b"a", tf.float32)
    with pytest.raises(TypeError, match="Cannot convert 'a' to EagerTensor of dtype int32"):
        tf.constant("a", tf.int32)
    empty = tf.constant([], tf.string)
    assert empty.dtype == tf.string and empty.shape == (0,)
    assert empty.numpy().dtype == object and empty.numpy().shape == (0,)
    assert values(tf.constant(["a", b"b"])) == [b"a", b"b"]
    assert values(tf.constant([b"\xff\x00", "é".encode()])) == [b"\xff\x00", b"\xc3\xa9"]
    with pytest.raises(TypeError, match="Cannot find minimum value of <dtype: 'string'>"):
        _ = tf.string.min


def test_printing_summarizes_long_string_tensors() -> None:
    assert str(tf.constant(["a", "b"])) == "tapegrad.Tensor([b'a' b'b'], shape=(2,), dtype=string)"
    assert repr(tf.constant("héllo")) == (
        "<tapegrad.Tensor: shape=(), dtype=string, numpy=b'h\\xc3\\xa9llo'>"
    )
    assert str(tf.constant([str(i) for i in range(2000)])) == (
        "tapegrad.Tensor([b'0' b'1' b'2' ... b'1997' b'1998' b'1999'], shape=(2000,), "
        "dtype=string)"
    )
    grid = tf.constant([["a", "b"], ["c", "d"]]).numpy()
    assert grid.dtype == object and grid.tolist() == [[b"a", b"b"], [b"c", b"d"]]


def test_truth_of_a_string_is_that_it_is_not_empty() -> None:
    assert bool(tf.constant("a")) is True and bool(tf.constant("")) is False
    assert bool(tf.constant(["0"])) is True
    with pytest.raises(TypeError, match="string"):
        float(tf.constant("1"))  # TF: 1.0 (docs/compat.md)


def test_equality_with_numbers() -> None:
    s = tf.constant(["a", "b"])
    assert values(s == tf.constant(["a", "c"])) == [True, False]
    assert values(s != "a") == [False, True]
    # TF raises TypeError ("Cannot convert 1 to EagerTensor of dtype string");
    # tapegrad's `==` of operands that cannot meet is a plain False (docs/compat.md)
    assert (s == 1) is False and (s != 1) is True
    assert (s == None) is False  # noqa: E711 - TF's answer for None
    with pytest.raises(TypeError, match="Cannot convert 1 to EagerTensor of dtype string"):
        tf.equal(s, 1)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"expected to be a string tensor but is a int32 tensor",
    ):
        tf.equal(s, tf.constant(1))


@pytest.mark.parametrize(
    "call",
    [
        lambda s: tf.subtract(s, s),
        lambda s: tf.ones_like(s),
        lambda s: tf.sort(s),
        lambda s: tf.maximum(s, s),
        lambda s: tf.one_hot(s, 2),
        lambda s: tf.math.floormod(s, s),
    ],
)
def test_more_numeric_ops_refuse_strings(call: Any) -> None:
    with pytest.raises(tf.errors.InvalidArgumentError, match="string"):
        call(tf.constant(["b", "a"]))


def test_numbers_never_become_strings() -> None:
    s = tf.constant(["a"])
    with pytest.raises(TypeError, match="Cannot convert 2 to EagerTensor of dtype string"):
        s * 2
    # TF: TypeError "Cannot convert 1 to EagerTensor of dtype string" (docs/compat.md)
    with pytest.raises(tf.errors.InvalidArgumentError, match="string"):
        tf.ones([2], tf.string)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"expected to be a string tensor but is a int32 tensor",
    ):
        tf.concat([s, tf.constant([1])], 0)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"expected to be a string tensor but is a int32 tensor",
    ):
        tf.where([True], s, tf.constant([1]))


def test_more_shape_ops_move_strings() -> None:
    abcd = tf.constant(["a", "b", "c", "d"])
    assert [values(x) for x in tf.split(abcd, 2)] == [[b"a", b"b"], [b"c", b"d"]]
    assert [values(x) for x in tf.unstack(tf.constant(["a", "b"]))] == [b"a", b"b"]
    assert values(tf.pad(tf.constant(["a"]), [[1, 1]])) == [b"", b"a", b""]
    assert values(tf.broadcast_to(tf.constant(["a"]), [2, 1])) == [[b"a"], [b"a"]]
    assert values(tf.fill([2], "ab")) == [b"ab", b"ab"]
    assert values(tf.gather(abcd, [[3], [0]])) == [[b"d"], [b"a"]]
    assert values(tf.transpose(tf.reshape(abcd, [2, 2]))) == [[b"a", b"c"], [b"b", b"d"]]
    assert values(tf.shape(abcd)) == [4]


# --- string + ------------------------------------------------------------------


def test_add_joins_strings() -> None:
    ab = tf.constant(["a", "b"])
    assert values(ab + tf.constant(["c", "d"])) == [b"ac", b"bd"]
    assert values(ab + "x") == [b"ax", b"bx"]
    assert values("x" + ab) == [b"xa", b"xb"]
    assert values(tf.add(ab, "x")) == [b"ax", b"bx"]
    assert values(tf.math.add(tf.constant("a"), tf.constant(["p", "q"]))) == [b"ap", b"aq"]
    assert values(tf.add(tf.constant([["a"], ["b"]]), ab)) == [[b"aa", b"ab"], [b"ba", b"bb"]]
    assert values(tf.add(tf.constant(b"\xff"), "é")) == b"\xff\xc3\xa9"
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?i)incompatible shapes: \[2\] vs"):
        tf.add(ab, tf.constant(["a", "b", "c"]))
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"expected to be a string tensor but is a int32 tensor",
    ):
        tf.add(ab, tf.constant([1, 2]))
    # TF: InvalidArgumentError (the Python value becomes a string tensor, then
    # AddV2 refuses the pair); tapegrad converts it to the tensor's dtype or
    # raises TypeError, as for every operator (docs/compat.md)
    with pytest.raises(TypeError, match="Cannot convert 'a' to EagerTensor of dtype int32"):
        tf.constant([1]) + "a"
    with pytest.raises(TypeError, match="Cannot convert 1 to EagerTensor of dtype string"):
        ab + 1


# --- tf.strings.to_hash_bucket_fast -------------------------------------------

# FarmHash Fingerprint64 mod 2**63 - 1 of strings of every length class
# (0-16, 17-32, 33-64 bytes, and the 64-byte-block loop), from TF 2.21
HASHED = [
    (b"", 1936946117179621456),
    (b"a", 3694432073954588132),
    (b"ab", 3066228220894225695),
    (b"abc", 2640714258260161385),
    (b"hello", 3786372426573024489),
    (b"12345678", 3430003927990384362),
    (b"123456789abcdef", 4570271001221851636),
    (b"0123456789abcdef", 6105018409752412263),
    (b"0123456789abcdefg", 2800675501336285771),
    (b"x" * 31, 5265493245336272416),
    (b"x" * 32, 3678204687145032710),
    (b"x" * 33, 3046993373088323128),
    (b"y" * 64, 4471793200125962424),
    (b"y" * 65, 4023130470993650269),
    (b"z" * 100, 9220849947163966073),
    (b"q" * 200, 8148949033224981618),
    ("héllo".encode(), 7873941210624644344),
]


def test_to_hash_bucket_fast_is_tfs_fingerprint() -> None:
    strings = [s for s, _ in HASHED]
    hashed = tf.strings.to_hash_bucket_fast(strings, 2**63 - 1)
    assert hashed.dtype == tf.int64 and values(hashed) == [h for _, h in HASHED]
    assert values(tf.strings.to_hash_bucket_fast(strings, 10)) == [
        3, 9, 2, 5, 6, 2, 6, 3, 8, 3, 7, 5, 4, 6, 3, 5, 1
    ]
    assert values(tf.strings.to_hash_bucket_fast(["Hello", "TensorFlow", "2.x"], 3)) == [0, 2, 2]
    assert values(tf.strings.to_hash_bucket_fast([["a", "b"]], 5)) == [[4, 2]]
    assert values(tf.strings.to_hash_bucket_fast("a", 1)) == 0
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="'num_buckets' of 0 must be at least minimum 1"
    ):
        tf.strings.to_hash_bucket_fast("a", 0)
    with pytest.raises(TypeError, match=r"Cannot convert \[1\] to EagerTensor of dtype string"):
        tf.strings.to_hash_bucket_fast([1], 5)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"cannot compute StringToHashBucketFast as input #0\(zero-based\) was expected",
    ):
        tf.strings.to_hash_bucket_fast(tf.constant([1]), 5)


# --- tf.data.TextLineDataset --------------------------------------------------


def test_text_line_dataset(tmp_path: Any) -> None:
    import gzip
    import zlib

    one, two, empty = tmp_path / "one.txt", tmp_path / "two.txt", tmp_path / "empty.txt"
    one.write_bytes(b"a b\r\n\nc\n  last")
    two.write_bytes(b"x\ny\n")
    empty.write_bytes(b"")
    lines = tf.data.TextLineDataset(str(one))
    assert list(lines.as_numpy_iterator()) == [b"a b", b"", b"c", b"  last"]
    assert lines.element_spec == tf.TensorSpec([], tf.string)
    assert int(lines.cardinality()) == -2
    names = [str(one), str(two), str(empty)]
    assert list(tf.data.TextLineDataset(names).as_numpy_iterator()) == [
        b"a b", b"", b"c", b"  last", b"x", b"y"
    ]
    reversed_names = tf.constant([str(two), str(one)])
    assert list(tf.data.TextLineDataset(reversed_names).as_numpy_iterator()) == [
        b"x", b"y", b"a b", b"", b"c", b"  last"
    ]
    assert list(
        tf.data.TextLineDataset(names[:2], num_parallel_reads=2).as_numpy_iterator()
    ) == [b"a b", b"x", b"", b"y", b"c", b"  last"]
    assert [values(x) for x in tf.data.TextLineDataset(str(two)).map(tf.strings.upper)] == [
        b"X",
        b"Y",
    ]
    gz, zl = tmp_path / "g.txt.gz", tmp_path / "z.txt.z"
    gz.write_bytes(gzip.compress(b"g1\ng2\n"))
    zl.write_bytes(zlib.compress(b"z1\nz2"))
    gzipped = tf.data.TextLineDataset(str(gz), compression_type="GZIP")
    assert list(gzipped.as_numpy_iterator()) == [b"g1", b"g2"]
    zlibbed = tf.data.TextLineDataset(str(zl), compression_type="ZLIB")
    assert list(zlibbed.as_numpy_iterator()) == [b"z1", b"z2"]
    missing = tf.data.TextLineDataset(str(tmp_path / "missing.txt"))  # opened when read
    with pytest.raises(tf.errors.NotFoundError, match="No such file or directory"):
        list(missing)
    with pytest.raises(
        TypeError, match="The `filenames` argument must contain `tf.string` elements"
    ):
        tf.data.TextLineDataset([1])
    assert list(tf.data.TextLineDataset([])) == []


def test_string_datasets_cache_and_save_to_files(tmp_path: Any) -> None:
    ds = tf.data.Dataset.from_tensor_slices((["a", "", "héllo"], [1, 2, 3])).map(
        lambda s, n: (s, n, tf.reshape(tf.stack([s, s + "x"]), [1, 2]))
    )
    expected = [
        (b"a", 1, [[b"a", b"ax"]]),
        (b"", 2, [[b"", b"x"]]),
        (b"h\xc3\xa9llo", 3, [[b"h\xc3\xa9llo", b"h\xc3\xa9llox"]]),
    ]

    def plain(elements: Any) -> list[Any]:
        return [(s, int(n), grid.tolist()) for s, n, grid in elements]

    assert plain(ds.as_numpy_iterator()) == expected
    cached = ds.cache(str(tmp_path / "cache"))
    assert plain(cached.as_numpy_iterator()) == expected  # writes the files
    assert plain(cached.as_numpy_iterator()) == expected  # reads them
    ds.save(str(tmp_path / "saved"))
    loaded = tf.data.Dataset.load(str(tmp_path / "saved"))
    assert loaded.element_spec[2] == tf.TensorSpec([1, 2], tf.string)
    assert plain(loaded.as_numpy_iterator()) == expected
