"""Fuzzing the stroke loaders (safe npz, QuickDraw ndjson) with byte mutations of real files and hypothesis."""

import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.lib import format as npformat

HARDMARU = "hardmaru_sketch-rnn-datasets"
NDJSON_DIRS = ("quickdraw_exupery_raw", "quickdraw_exupery_raw_more",
               "quickdraw_lamnguyen_simplified")
OK_STATUSES = ("ok", "error")  # "error" means one of the package's own SketchStyleError types.
HYP = dict(deadline=None, database=None, derandomize=True,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ----------------------------------------------------------------------------- corpus


@pytest.fixture(scope="module")
def corpus(sketches_dir):
    """Real files as bytes: whole npz files, their decompressed .npy members, ndjson files."""
    npz = {p.name: p.read_bytes() for p in sorted((sketches_dir / HARDMARU).glob("*.npz"))}
    members = {}
    for name, blob in npz.items():
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            for m in zf.namelist():
                members[f"{name}:{m}"] = zf.read(m)
    ndjson = {}
    for d in NDJSON_DIRS:
        files = sorted((sketches_dir / d).glob("*.ndjson"))
        for p in files[:: max(1, len(files) // 12)]:  # About a dozen per folder.
            ndjson[f"{d}/{p.name}"] = p.read_bytes()
    assert npz and members and ndjson
    return {"npz": npz, "members": members, "ndjson": ndjson}


@pytest.fixture(scope="module")
def casedir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


# ----------------------------------------------------------------------------- mutations

INTERESTING = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80",
               b"\xff" * 8, b"\x7f" + b"\xff" * 7, b"'", b"(", b"]", b"\n", b"{", b"9" * 30,
               b"-", b"e999", b"NaN", b"\x80\x02", b"."]


def mutate(data, rng, n_ops, head_bias=0.3):
    """Applies n_ops random byte edits (flip, set, insert, delete, duplicate, truncate, ...).

    With probability head_bias an edit lands in the first 512 bytes (zip / .npy headers).
    """
    b = bytearray(data)
    for _ in range(n_ops):
        n = len(b)
        if rng.random() < head_bias:
            pos = int(rng.integers(0, min(n, 512) + 1))
        else:
            pos = int(rng.integers(0, n + 1))
        op = int(rng.integers(0, 8))
        if op == 0 and pos < n:
            b[pos] ^= 1 << int(rng.integers(0, 8))
        elif op == 1 and pos < n:
            b[pos] = int(rng.integers(0, 256))
        elif op == 2:
            val = INTERESTING[int(rng.integers(len(INTERESTING)))]
            b[pos:pos + len(val)] = val
        elif op == 3:
            size = int(rng.integers(1, 17))
            b[pos:pos] = rng.integers(0, 256, size=size, dtype=np.uint8).tobytes()
        elif op == 4:
            del b[pos:pos + int(rng.integers(1, 65))]
        elif op == 5 and n:
            start = int(rng.integers(0, n))
            b[pos:pos] = b[start:start + int(rng.integers(1, 257))]
        elif op == 6:
            del b[pos:]
        else:
            b[pos:pos + 4] = int(rng.integers(-2**31, 2**31)).to_bytes(4, "little", signed=True)
    return bytes(b)


def zip_members(members, compress=False):
    """name -> .npy bytes, as a zip file's bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def npy_bytes(payload, shape=(1,), descr="|O", header=None):
    """A .npy member: a v1.0 header (or the given header text) and the payload."""
    if header is None:
        buf = io.BytesIO()
        npformat.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                              "shape": shape})
        return buf.getvalue() + payload
    text = header.encode("latin1", "replace")[:60000]
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + payload


def check(outcome, what, failures):
    """Collects a case whose outcome is not valid sketches nor a package error."""
    if outcome["status"] not in OK_STATUSES:
        failures.append((what, outcome))


def summary(outcomes):
    statuses = [o["status"] for o in outcomes]
    errors = {}
    for o in outcomes:
        if o["status"] == "error":
            errors[o["type"]] = errors.get(o["type"], 0) + 1
    return {"cases": len(outcomes), "ok": statuses.count("ok"), "package_errors": errors,
            "other": len(outcomes) - statuses.count("ok") - statuses.count("error"),
            "max_s": round(max(o["seconds"] for o in outcomes), 3)}


# ----------------------------------------------------------------------------- npz: byte mutations


def npz_mutation_cases(corpus, casedir, sandbox, n, seed, big_members=False):
    """n random cases: a third mutate whole real files, the rest one decompressed member."""
    rng = np.random.default_rng(seed)
    files = sorted(corpus["npz"])
    members = sorted(k for k in corpus["members"]
                     if big_members or not k.endswith("train.npy"))
    outcomes, failures = [], []
    for i in range(n):
        n_ops = int(rng.integers(1, 9))
        if i % 3 == 0:
            name = files[int(rng.integers(len(files)))]
            blob = mutate(corpus["npz"][name], rng, n_ops)
            splits = None
        else:
            key = members[int(rng.integers(len(members)))]
            name, member = key.split(":")
            payload = mutate(corpus["members"][key], rng, n_ops, head_bias=0.5)
            blob = zip_members({member: payload}, compress=bool(rng.integers(2)))
            splits = [member[:-len(".npy")]]
        path = casedir / f"npz_{seed}_{i}.npz"
        path.write_bytes(blob)
        out = sandbox.run(kind="npz", path=str(path), splits=splits)
        path.unlink()
        outcomes.append(out)
        check(out, f"seed {seed} case {i} ({name}, {n_ops} edits)", failures)
    return outcomes, failures


def test_npz_byte_mutations(corpus, casedir, sandbox, record):
    outcomes, failures = npz_mutation_cases(corpus, casedir, sandbox, 100, seed=1)
    record("fuzz_npz_bytes", **summary(outcomes))
    assert not failures, failures[:5]
    assert sum(o["status"] == "ok" for o in outcomes) > 0  # Some mutations keep valid sketches.


@pytest.mark.slow
def test_npz_byte_mutations_many(corpus, casedir, sandbox, record):
    outcomes, failures = npz_mutation_cases(corpus, casedir, sandbox, 1200, seed=2,
                                            big_members=True)
    record("fuzz_npz_bytes_slow", **summary(outcomes))
    assert not failures, failures[:5]


# ----------------------------------------------------------------------------- npz: hypothesis

EDIT = st.tuples(st.integers(0, 7), st.floats(0, 1), st.binary(min_size=1, max_size=12))


def apply_edits(data, edits):
    """Hypothesis-chosen edits: (op, relative position, bytes)."""
    b = bytearray(data)
    for op, rel, val in edits:
        pos = int(rel * len(b)) if rel < 0.9 else int((rel - 0.9) * 10 * min(len(b), 256))
        if op in (0, 1, 2):
            b[pos:pos + len(val)] = val
        elif op == 3:
            b[pos:pos] = val
        elif op == 4:
            del b[pos:pos + len(val) * 8]
        elif op == 5:
            del b[pos:]
        elif op == 6 and pos < len(b):
            b[pos] ^= val[0] or 1
        else:
            b[pos:pos] = b[pos:pos + len(val) * 16]
    return bytes(b)


def _small_members(corpus):
    return sorted(k for k in corpus["members"] if not k.endswith("train.npy"))


def npz_hypothesis_member(corpus, casedir, sandbox, max_examples):
    members = _small_members(corpus)
    outcomes, failures = [], []

    @settings(max_examples=max_examples, **HYP)
    @given(st.integers(0, len(members) - 1), st.lists(EDIT, min_size=1, max_size=6))
    def run(which, edits):
        key = members[which]
        member = key.split(":")[1]
        path = casedir / "hyp_member.npz"
        path.write_bytes(zip_members({member: apply_edits(corpus["members"][key], edits)}))
        out = sandbox.run(kind="npz", path=str(path), splits=[member[:-4]])
        outcomes.append(out)
        check(out, f"{key} edits {edits!r}"[:300], failures)

    run()
    return outcomes, failures


DESCRS = ["|O", "<i2", "<f4", ">i8", "|b1", "<U3", "|V4", "<c8", "x", "", "|O8", "<M8[s]",
          "[('a', '<i2')]", "[('a', '|O')]", "('<i2', (2,))", "{'names': ['a'], 'formats': ['O']}"]


@st.composite
def npy_headers(draw):
    """Header dict texts: good, odd and hostile (huge shapes, wrong types, bad syntax)."""
    descr = draw(st.one_of(st.sampled_from(DESCRS), st.text(max_size=12)))
    shape = draw(st.one_of(
        st.lists(st.one_of(st.integers(0, 8), st.integers(0, 2**64), st.integers(-3, -1)),
                 max_size=4).map(tuple),
        st.just("(3,"), st.just("[1]"), st.just("None")))
    fortran = draw(st.sampled_from(["False", "True", "1", "None"]))
    quoted = descr if descr.startswith(("[", "(", "{")) else repr(descr)
    text = f"{{'descr': {quoted}, 'fortran_order': {fortran}, 'shape': {shape}, }}"
    if draw(st.booleans()):
        text = draw(st.text(max_size=80)) if draw(st.booleans()) else text + draw(
            st.text(max_size=10))
    return text


def npz_hypothesis_header(corpus, casedir, sandbox, max_examples):
    payloads = [corpus["members"][k][128:] for k in _small_members(corpus)[:2]]
    outcomes, failures = [], []

    @settings(max_examples=max_examples, **HYP)
    @given(npy_headers(), st.one_of(st.sampled_from(payloads), st.binary(max_size=200)))
    def run(header, payload):
        path = casedir / "hyp_header.npz"
        path.write_bytes(zip_members({"train.npy": npy_bytes(payload, header=header)}))
        out = sandbox.run(kind="npz", path=str(path), splits=["train"])
        outcomes.append(out)
        check(out, f"header {header!r}"[:300], failures)

    run()
    return outcomes, failures


# ndarray.__setstate__ tuples; numpy itself crashes on some of these (see docs/reliability.md).
_RECONSTRUCT = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R")
STATE_DTYPES = [np.dtype(x) for x in ("O", "<i2", "<f4", ">i8", "u1", "?", "<U2", "V4")] + [
    np.dtype([("a", "<i2")]), np.dtype([("a", "O")]), np.dtype(("<i2", (2,)))]
state_data = st.one_of(
    st.binary(max_size=48),
    st.lists(st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=3),
                       st.just("__inner_array__")), max_size=6))


@st.composite
def ndarray_states(draw):
    shape = tuple(draw(st.lists(st.one_of(st.integers(0, 6), st.integers(0, 2**40)),
                                max_size=3)))
    dtype = draw(st.sampled_from(STATE_DTYPES))
    state = (1, shape, dtype, draw(st.booleans()), draw(state_data))
    if draw(st.booleans()):
        state = state[1:]  # The four-field form.
    return state


def pickle_state(state):
    """_reconstruct + BUILD(state); "__inner_array__" items become real nested sketch arrays."""
    body = pickle.dumps(state, protocol=3)[2:-1]
    inner = pickle.dumps(np.array([[1, 2, 0], [3, 4, 1]], dtype=np.int16), protocol=3)[2:-1]
    body = body.replace(pickle.dumps("__inner_array__", protocol=3)[2:-1], inner)
    return b"\x80\x03" + _RECONSTRUCT + body + b"b."


def npz_hypothesis_pickle_states(casedir, sandbox, max_examples):
    outcomes, failures = [], []

    @settings(max_examples=max_examples, **HYP)
    @given(ndarray_states(), st.integers(0, 3))
    def run(state, n):
        path = casedir / "hyp_state.npz"
        path.write_bytes(zip_members({"train.npy": npy_bytes(pickle_state(state), shape=(n,))}))
        out = sandbox.run(kind="npz", path=str(path), splits=["train"])
        outcomes.append(out)
        check(out, f"state {state!r}"[:300], failures)

    run()
    return outcomes, failures


# Pickle fragments: numpy's allowed globals, stack and memo opcodes, odd literals.
FRAGMENTS = [
    b"cnumpy.core.multiarray\n_reconstruct\n", b"cnumpy._core.multiarray\n_reconstruct\n",
    b"cnumpy\nndarray\n", b"cnumpy\ndtype\n", b"cnumpy.core.multiarray\nscalar\n",
    b"(", b")", b"]", b"}", b"t", b"\x85", b"\x86", b"\x87", b"R", b"b", b"a", b"e", b"s", b"u",
    b"0", b"2", b"N", b"\x88", b"\x89", b"K\x00", b"K\x01", b"K\x03", b"J\xff\xff\xff\x7f",
    b"J\xff\xff\xff\xff", b"\x8a\x08" + (2**62).to_bytes(8, "little"), b"U\x01b", b"U\x01O",
    b"U\x02O8", b"U\x02i2", b"U\x03<i2", b"U\x01|", b"U\x01<", b"U\x00", b"q\x00", b"q\x01",
    b"h\x00", b"h\x01", b"C\x06" + bytes(6), b"C\x02ab", b"\x94", b"X\x01\x00\x00\x00a",
    b"cos\nsystem\n", b"cbuiltins\neval\n", b"\x82\x01", b"P0\n"]


def npz_hypothesis_pickle_opcodes(casedir, sandbox, max_examples):
    outcomes, failures = [], []

    @settings(max_examples=max_examples, **HYP)
    @given(st.lists(st.sampled_from(FRAGMENTS), max_size=40), st.binary(max_size=16))
    def run(frags, tail):
        payload = b"\x80\x02" + b"".join(frags) + tail + b"."
        path = casedir / "hyp_pickle.npz"
        path.write_bytes(zip_members({"train.npy": npy_bytes(payload)}))
        out = sandbox.run(kind="npz", path=str(path), splits=["train"])
        outcomes.append(out)
        check(out, f"pickle {payload!r}"[:300], failures)

    run()
    return outcomes, failures


def run_npz_hypothesis(corpus, casedir, sandbox, per_test):
    outcomes, failures = [], []
    for fn, args in ((npz_hypothesis_member, (corpus,)), (npz_hypothesis_header, (corpus,)),
                     (npz_hypothesis_pickle_states, ()), (npz_hypothesis_pickle_opcodes, ())):
        o, f = fn(*args, casedir, sandbox, per_test)
        outcomes += o
        failures += f
    return outcomes, failures


def test_npz_hypothesis(corpus, casedir, sandbox, record):
    outcomes, failures = run_npz_hypothesis(corpus, casedir, sandbox, 30)
    record("fuzz_npz_hypothesis", **summary(outcomes))
    assert not failures, failures[:5]


@pytest.mark.slow
def test_npz_hypothesis_many(corpus, casedir, sandbox, record):
    outcomes, failures = run_npz_hypothesis(corpus, casedir, sandbox, 300)
    record("fuzz_npz_hypothesis_slow", **summary(outcomes))
    assert not failures, failures[:5]


# ----------------------------------------------------------------------------- ndjson: mutations

ODD_VALUES = [10**400, -10**400, 1e308, -1e308, 1e6, -1e6, 2**63, 0.5, -1, None, True, "7", [],
              {}, [[1, 2]], float("nan"), float("inf")]


def mutate_json(value, rng, depth=0):
    """Randomly replaces parts of a parsed JSON value (numbers, lists, keys)."""
    r = rng.random()
    if isinstance(value, list):
        if r < 0.15 and value:
            return value[: int(rng.integers(0, len(value)))]  # Cut a list short.
        if r < 0.25:
            return value + value[: int(rng.integers(0, 3))]  # Repeat items.
        return [mutate_json(v, rng, depth + 1) if rng.random() < 0.3 else v for v in value]
    if isinstance(value, dict):
        out = {k: (mutate_json(v, rng, depth + 1) if rng.random() < 0.5 else v)
               for k, v in value.items() if rng.random() > 0.05}
        if rng.random() < 0.1:
            out["drawing"] = ODD_VALUES[int(rng.integers(len(ODD_VALUES)))]
        return out
    if r < 0.5:
        return ODD_VALUES[int(rng.integers(len(ODD_VALUES)))]
    return value


def ndjson_mutation_cases(corpus, casedir, sandbox, n, seed):
    """n random cases on real files: byte edits, or JSON-aware edits of some lines."""
    rng = np.random.default_rng(seed)
    names = sorted(corpus["ndjson"])
    outcomes, failures = [], []
    for i in range(n):
        name = names[int(rng.integers(len(names)))]
        blob = corpus["ndjson"][name]
        if i % 2 == 0:
            blob = mutate(blob, rng, int(rng.integers(1, 13)), head_bias=0.1)
        else:
            lines = blob.split(b"\n")
            for _ in range(int(rng.integers(1, 6))):
                j = int(rng.integers(len(lines)))
                try:
                    rec = json.loads(lines[j])
                except ValueError:
                    continue
                lines[j] = json.dumps(mutate_json(rec, rng)).encode()
            blob = b"\n".join(lines)
        path = casedir / f"nd_{seed}_{i}.ndjson"
        path.write_bytes(blob)
        mode = "raise" if rng.random() < 0.25 else "skip"
        simplify = bool(rng.random() < 0.8)
        out = sandbox.run(kind="ndjson", path=str(path), on_error=mode, simplify=simplify)
        path.unlink()
        outcomes.append(out)
        check(out, f"seed {seed} case {i} ({name}, on_error={mode}, simplify={simplify})",
              failures)
    return outcomes, failures


def test_ndjson_mutations(corpus, casedir, sandbox, record):
    outcomes, failures = ndjson_mutation_cases(corpus, casedir, sandbox, 100, seed=3)
    record("fuzz_ndjson_bytes", **summary(outcomes),
           skipped_lines=sum(o.get("skipped", 0) for o in outcomes))
    assert not failures, failures[:5]
    assert sum(o["status"] == "ok" for o in outcomes) > 0


@pytest.mark.slow
def test_ndjson_mutations_many(corpus, casedir, sandbox, record):
    outcomes, failures = ndjson_mutation_cases(corpus, casedir, sandbox, 1200, seed=4)
    record("fuzz_ndjson_bytes_slow", **summary(outcomes),
           skipped_lines=sum(o.get("skipped", 0) for o in outcomes))
    assert not failures, failures[:5]


# ----------------------------------------------------------------------------- ndjson: hypothesis

numbers = st.one_of(st.integers(0, 255), st.integers(-2**70, 2**70), st.floats(),
                    st.sampled_from([10**400, 1e308, -1e308, 1e6, -1e6, 0.5]))
json_leaf = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=4))
json_any = st.recursive(json_leaf, lambda c: st.one_of(st.lists(c, max_size=4),
                                                       st.dictionaries(st.text(max_size=4), c,
                                                                       max_size=3)),
                        max_leaves=12)


@st.composite
def strokes(draw):
    k = draw(st.integers(0, 12))
    xs = draw(st.lists(numbers, min_size=k, max_size=k))
    ys = draw(st.lists(numbers, min_size=k, max_size=k))
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return [xs, ys, list(range(k))]
    if kind == 1:
        return [xs, ys[: max(k - 1, 0)]]  # Lengths differ.
    if kind == 2:
        return draw(json_any)
    return [xs, ys]


records = st.one_of(
    st.fixed_dictionaries({"drawing": st.lists(strokes(), max_size=5)},
                          optional={"word": json_any, "key_id": json_any,
                                    "recognized": json_any}),
    json_any)


def ndjson_hypothesis(casedir, sandbox, max_examples):
    outcomes, failures = [], []

    @settings(max_examples=max_examples, **HYP)
    @given(st.lists(records, max_size=6), st.booleans(), st.booleans(), st.binary(max_size=8))
    def run(recs, raise_mode, simplify, junk):
        text = "\n".join(json.dumps(r) for r in recs).encode() + b"\n" + junk
        path = casedir / "hyp.ndjson"
        path.write_bytes(text)
        out = sandbox.run(kind="ndjson", path=str(path), on_error="raise" if raise_mode else "skip",
                          simplify=simplify)
        outcomes.append(out)
        check(out, f"ndjson {text!r}"[:300], failures)

    run()
    return outcomes, failures


def test_ndjson_hypothesis(casedir, sandbox, record):
    outcomes, failures = ndjson_hypothesis(casedir, sandbox, 100)
    record("fuzz_ndjson_hypothesis", **summary(outcomes))
    assert not failures, failures[:5]


@pytest.mark.slow
def test_ndjson_hypothesis_many(casedir, sandbox, record):
    outcomes, failures = ndjson_hypothesis(casedir, sandbox, 1000)
    record("fuzz_ndjson_hypothesis_slow", **summary(outcomes))
    assert not failures, failures[:5]


# ----------------------------------------------------------------------------- the sandbox itself


def test_sandbox_reports_crashes_hangs_and_foreign_errors(casedir):
    """The harness must be able to see each kind of failure it is looking for."""
    from tests.support.sandbox import Sandbox

    box = Sandbox(time_bound=3.0)
    try:
        bomb = casedir / "crash.npz"
        # Before the fix this pickle made numpy read past a list: a segmentation fault.
        state = (1, (100,), np.dtype("O"), False, [])
        bomb.write_bytes(zip_members({"train.npy": npy_bytes(pickle_state(state),
                                                             shape=(100,))}))
        out = box.run(kind="npz", path=str(bomb), splits=["train"])
        assert out["status"] == "error" and "needs 100 items" in out["msg"], out
        # A FIFO never delivers data: the read hangs and the time bound catches it.
        fifo = casedir / "hang.ndjson"
        os.mkfifo(fifo)
        assert box.run(kind="ndjson", path=str(fifo))["status"] == "hang"
        # A ValueError is not one of the package's types: flagged as foreign.
        out = box.run(kind="ndjson", path=str(fifo), on_error="bogus")
        assert out["status"] == "foreign" and out["type"] == "ValueError"
    finally:
        box.close()


# ----------------------------------------------------------------------------- findings stay fixed

def one_member(payload, header):
    return zip_members({"train.npy": npy_bytes(payload, header=header)})


ZIGZAG = json.dumps({"drawing": [[[(0, 1000, 0)[i % 3] for i in range(9600)],
                                  [(0, 1000, 1000)[i % 3] for i in range(9600)]]]})


@pytest.mark.parametrize("name, kind, make, expect", [
    # Crashed the process (SIGSEGV) through numpy's unchecked ndarray.__setstate__.
    ("object state longer than its list", "npz", lambda: zip_members({"train.npy": npy_bytes(
        pickle_state((1, (100,), np.dtype("O"), False, [])), shape=(100,))}), "needs 100 items"),
    ("structured object dtype state", "npz", lambda: zip_members({"train.npy": npy_bytes(
        pickle_state((1, (2,), np.dtype([("a", "O")]), False, ["__inner_array__"])),
        shape=(2,))}), "structured dtype"),
    # Escaped as ValueError / OverflowError instead of DataError.
    ("subarray dtype in the header", "npz", lambda: one_member(
        b"\0" * 4, "{'descr': ('<i2', (2,)), 'fortran_order': True, 'shape': (), }"),
     "does not fit shape"),
    ("zero-size shape beyond the index range", "npz", lambda: one_member(
        b"", f"{{'descr': '<i2', 'fortran_order': False, 'shape': ({2**50}, {2**50}, 0), }}"),
     "does not fit shape"),
    ("shape whose byte count wraps int64", "npz", lambda: one_member(
        b"\0" * 8, f"{{'descr': '<i8', 'fortran_order': False, 'shape': ({2**61 + 1},), }}"),
     "asks for"),
    ("integer beyond float64", "ndjson", lambda: ('{"drawing": [[[1, 1%s], [2, 3]]]}\n'
                                                  % ("0" * 400)).encode(), "out of range"),
    ("coordinates beyond int64 (simplify=False)", "ndjson",
     lambda: b'{"drawing": [[[0, 1e19, -1e19], [0, 1, 2]]]}\n', "int64"),
    ("a path too long to resample", "ndjson", lambda: ZIGZAG.encode() + b"\n", "px long"),
])
def test_fuzzer_findings_stay_fixed(casedir, sandbox, name, kind, make, expect):
    path = casedir / f"finding.{kind}"
    path.write_bytes(make())
    if kind == "npz":
        out = sandbox.run(kind="npz", path=str(path), splits=["train"])
        assert out["status"] == "error" and expect in out["msg"], (name, out)
    else:
        out = sandbox.run(kind="ndjson", path=str(path), on_error="raise",
                          simplify="simplify=False" not in name)
        assert out["status"] == "error" and expect in out["msg"], (name, out)
