"""Every public call's output bits, and the errors of bad calls, are unchanged
(tests/fingerprint.py holds the calls; tests/data/fingerprint.json the stored digests)."""
import json

import fingerprint


def test_fingerprint_is_unchanged():
    stored = json.loads(fingerprint.PATH.read_text())
    now = fingerprint.produce()
    changed = sorted(k for k in stored.keys() | now.keys() if stored.get(k) != now.get(k))
    assert not changed, f"{len(changed)} call(s) changed: {changed[:10]}"
