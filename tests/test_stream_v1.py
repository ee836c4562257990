"""Locks stream spec v1 with fixed-seed regression data (tests/data/stream_v1.json).

Words, uniforms and integer samples must match bit for bit; Gumbel noise must match the
stored float32/float64 values to within the transform's documented error (2.5 ulp), so a
more accurate polynomial may land without a new spec version, but a changed layout may not.
Regenerate only for a new spec version: ``python tests/test_stream_v1.py --write``.
"""
import json
import pathlib
import sys

import numpy as np

import fastgumbel as fg

PATH = pathlib.Path(__file__).parent / "data" / "stream_v1.json"
KEY = fg.Key(0x0123_4567_89AB_CDEF, 0x2024)
LOGITS = np.log(np.linspace(0.05, 1.0, 12)).reshape(1, 12).repeat(3, 0).astype(np.float32)


def produce():
    f = {}
    f["words"] = fg.random.philox4x32_10(
        np.array([[0, 0x2024, 0, 0], [1, 0x2024, 5, 0], [0, 0x2024, 0, 1]], np.uint32),
        np.array([0x89ABCDEF, 0x01234567], np.uint32)).tolist()
    f["uniform_f32"] = fg.uniform(size=(3, 9), rng=KEY).view(np.uint32).tolist()
    f["uniform_f64"] = [hex(v) for v in fg.uniform(size=(3, 9), dtype=np.float64, rng=KEY)
                        .view(np.uint64).ravel().tolist()]
    f["gumbel_f32"] = fg.gumbel(size=(3, 9), rng=KEY).ravel().tolist()
    f["gumbel_f64"] = [float(v).hex()
                       for v in fg.gumbel(size=(3, 9), dtype=np.float64, rng=KEY).ravel()]
    f["gumbel_f32_high"] = fg.gumbel(size=(3, 9), rng=KEY, precision="high").ravel().tolist()
    f["gumbel_max"] = fg.gumbel_max(LOGITS, rng=KEY).tolist()
    f["categorical"] = fg.categorical(LOGITS, 6, rng=KEY).tolist()
    f["topk"] = fg.gumbel_topk(LOGITS, 4, rng=KEY).tolist()
    f["multinomial"] = fg.multinomial(LOGITS, 50, rng=KEY).tolist()
    f["hard"] = fg.gumbel_softmax(LOGITS, 0.5, hard=True, rng=KEY).argmax(-1).tolist()
    return f


def write():
    data = {"spec": fg.random.STREAM_SPEC_VERSION, **produce()}
    PATH.write_text("{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in data.items())
                    + "\n}\n")


def test_stream_v1_is_unchanged():
    stored = json.loads(PATH.read_text())
    assert stored["spec"] == fg.random.STREAM_SPEC_VERSION == 1
    now = produce()
    for name in ("words", "uniform_f32", "uniform_f64", "gumbel_max", "categorical", "topk",
                 "multinomial", "hard"):
        assert now[name] == stored[name], name
    g32 = np.array(now["gumbel_f32"], np.float32)
    s32 = np.array(stored["gumbel_f32"], np.float32)
    assert np.all(np.abs(g32 - s32) <= 2.5 * np.spacing(np.maximum(np.abs(s32), 1)))
    g64 = np.array([float.fromhex(v) for v in now["gumbel_f64"]])
    s64 = np.array([float.fromhex(v) for v in stored["gumbel_f64"]])
    assert np.all(np.abs(g64 - s64) <= 2.5 * np.spacing(np.maximum(np.abs(s64), 1)))
    gh = np.array(now["gumbel_f32_high"], np.float32)
    sh = np.array(stored["gumbel_f32_high"], np.float32)
    assert np.all(np.abs(gh - sh) <= np.spacing(np.maximum(np.abs(sh), 1)))


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    write()
