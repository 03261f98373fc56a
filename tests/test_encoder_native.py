"""The compiled walk, vectoriser and rounding (memory/embeddings/_speedups.c) against the Python reference.

Both must append the same features in the same order, reject the same bad input with the same error,
and turn features into the same vectors; the system must keep working with either.
"""

import collections
import enum
import math
import shutil
import sysconfig

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memory import AgentMemorySystem
from memory.embeddings import encoder as encoder_module
from memory.embeddings.encoder import Features, StateEncoder
from memory.errors import InvalidMemoryError, InvalidValueError

pytestmark = pytest.mark.skipif(not encoder_module.NATIVE_WALK, reason="compiled walk not built in this install")

json_leaf = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.integers(-10**400, 10**400)
             | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=20) | st.tuples(inner, inner) |
                          st.dictionaries(st.text(max_size=6), inner, max_size=6), max_leaves=60)
json_state = st.dictionaries(st.text(max_size=6), json_value, max_size=8)


def _features(encoder: StateEncoder, states) -> Features:
    feats = Features()
    for state in states:
        encoder.add_features(state, feats)
    return feats


def _as_tuple(feats: Features):
    return feats.idx, feats.wt, feats.nidx, feats.nval, feats.ends, feats.nends


def test_compiled_walk_is_built_where_a_compiler_exists():
    """pip install builds the extension; a silent fallback would lose the speed without anyone noticing."""
    if shutil.which(sysconfig.get_config_var("CC").split()[0] if sysconfig.get_config_var("CC") else "cc") is None:
        pytest.skip("no C compiler on this machine: the Python walk is expected")
    assert encoder_module.NATIVE_WALK
    assert StateEncoder(64)._native is not None
    assert StateEncoder(64, native=False)._native is None


@pytest.mark.slow  # ~23 s: 300 examples through both walks
@settings(max_examples=300, deadline=None)
@given(states=st.lists(json_state, min_size=1, max_size=6))
def test_same_features_and_vectors_as_python(states):
    native, python = StateEncoder(96), StateEncoder(96, native=False)
    fn, fp = _features(native, states), _features(python, states)
    assert _as_tuple(fn) == _as_tuple(fp)
    vn, vp = native.vectors(fn), python.vectors(fp)
    assert vn.shape == vp.shape == (len(states), 96)
    np.testing.assert_allclose(vn, vp, rtol=0, atol=2e-7)
    norms = np.linalg.norm(vn, axis=1)
    assert np.all((np.abs(norms - 1) < 1e-5) | (norms == 0))


def test_batch_features_equal_one_by_one():
    states = [{"a": i, "b": [f"w{i}", i / 3], "c": {"d": None, "e": i % 2 == 0}} for i in range(50)]
    enc = StateEncoder(128)
    batch = Features()
    enc.add_features_many(states, batch)
    assert _as_tuple(batch) == _as_tuple(_features(StateEncoder(128), states))


def test_long_lists_share_the_tail_slot_in_both():
    state = {"xs": list(range(40)), "nested": [[i, str(i)] for i in range(20)]}
    native, python = StateEncoder(64), StateEncoder(64, native=False)
    assert _as_tuple(_features(native, [state])) == _as_tuple(_features(python, [state]))
    assert [s.path for s in native._root.children["xs"].items] == [f"xs.{i}" for i in range(17)]


class Color(enum.IntEnum):
    RED = 1


class Text(str):
    pass


@pytest.mark.parametrize("state", [
    {"ordered": collections.OrderedDict(a=1.5, b="x")},
    {"enum": Color.RED, "flag": True, "none": None, "text": Text("hello world")},
    collections.OrderedDict(top=[1, 2, {"k": Text("v")}]),
    {"big": 10**400, "neg": -10**500, "max": 1.7976931348623157e308},
])
def test_subclasses_literals_and_huge_ints_match(state):
    native, python = StateEncoder(64), StateEncoder(64, native=False)
    fn, fp = _features(native, [state]), _features(python, [state])
    assert _as_tuple(fn) == _as_tuple(fp)
    np.testing.assert_array_equal(native.vectors(fn), python.vectors(fp))


def _circular():
    d: dict = {"a": 1}
    d["self"] = d
    return d


def _deep(n):
    d: dict = {}
    for _ in range(n):
        d = {"k": d}
    return d


@pytest.mark.parametrize("bad, error, fragment", [
    ({"x": math.nan}, InvalidValueError, "NaN"),
    ({"x": [1.0, -math.inf]}, InvalidValueError, "'x.1'"),
    ({"x": {1, 2}}, InvalidMemoryError, "set"),
    ({"x": {3: "a"}}, InvalidMemoryError, "keys must be strings"),
    ({"x": object()}, InvalidMemoryError, "JSON cannot hold"),
    (_circular(), InvalidValueError, "deeper than"),
    (_deep(100), InvalidValueError, "deeper than"),
])
def test_bad_input_same_error_and_nothing_appended(bad, error, fragment):
    good = {"ok": 1.0, "s": "fine"}
    messages = []
    for native in (None, False):
        enc = StateEncoder(64, native=native)
        feats = _features(enc, [good])
        before = tuple(list(x) for x in _as_tuple(feats))
        with pytest.raises(error) as info:
            enc.add_features(bad, feats)
        with pytest.raises(error):
            enc.add_features_many([good, bad], feats)
        assert tuple(list(x) for x in _as_tuple(feats)) == (before[0] + before[0], before[1] + before[1],
                                                            before[2] + before[2], before[3] + before[3],
                                                            before[4] + [before[4][0] * 2], before[5] + [before[5][0] * 2])
        assert fragment in str(info.value)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_system_stores_huge_ints_and_still_searches():
    """An int beyond the float range is valid JSON: stored exactly, and search keeps working."""
    with AgentMemorySystem() as system:
        mid = system.store_agent_state("a", {"big": 10**400, "name": "x"}, 0)
        system.store_agent_states("a", [{"big": -10**400, "name": "y"}])
        assert system.retrieve_state(mid)["content"]["big"] == 10**400
        hits = system.retrieve_similar_states("a", {"big": 10**401, "name": "x"}, k=2)
        assert hits[0]["memory_id"] == mid


@pytest.mark.slow  # 1.7-2.4 s: 300 examples
@settings(max_examples=300, deadline=None)
@given(content=json_value, precision=st.integers(1, 17))
def test_round_floats_same_as_python(content, precision):
    from memory.embeddings.codec import round_floats, round_floats_py
    assert round_floats is not round_floats_py  # the compiled one is in use
    fast, slow = round_floats(content, precision), round_floats_py(content, precision)
    assert repr(fast) == repr(slow)  # repr: -0.0 vs 0.0 and int vs float differences count


def test_round_floats_rounds_significant_digits_and_copies():
    from memory.embeddings.codec import round_floats
    content = {"a": 123.456789, "b": [0.000123456, (1.5e300, "x")], "c": {"d": -9.87654e-5, "n": 7}}
    out = round_floats(content, 3)
    assert out == {"a": 123.0, "b": [0.000123, [1.5e300, "x"]], "c": {"d": -9.88e-05, "n": 7}}
    assert content["a"] == 123.456789 and out["c"] is not content["c"]  # the input is not touched
    with pytest.raises(ValueError):
        round_floats(content, 0)


# -- hostile input: the same validation in both walks, and a copy that holds what it copies ----------------
@pytest.mark.parametrize("bad, fragment", [
    ({"x": "a\ud800"}, "'x'"),
    ({"k\udfff": 1}, "surrogate"),
    ({"x": [Text("ok"), Text("b\udc80")]}, "'x.1'"),
    ({"x": {Text("k\ud800"): 1}}, "under 'x'"),
    ({"x": [1, 10**4300]}, "'x.1'"),
    ({"x": Color.RED, "y": -10**4301}, "'y'"),
    ({"x": 1.0e308}, "'x'"),
    ({"x": [float.__new__(type("F", (float,), {}), 1.5e308)]}, "'x.0'"),
])
def test_unstorable_input_same_error_in_both_walks(bad, fragment):
    """Lone surrogates, ints JSON cannot write and floats the tiers would round to inf: one message from both."""
    messages = []
    for native in (None, False):
        enc = StateEncoder(64, native=native, max_float=1.0e308)
        feats = _features(enc, [{"ok": 1.0}])
        with pytest.raises(InvalidValueError) as info:
            enc.add_features(bad, feats)
        assert fragment in str(info.value) and len(feats) == 1 and feats.nends == [1]
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_largest_storable_values_same_features_in_both_walks():
    state = {"n": 10**4300 - 1, "m": -(10**4300 - 1), "b": 2**64, "e": Color.RED, "f": 9.99e307, "s": "Zoë 😀"}
    native, python = StateEncoder(64, max_float=1.0e308), StateEncoder(64, native=False, max_float=1.0e308)
    assert _as_tuple(_features(native, [state])) == _as_tuple(_features(python, [state]))


_EVIL = '''
def evil_content(mutate):
    """Content with a str-subclass key whose __hash__ (or __eq__) drops the only reference to the dict or
    list being copied, by replacing it in its parent: a copier that does not hold it reads freed memory."""
    holder = {}

    class EvilKey(str):
        def __hash__(self):
            if mutate in ("hash", "list"):
                holder["n"] = ["replaced"] if mutate == "list" else {"replaced": 1.0}
            return 7

        def __eq__(self, other):
            if mutate == "eq":
                holder["n"] = {"replaced": 1.0}
            return str.__eq__(self, other)

    if mutate == "list":
        holder["n"] = [{EvilKey("a"): 1.25, "b": 2.5}, [3.25, {"c": 4.5}], 5.125, {"d": [6.5]}]
    else:
        holder["n"] = {EvilKey("a"): 1.25, EvilKey("b"): 2.5, "c": [3.5, "x"], "d": {"e": 4.0}, "f": 5.0}
    return holder
'''
exec(_EVIL)


@pytest.mark.parametrize("mutate", ["hash", "eq", "list"])
def test_round_floats_holds_what_it_copies(mutate):
    """Unfixed, the compiled copy kept only the items before the mutation (hash), or crashed reading freed
    memory (eq, list); the Python reference keeps them all. In a child process, so a crash fails one test."""
    import subprocess
    import sys
    code = _EVIL + f"""
from memory.embeddings.codec import round_floats, round_floats_py
fast, slow = round_floats(evil_content({mutate!r}), 3), round_floats_py(evil_content({mutate!r}), 3)
assert repr(fast) == repr(slow), (fast, slow)
print(repr(fast))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert ("6.5" if mutate == "list" else "'f': 5.0") in out.stdout


def test_round_floats_mirrors_python_when_the_content_changes_while_copied():
    """A key's __hash__ that grows the dict being copied: both raise the dict iterator's RuntimeError;
    one that appends to the list being copied: both copy the new item too."""
    from memory.embeddings.codec import round_floats, round_floats_py

    def growing():
        inner: dict = {}
        armed: list = []

        class GrowKey(str):
            def __hash__(self):
                if armed:
                    inner.setdefault("added", 0.5)
                return str.__hash__(self)
        inner.update({GrowKey("a"): 1.25, "b": 2.5})
        armed.append(True)
        return {"n": inner}

    for copy in (round_floats, round_floats_py):
        with pytest.raises(RuntimeError, match="changed size during iteration"):
            copy(growing(), 3)

    def appending():
        items: list = []
        armed: list = []

        class AppendKey(str):
            def __hash__(self):
                if armed and len(items) < 4:
                    items.append(9.875)
                return str.__hash__(self)
        items.extend([{AppendKey("a"): 1.25}, 2.5])
        armed.append(True)
        return {"n": items}

    assert repr(round_floats(appending(), 3)) == repr(round_floats_py(appending(), 3)) \
        == "{'n': [{'a': 1.25}, 2.5, 9.88]}"


@pytest.mark.parametrize("tier", ["im", "ltm"])
def test_system_keeps_every_key_of_hostile_content(tier):
    """Stored straight into IM/LTM, the rounded copy of such content keeps every key."""
    with AgentMemorySystem() as system:
        mid = system.store_agent_state("a", evil_content("hash"), 0, tier=tier)  # noqa: F821 (defined by exec)
        content = system.retrieve_state(mid)["content"]
        assert sorted(content["n"]) in (["a", "b", "c", "d", "f"], ["replaced"])  # before or after the swap
        assert sorted(content["n"]) == sorted(round_floats_reference(evil_content("hash")))  # noqa: F821


def round_floats_reference(content):
    """What the Python reference copy of `content` holds under "n"."""
    from memory.embeddings.codec import round_floats_py
    return round_floats_py(content, 2)["n"]
