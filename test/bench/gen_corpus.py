#!/usr/bin/env python3
"""Deterministic agent-event corpus for durable_sink benchmarks and tests.

Writes PostgreSQL COPY text rows

    seq<TAB>thread_id<TAB>run_id<TAB>event_json

(backslash, TAB, LF and CR escaped as COPY text requires) of simulated agent
conversations in the wire format of docs/CONTRACT.md section 2, and can tell how many
canonical rows `durable_sink.normalize_many` should return for them.

    gen_corpus.py --events 200000 --seed 1 --stats > corpus.tsv
    gen_corpus.py --expected-from corpus.tsv        # re-derive counts of a file

Python 3 standard library only. The same arguments give byte-identical output
(independent of PYTHONHASHSEED and locale; output is UTF-8).

Expected rows: every emitted event goes through an executable model of docs/CONTRACT.md
sections 5-8 (run state keyed by the event's run_id, compaction observation
per thread, both persisting across runs) in stream order, so the counts are
exact for every --events cut. Malformed events (--malformed-rate) yield no
rows and change no state; the counts stay exact for the valid events, i.e.
what a consumer that skips invalid events (the sink layer) would get.
"""

import argparse
import hashlib
import json
import os
import random
import re
import sys
import time
from decimal import Decimal

BASE_MS = 1_735_689_600_000          # 2025-01-01T00:00:00Z: start of the synthetic clock
U64_MAX = 2 ** 64 - 1

_enc = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"),
                        check_circular=False).encode
_jstr = json.encoder.encode_basestring  # str -> JSON string literal, UTF-8 kept


def copy_escape(s):
    """COPY text format escaping of one field (JSON text never holds raw CR/LF/TAB,
    but the thread/run id columns go through here too)."""
    if "\\" in s:
        s = s.replace("\\", "\\\\")
    if "\n" in s or "\t" in s or "\r" in s:
        s = s.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return s


_UNESC = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_UNESC_RE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)")


def _unesc(m):
    g = m.group(1)
    if g in _UNESC:
        return _UNESC[g]
    if g[0] == "x" and len(g) > 1:
        return chr(int(g[1:], 16))
    if g[0] in "01234567":
        return chr(int(g, 8))
    return g


def copy_unescape(s):
    """Inverse of COPY text escaping (also octal/hex escapes; bytes >= 0x80 via
    escapes are not supported, real corpora carry UTF-8 as is)."""
    return _UNESC_RE.sub(_unesc, s) if "\\" in s else s


# =====================================================================
# Contract model (docs/CONTRACT.md): section 2 (validity), 5 (mapping), 6 (run state),
# 7 (permission companion), 8 (context compaction).
# =====================================================================

STATIC_KIND = {
    "text_delta": "TextDeltaObserved", "reasoning_delta": "ReasoningDeltaObserved",
    "reasoning_encrypted_value": "ReasoningEncryptedValueObserved",
    "tool_call_start": "ToolCallStarted", "tool_call_delta": "ToolCallDeltaObserved",
    "tool_call_ready": "ToolCallReady", "tool_call_stream_delta": "ToolCallStreamDeltaObserved",
    "tool_call_resumed": "ToolCallResumed", "tool_call_cancel": "ToolCallCancelled",
    "stream_reset": "StreamReset", "step_start": "StepStarted", "step_end": "StepEnded",
    "inference_complete": "InferenceComplete", "messages_snapshot": "MessagesSnapshotObserved",
    "activity_snapshot": "ActivitySnapshotObserved", "activity_delta": "ActivityDeltaObserved",
    "state_delta": "StateDeltaObserved", "error": "ErrorRecorded",
}
FINISH_KIND = {"natural_end": "RunFinished", "behavior_requested": "RunFinished",
               "plugin_requested": "RunFinished", "suspended": "RunSuspended",
               "cancelled": "RunCancelled", "error": "RunErrored",
               "stopped": "RunTerminated", "blocked": "RunTerminated"}

OBS, COM, DOM, CTL = ("observed_runtime_event", "committed_runtime_event", "domain_event",
                      "control_event")
FIDELITY = {k: OBS for k in (
    "TextDeltaObserved", "ReasoningDeltaObserved", "ReasoningEncryptedValueObserved",
    "ToolCallStarted", "ToolCallDeltaObserved", "ToolCallStreamDeltaObserved", "StepStarted",
    "StepEnded", "MessagesSnapshotObserved", "ActivitySnapshotObserved",
    "ActivityDeltaObserved", "StateSnapshotObserved", "StateDeltaObserved")}
FIDELITY.update({k: COM for k in ("ToolCallReady", "ToolCallDone", "StreamReset",
                                  "InferenceComplete", "ErrorRecorded")})
FIDELITY["ToolCallResumed"] = CTL
FIDELITY.update({k: DOM for k in (
    "RunStarted", "RunResumed", "RunFinished", "RunSuspended", "RunCancelled", "RunErrored",
    "RunTerminated", "ToolCallSuspended", "ToolCallRejected", "ToolCallTimedOut",
    "ToolCallCancelled", "ToolPermissionRequested", "ContextCompactionStarted",
    "ContextCompactionCompleted", "ContextCompactionFailed", "ContextCompactionSkipped",
    "ContextCompactionCancelled")})

STREAM_DELTAS = ("text_delta", "reasoning_delta", "tool_call_delta", "tool_call_stream_delta")

# Unicode White_Space (contract §2: blank / trimmed)
WHITESPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
              + "\u2028\u2029\u202f\u205f\u3000")


def is_uint(v):
    """contract §2 integer: no fractional digits (as jsonb stores it), 0 .. 2^64-1."""
    t = type(v)
    if t is int:
        return 0 <= v <= U64_MAX
    if t is Decimal:        # --expected-from parses non-integer literals as Decimal
        return v.is_finite() and v.as_tuple().exponent >= 0 and 0 <= v <= U64_MAX
    return False


# ---- section 2: validity ---------------------------------------------------

S, SN, O, ON, A, ANY, U, BN = "s", "s?", "o", "o?", "a", "any", "u", "b?"
TERM, RESULT, OUTCOME = "termination", "tool_result", "outcome"
SCHEMA = {
    "run_start": {"thread_id": (S, 1), "run_id": (S, 1), "parent_run_id": (SN, 0),
                  "identity": (ON, 0)},
    "run_finish": {"thread_id": (S, 1), "run_id": (S, 1), "identity": (ON, 0),
                   "result": (ANY, 0), "termination": (TERM, 1)},
    "text_delta": {"delta": (S, 1)},
    "reasoning_delta": {"delta": (S, 1)},
    "reasoning_encrypted_value": {"encrypted_value": (S, 1)},
    "tool_call_start": {"id": (S, 1), "name": (S, 1)},
    "tool_call_delta": {"id": (S, 1), "args_delta": (S, 1)},
    "tool_call_ready": {"id": (S, 1), "name": (S, 1), "arguments": (ANY, 1)},
    "tool_call_done": {"id": (S, 1), "message_id": (S, 1), "result": (RESULT, 1),
                       "outcome": (OUTCOME, 1)},
    "tool_call_stream_delta": {"id": (S, 1), "name": (S, 1), "delta": (S, 1)},
    "tool_call_resumed": {"target_id": (S, 1), "result": (ANY, 1)},
    "tool_call_cancel": {"id": (S, 1), "name": (S, 1), "reason": (S, 1)},
    "stream_reset": {"reason": (S, 1)},
    "step_start": {"message_id": (S, 0)},
    "step_end": {},
    "inference_complete": {"model": (S, 1), "usage": (ON, 0), "duration_ms": (U, 1)},
    "messages_snapshot": {"messages": (A, 1)},
    "activity_snapshot": {"message_id": (S, 1), "activity_type": (S, 1), "content": (ANY, 1),
                          "replace": (BN, 0)},
    "activity_delta": {"message_id": (S, 1), "activity_type": (S, 1), "patch": (A, 1)},
    "state_snapshot": {"snapshot": (ANY, 1)},
    "state_delta": {"delta": (A, 1)},
    "error": {"message": (S, 1), "code": (SN, 0)},
}
NO_VALUE_TERMS = ("natural_end", "behavior_requested", "plugin_requested", "cancelled",
                  "suspended")
RESUME_MODES = ("replay_tool_call", "use_decision_as_tool_result", "pass_decision_to_tool")


def _members_ok(obj, spec):
    """Members of obj against {name: (type, required)}; optional null == absent."""
    for name, (typ, req) in spec.items():
        if name not in obj or (obj[name] is None and not req):
            if req:
                return False
            continue
        v = obj[name]
        t = type(v)
        if typ is S or typ is SN:
            ok = t is str
        elif typ is O or typ is ON:
            ok = t is dict
        elif typ is A:
            ok = t is list
        elif typ is ANY:
            ok = True
        elif typ is U:
            ok = is_uint(v)
        elif typ is BN:
            ok = t is bool
        elif typ is TERM:
            ok = _termination_ok(v)
        elif typ is RESULT:
            ok = _tool_result_ok(v)
        elif typ is OUTCOME:
            ok = v in ("succeeded", "failed", "suspended")
        else:
            raise AssertionError(typ)
        if not ok:
            return False
    return True


def _termination_ok(v):
    if type(v) is not dict or type(v.get("type")) is not str:
        return False
    t = v["type"]
    val = v.get("value")
    if t in NO_VALUE_TERMS:
        return val is None
    if t == "stopped":
        return type(val) is dict and _members_ok(val, {"code": (S, 1), "detail": (SN, 0)})
    if t in ("blocked", "error"):
        return type(val) is str
    return False


_TICKET_INNER = {"id": (S, 0), "action": (S, 0), "message": (S, 0), "parameters": (ANY, 0),
                 "response_schema": (ANY, 0)}
_TICKET_PENDING = {"id": (S, 1), "name": (S, 1), "arguments": (ANY, 1)}
_RESULT = {"tool_name": (S, 1), "status": (S, 1), "data": (ANY, 1), "message": (SN, 0),
           "suspension": (ON, 0), "metadata": (ON, 0)}


def _tool_result_ok(v):
    if type(v) is not dict or not _members_ok(v, _RESULT):
        return False
    if v["status"] not in ("success", "pending", "error"):
        return False
    t = v.get("suspension")
    if t is None:
        return True
    for name, spec in (("suspension", _TICKET_INNER), ("pending", _TICKET_PENDING)):
        x = t.get(name)
        if x is not None and (type(x) is not dict or not _members_ok(x, spec)):
            return False
    rm = t.get("resume_mode")
    return rm is None or rm in RESUME_MODES


def is_valid(ev):
    """contract §2: is this (parsed) agent event valid?"""
    if type(ev) is not dict:
        return False
    spec = SCHEMA.get(ev.get("event_type")) if type(ev.get("event_type")) is str else None
    return spec is not None and _members_ok(ev, spec)


# ---- sections 5-8: canonical kinds of one valid event ----------------------

def trim(s):
    return s.strip(WHITESPACE)


def _text(x, k):
    v = x.get(k)
    if type(v) is str:
        v = trim(v)
        if v:
            return v
    return None


def _count(x, k):
    v = x.get(k)
    return int(v) if is_uint(v) else None


def tool_done_kinds(ev):
    """contract §5 (tool_call_done) and 7 (ToolPermissionRequested companion)."""
    res, outcome = ev["result"], ev["outcome"]
    if outcome == "suspended":
        t = res.get("suspension")
        if res["status"] == "pending" and t is not None:
            rm = t.get("resume_mode")
            inner = t.get("suspension")
            sid = inner.get("id") if inner is not None else None
            if (rm is None or rm == "replay_tool_call") and sid is not None and trim(sid):
                return ("ToolCallSuspended", "ToolPermissionRequested")
        return ("ToolCallSuspended",)
    md = res.get("metadata")
    if outcome == "failed" and md is not None:
        if "rejected" in md:
            return ("ToolCallRejected",)
        if md.get("timed_out") is True:
            return ("ToolCallTimedOut",)
    return ("ToolCallDone",)


class Observation:
    """contract §8 per-thread observation."""
    __slots__ = ("in_flight", "completed", "failed", "skipped", "cancelled", "total")

    def __init__(self):
        self.in_flight = None
        self.completed, self.failed, self.skipped, self.cancelled = set(), set(), set(), set()
        self.total = 0


def _in_flight(s):
    fl = s.get("in_flight")
    if type(fl) is dict:
        task = _text(fl, "task_id")
        if task is not None:
            return (task, _text(fl, "boundary_message_id"))
    return None


def _matches(e, p):
    return (type(e) is dict and _text(e, "task_id") == p[0]
            and (p[1] is None or _text(e, "boundary_message_id") == p[1]))


def _opt(v):
    return "None" if v is None else "Some(%d)" % v


def compaction_kinds(obs, snapshot):
    """contract §8 facts a state_snapshot yields; updates obs."""
    if type(snapshot) is not dict:
        return ()
    ext = snapshot.get("extensions")
    if type(ext) is not dict or ext.get("__context_compaction") is None:
        return ()
    s = ext["__context_compaction"]
    if type(s) is not dict:      # present but not an object: it has no members
        s = {}
    out = []
    # 1. reset after clear
    total = _count(s, "total_compactions")
    if total is None:
        total = obs.total
    if total < obs.total:
        obs.in_flight = None
        obs.completed, obs.failed, obs.skipped, obs.cancelled = set(), set(), set(), set()
    obs.total = total
    p = obs.in_flight
    bs, fs, ks = (v if type(v) is list else () for v in
                  (s.get("boundaries"), s.get("failures"), s.get("skipped")))
    # 2. completed
    for i, b in enumerate(bs):
        if type(b) is not dict:
            continue
        summ = b.get("summary")
        h = hashlib.sha256((summ if type(summ) is str else "").encode()).hexdigest()
        fp = "completed/%s/%s/%d/%d/%d/%d/%s" % (
            _text(b, "task_id") or "", _text(b, "boundary_message_id") or "", i,
            _count(b, "timestamp_ms") or 0, _count(b, "pre_tokens") or 0,
            _count(b, "post_tokens") or 0, h)
        if fp not in obs.completed:
            obs.completed.add(fp)
            out.append("ContextCompactionCompleted")
    # 3. failed
    for i, f in enumerate(fs):
        if type(f) is not dict:
            continue
        fp = "failed/%d/%d/%s/%s/%s" % (
            i, _count(f, "timestamp_ms") or 0, _text(f, "task_id") or "",
            _text(f, "boundary_message_id") or "", _text(f, "error") or "unknown error")
        if fp not in obs.failed:
            obs.failed.add(fp)
            out.append("ContextCompactionFailed")
    # 4. skipped
    for i, k in enumerate(ks):
        if type(k) is not dict:
            continue
        fp = _text(k, "skip_id")
        if fp is None:
            fp = "skipped/%d/%s/%s/%s/%s/%s/%s/%s/%d" % (
                i, _text(k, "task_id") or "", _text(k, "boundary_message_id") or "",
                _text(k, "reason") or "unknown", _opt(_count(k, "pre_tokens")),
                _opt(_count(k, "post_tokens")), _opt(_count(k, "savings_ratio_ppm")),
                _opt(_count(k, "min_savings_ratio_ppm")), _count(k, "timestamp_ms") or 0)
        if fp not in obs.skipped:
            obs.skipped.add(fp)
            out.append("ContextCompactionSkipped")
    # 5. cancelled
    cur = _in_flight(s)
    if p is not None and cur != p and not any(
            _matches(e, p) for lst in (bs, fs, ks) for e in lst):
        fp = "cancelled/%s/%s" % (p[0], p[1] or "")
        if fp not in obs.cancelled:
            obs.cancelled.add(fp)
            out.append("ContextCompactionCancelled")
    # 6. started
    if cur is None:
        obs.in_flight = None
    elif cur != obs.in_flight:
        obs.in_flight = cur
        out.append("ContextCompactionStarted")
    return tuple(out)


def stateful_kinds(ev, runs, obs):
    """Kinds of a valid run_start/run_finish/tool_call_done/state_snapshot.
    runs: {run_id: [known, finished]} (contract §6), obs: the thread's Observation."""
    et = ev["event_type"]
    if et == "run_start":
        st = runs.get(ev["run_id"])
        if st is not None and st[0]:
            st[1] = False
            return ("RunResumed",)
        runs[ev["run_id"]] = [True, False]
        return ("RunStarted",)
    if et == "run_finish":
        st = runs.setdefault(ev["run_id"], [False, False])
        if st[1]:
            return ()
        st[1] = True
        return (FINISH_KIND[ev["termination"]["type"]],)
    if et == "tool_call_done":
        return tool_done_kinds(ev)
    if et == "state_snapshot":
        return ("StateSnapshotObserved",) + compaction_kinds(obs, ev["snapshot"])
    return (STATIC_KIND[et],)


# =====================================================================
# Content pools (pre-encoded: most events are copied from here)
# =====================================================================

WORDS = ("we the a an of to in on for with and or but so then now next also first "
         "index table row column query plan scan join lock commit rollback vacuum "
         "function handler request response client server cache queue worker retry "
         "error warning timeout deadline config schema migration test fixture build "
         "deploy release branch merge patch diff file path module crate package "
         "value field record payload event stream thread run step tool call result "
         "is are was were will would should could might can must not never always "
         "fix add remove rename update check verify read write parse encode decode").split()
THOUGHTS = ("Okay, so the user is asking Let me look at Wait, that does not match I think "
            "the problem might be Maybe I should first The failing assertion says Hmm. "
            "Going back to the logs, Another option is to If I change this, then "
            "callers would break. Better to keep the API and I need to double-check").split()
SPICE = ("\n", "\n\n", "\n* ", "\n```sql\n", "\t", "\\", "\\n", "C:\\temp\\out.log",
         '"', '"quoted"', "'single'", "`psql -c '\\dx'`", "{\"k\": [1, 2]}", "100%",
         "é", "naïve", "Straße", "Ærø", "東京", "日本語のテキスト", "Привет", "Ελληνικά",
         "עברית", "😀", "🚀🔥", "→", "≥", "½", "\u00a0", "…")
CODE_LINES = ("CREATE TABLE t (id bigint PRIMARY KEY, body jsonb NOT NULL);",
              "SELECT e.kind, count(*) FROM events e GROUP BY 1 ORDER BY 2 DESC;",
              "if (rc != 0) {", "\tereport(ERROR, (errmsg(\"bad value: \\\"%s\\\"\", s)));",
              "}", "def parse(line):", "    key, _, val = line.partition('\\t')",
              "    return {\"key\": key, \"val\": val}", "fn main() -> Result<(), Error> {",
              "    let path = r\"C:\\data\\in.json\";", "// naïve approach — O(n²)",
              "# 注意: 文字コード", "for f in *.sql; do psql -f \"$f\"; done", "")
PATHS = ("src/normalize.c", "src/state.c", "sql/durable_sink--1.0.sql", "test/sql/run.sql",
         "Makefile", "README.md", "docs/design.md", "app/models/user.rb", "web/index.ts",
         "config/prod.yaml", "données/résumé.txt")
MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5", "gpt-4.1", "gpt-4o-mini", "gemini-2.5-flash")


def _chunk(r, words, lo, hi):
    """A streamed chunk of lo..hi characters of words with occasional spice."""
    n = lo + int(r.random() * (hi - lo + 1))
    parts, size = [], 0
    while size < n:
        w = (SPICE[int(r.random() * len(SPICE))] if r.random() < 0.07
             else words[int(r.random() * len(words))])
        parts.append(w)
        size += len(w) + 1
    s = " ".join(parts)[:n]
    return " " + s if r.random() < 0.5 else s


def _code(r, lo, hi):
    n = lo + int(r.random() * (hi - lo))
    lines, size = [], 0
    while size < n:
        ln = CODE_LINES[int(r.random() * len(CODE_LINES))]
        lines.append(ln)
        size += len(ln) + 1
    return "\n".join(lines)


def _key(et, kinds):
    """Interned stats key: (event_type, kind, kind, ...)."""
    k = (et,) + tuple(kinds)
    return _KEYS.setdefault(k, k)


_KEYS = {}


def _item(et, ev):
    """A finished stateless stream item: (stats key, COPY-escaped JSON)."""
    return (_key(et, (STATIC_KIND[et],)), copy_escape(_enc(ev)))


def _raw_item(et, js):
    return (_key(et, (STATIC_KIND[et],)), copy_escape(js))


POOL_BITS = 12


class Pools:
    def __init__(self, seed):
        r = random.Random("durable_sink/gen_corpus/%d/pools" % seed)
        n = 1 << POOL_BITS
        self.text = [_item("text_delta", {"event_type": "text_delta",
                                          "delta": _chunk(r, WORDS, 15, 90)}) for _ in range(n)]
        self.reasoning = [_item("reasoning_delta", {"event_type": "reasoning_delta",
                                                    "delta": _chunk(r, THOUGHTS, 15, 90)})
                          for _ in range(n)]
        self.encrypted = [_item("reasoning_encrypted_value", {
            "event_type": "reasoning_encrypted_value",
            "encrypted_value": r.randbytes(120 + int(r.random() * 900)).hex()})
            for _ in range(32)]
        self.lines = [_chunk(r, WORDS, 8, 70) for _ in range(512)]
        self.code = [_code(r, 80, 1800) for _ in range(128)]
        self.summaries = ["Summary of the conversation so far:\n" + "\n".join(
            "- " + _chunk(r, WORDS, 30, 110).strip() for _ in range(2 + int(r.random() * 6)))
            for _ in range(64)]
        self.messages = []
        for i in range(128):
            role = ("user", "assistant", "tool", "assistant")[i % 4]
            m = {"id": "msg_%020x" % r.getrandbits(80), "role": role,
                 "content": self.code[i] if role == "tool" else _chunk(r, WORDS, 20, 600)}
            if role == "tool":
                m["tool_call_id"] = "call_%020x" % r.getrandbits(80)
            self.messages.append(_enc(m))


# =====================================================================
# Conversation simulation
# =====================================================================

class Tool:
    __slots__ = ("name", "weight", "args", "data", "suspend_p", "mode", "streams", "slow")

    def __init__(self, name, weight, args, data, suspend_p=0.0, mode="replay_tool_call",
                 streams=False, slow=False):
        self.name, self.weight, self.args, self.data = name, weight, args, data
        self.suspend_p, self.mode, self.streams, self.slow = suspend_p, mode, streams, slow


def _pick(th, seq):
    return seq[int(th.rng.random() * len(seq))]


TOOLS = (
    Tool("read_file", 24, lambda th: {"path": _pick(th, PATHS)},
         lambda th: {"content": _pick(th, th.pools.code)}),
    Tool("search_code", 12, lambda th: {"query": _pick(th, ("normalize_many", "TODO",
                                                             "\"event_type\"", "\\bfoo\\(")),
                                        "glob": "**/*.c"},
         lambda th: {"matches": [{"path": _pick(th, PATHS), "line": int(th.rng.random() * 800),
                                  "text": _pick(th, th.pools.lines)}
                                 for _ in range(int(th.rng.random() * 6))]}),
    Tool("apply_patch", 12, lambda th: {"path": _pick(th, PATHS),
                                        "patch": _pick(th, th.pools.code)[:900]},
         lambda th: {"hunks_applied": 1 + int(th.rng.random() * 3)}, suspend_p=0.04),
    Tool("shell", 15, lambda th: {"command": _pick(th, ("make installcheck", "pytest -q",
                                                        "cargo test", "npm test")),
                                  "cwd": "/work"},
         lambda th: {"exit_code": 0, "stdout": _pick(th, th.pools.code)[:500]},
         suspend_p=0.03, streams=True, slow=True),
    Tool("fetch_url", 6, lambda th: {"url": "https://docs.example.org/p/%d"
                                     % int(th.rng.random() * 999)},
         lambda th: {"status": 200, "text": _pick(th, th.pools.lines)},
         suspend_p=0.04, slow=True),
    Tool("run_sql", 6, lambda th: {"sql": "SELECT * FROM orders WHERE note = 'it''s' LIMIT 5"},
         lambda th: {"rows": [[i, _pick(th, th.pools.lines)[:16]]
                              for i in range(int(th.rng.random() * 6))]}),
    Tool("send_message", 3, lambda th: {"channel": "#ops", "text": _pick(th, th.pools.lines)},
         lambda th: {"ts": "%d.%06d" % (th.now // 1000, int(th.rng.random() * 1e6))},
         suspend_p=0.5),
    Tool("deploy_service", 2, lambda th: {"service": "api", "env": _pick(th, ("staging", "prod"))},
         lambda th: {"deployment": "dep_%010x" % th.rng.getrandbits(40)},
         suspend_p=0.6, mode="pass_decision_to_tool", slow=True),
    Tool("ask_human", 1.5, lambda th: {"question": _pick(th, th.pools.lines).strip() + "?"},
         lambda th: {"answer": _pick(th, th.pools.lines)},
         suspend_p=0.9, mode="use_decision_as_tool_result"),
)
_TOOL_TOTAL = sum(t.weight for t in TOOLS)

class Thread:
    """One conversation: a sequence of runs sharing todo list and compaction history."""

    def __init__(self, gen, index):
        self.g, self.pools = gen, gen.pools
        self.rng = random.Random("durable_sink/gen_corpus/%d/thread/%d" % (gen.seed, index))
        self.frng = random.Random("durable_sink/gen_corpus/%d/faults/%d" % (gen.seed, index))
        r = self.rng.random
        self.tid = "t%06d" % index
        self.now = BASE_MS + index * 41_000 + int(r() * 43_200_000)
        self.model = MODELS[int(r() * len(MODELS))]
        self.identity = None if r() < 0.15 else {
            "user_id": "u%05d" % int(r() * 20_000), "tenant": "acme-%d" % int(r() * 50)}
        self.ctx = 1_500 + int(r() * 5_000)         # context tokens in use
        self.limit = 18_000 + int(r() * 40_000)     # compaction threshold
        self.todo = []
        self.cc_on = r() < 0.6                      # __context_compaction present at all
        self.cc_sparse = r() < 0.5                  # omit empty arrays / null in_flight
        self.boundaries, self.failures, self.skipped = [], [], []
        self.total = 0
        self.in_flight, self.in_flight_pre = None, 0
        # Contract model (docs/CONTRACT.md) state for this thread (run ids never repeat across threads)
        self.runs, self.obs = {}, Observation()

    # ---- small helpers
    def hid(self, prefix, bits=64):
        return "%s_%0*x" % (prefix, bits // 4, self.rng.getrandbits(bits))

    def finish(self, items, pending):
        """Apply faults, run the contract model over stateful events (in order), encode."""
        rate = self.g.malformed_rate
        if rate:
            fr = self.frng.random
            for i in range(len(items)):
                if fr() < rate:
                    items[i] = corrupt(self.frng, items[i])
        for i in pending:
            it = items[i]
            if it[0] is None:                       # not replaced by a fault
                ev = it[2]
                items[i] = (_key(it[1], stateful_kinds(ev, self.runs, self.obs)),
                            copy_escape(_enc(ev)))
        return items

    # ---- the stream: yields (run_id, items)
    def stream(self):
        r = self.rng.random
        prev = None
        for k in range(self.g.runs_per_thread):
            rid = "%s-r%03d" % (self.tid, k)
            suspended, first = None, True
            while True:
                suspended = yield from self.activation(rid, first, suspended, prev)
                if not suspended or r() < 0.08:     # 8% of suspended runs are abandoned
                    break
                first = False
                self.now += 10_000 + int(r() * 600_000)
            prev = rid
            self.now += 3_000 + int(r() * 1_800_000)

    def activation(self, rid, first, resumed, prev):
        r = self.rng.random
        items, pend = [], []

        def stateful(et, ev):
            pend.append(len(items))
            items.append((None, et, ev))

        ev = {"event_type": "run_start", "thread_id": self.tid, "run_id": rid}
        if first and prev is not None and r() < 0.06:
            ev["parent_run_id"] = prev
        elif r() < 0.25:
            ev["parent_run_id"] = None
        if self.identity is not None:
            ev["identity"] = self.identity
        stateful("run_start", ev)
        if first and self.total and r() < 0.025:
            self.clear_history(stateful)
        elif r() < 0.6:
            stateful("state_snapshot", self.snapshot())
        if r() < (0.3 if resumed else 0.1):
            items.append(self.messages_snapshot())
        if resumed:
            self.decide(items, stateful, resumed)

        p = r()
        term = ("natural_end" if p < 0.84 else "stopped" if p < 0.88 else
                "cancelled" if p < 0.915 else "error" if p < 0.945 else
                "blocked" if p < 0.96 else "behavior_requested" if p < 0.985 else
                "plugin_requested")
        nsteps = 8 + int(r() * 4) if term == "stopped" else 1 + int(r() * r() * 7)
        cut = int(r() * nsteps)
        suspended = None
        for s in range(nsteps):
            final = s == nsteps - 1 and term != "stopped"
            if s == cut and term in ("cancelled", "error", "blocked"):
                self.step(items, stateful, final, abort=term)
                break
            suspended = self.step(items, stateful, final)
            if suspended and r() < 0.8:             # wait for the user
                term = "suspended"
                break
            if suspended:                           # decision arrives inline
                self.decide(items, stateful, suspended)
                suspended = None
            yield rid, self.finish(items, pend)
            items, pend = [], []

        if r() < 0.35:
            stateful("state_snapshot", self.snapshot())
        fin = {"event_type": "run_finish", "thread_id": self.tid, "run_id": rid}
        if self.identity is not None and r() < 0.5:
            fin["identity"] = self.identity
        if term in ("natural_end", "behavior_requested", "plugin_requested"):
            q = r()
            if q < 0.6:
                fin["result"] = {"text": _pick(self, self.pools.lines)}
            elif q < 0.8:
                fin["result"] = None
        fin["termination"] = self.termination(term)
        stateful("run_finish", fin)
        if r() < 0.006:                             # runtime repeats its finish
            stateful("run_finish", dict(fin))
        yield rid, self.finish(items, pend)
        return suspended if term == "suspended" else None

    def termination(self, term):
        r = self.rng.random
        if term == "stopped":
            v = {"code": "max_steps" if r() < 0.8 else "max_tokens"}
            q = r()
            if q < 0.4:
                v["detail"] = "step limit reached"
            elif q < 0.5:
                v["detail"] = None
            return {"type": "stopped", "value": v}
        if term == "blocked":
            return {"type": "blocked", "value": "blocked by content policy"}
        if term == "error":
            return {"type": "error", "value": _pick(self, (
                "provider error: 503", "tool runner crashed", "context length exceeded"))}
        if term == "suspended" and r() < 0.1:
            return {"type": "suspended", "value": None}
        return {"type": term}

    def step(self, items, stateful, final, abort=None):
        """One model turn plus tool execution; returns suspended calls (list) or None."""
        rng, pools = self.rng, self.pools
        r, bits = rng.random, rng.getrandbits
        ap = items.append
        if r() < 0.95:
            ap(_item("step_start", {"event_type": "step_start", "message_id": self.hid("msg", 80)}))
        else:
            ap(self.g.step_start_bare)
        if r() < 0.55:
            reasoning = pools.reasoning
            for _ in range(2 + int(r() * 28)):
                ap(reasoning[bits(POOL_BITS)])
            if r() < 0.12:
                ap(pools.encrypted[bits(5)])
        text = pools.text
        ntext = 8 + int(r() * 64) if final else int(r() * 10)
        if abort:
            ntext = int(r() * ntext)
        for _ in range(ntext):
            ap(text[bits(POOL_BITS)])
        if r() < 0.015:                             # provider hiccup, stream restarted
            ev = {"event_type": "error", "message": "upstream connection reset"}
            if r() < 0.6:
                ev["code"] = "stream_interrupted"
            elif r() < 0.5:
                ev["code"] = None
            ap(_item("error", ev))
            ap(_item("stream_reset", {"event_type": "stream_reset",
                                      "reason": "retrying after upstream connection reset"}))
            for _ in range(int(r() * 15)):
                ap(text[bits(POOL_BITS)])
        calls = []
        if not final:
            n = 1 if r() < 0.7 else 2 if r() < 0.75 else 3
            calls = [self.tool_call(items) for _ in range(n)]
        if abort == "cancelled" and not calls:
            return None
        out_tokens = 40 + int(r() * 900)
        ic = {"event_type": "inference_complete", "model": self.model,
              "duration_ms": 300 + int(r() * 11_000)}
        q = r()
        if q < 0.93:
            ic["usage"] = {"input_tokens": self.ctx, "output_tokens": out_tokens,
                           "cache_read_input_tokens": int(self.ctx * 0.7 * r())}
        elif q < 0.96:
            ic["usage"] = None
        ap(_item("inference_complete", ic))
        self.ctx += out_tokens
        self.now += ic["duration_ms"]
        if abort == "error":
            ap(_item("error", {"event_type": "error", "message": "provider returned 503",
                               "code": "provider_unavailable"}))
            return None
        if abort == "cancelled":
            for tool, cid, _ in calls:
                ap(_item("tool_call_cancel", {"event_type": "tool_call_cancel", "id": cid,
                                              "name": tool.name, "reason": "run cancelled"}))
            return None
        if abort:
            return None
        suspended = []
        for call in calls:
            self.execute(items, stateful, call, suspended)
        ap(self.g.step_end)
        self.compaction_tick(stateful)
        if r() < 0.07:
            stateful("state_snapshot", self.snapshot())
        return suspended

    def tool_call(self, items):
        r = self.rng.random
        x = r() * _TOOL_TOTAL
        for tool in TOOLS:
            x -= tool.weight
            if x < 0:
                break
        cid = self.hid("call", 96)
        args = tool.args(self)
        items.append(_item("tool_call_start", {"event_type": "tool_call_start", "id": cid,
                                               "name": tool.name}))
        js = _enc(args)
        head = '{"event_type":"tool_call_delta","id":"%s","args_delta":' % cid
        key = _key("tool_call_delta", ("ToolCallDeltaObserved",))
        pos = 0
        while pos < len(js):
            n = 4 + int(r() * 28)
            items.append((key, copy_escape(head + _jstr(js[pos:pos + n]) + "}")))
            pos += n
        items.append(_item("tool_call_ready", {"event_type": "tool_call_ready", "id": cid,
                                               "name": tool.name, "arguments": args}))
        return tool, cid, args

    def execute(self, items, stateful, call, suspended):
        tool, cid, args = call
        r = self.rng.random
        ap = items.append
        if tool.slow and r() < 0.5:
            act = self.hid("act", 48)
            ap(_item("activity_snapshot", {
                "event_type": "activity_snapshot", "message_id": act, "activity_type": "progress",
                "content": {"tool_call_id": cid, "label": "running " + tool.name, "percent": 0},
                "replace": True if r() < 0.6 else None}))
            pct = 0
            for _ in range(1 + int(r() * 4)):
                pct = min(100, pct + 15 + int(r() * 40))
                ap(_item("activity_delta", {
                    "event_type": "activity_delta", "message_id": act,
                    "activity_type": "progress",
                    "patch": [{"op": "replace", "path": "/percent", "value": pct}]}))
        if tool.streams and r() < 0.65:
            head = '{"event_type":"tool_call_stream_delta","id":"%s","name":"%s","delta":' % (
                cid, tool.name)
            key = _key("tool_call_stream_delta", ("ToolCallStreamDeltaObserved",))
            lines = self.pools.lines
            for _ in range(2 + int(r() * 14)):
                ap((key, copy_escape(head + _jstr(lines[int(r() * 512)] + "\n") + "}")))
        self.now += 20 + int(r() * (20_000 if tool.slow else 1_500))
        p = r()
        sp = tool.suspend_p
        if p < sp:
            result, outcome = self.pending_result(tool, cid, args), "suspended"
            suspended.append((tool, cid, result.get("suspension")))
        elif p < sp + 0.03:
            result, outcome = self.rejected_result(tool), "failed"
        elif p < sp + (0.07 if tool.slow else 0.04):
            flag = True if r() < 0.95 else "true"   # only JSON true is a timeout
            result, outcome = {"tool_name": tool.name, "status": "error", "data": None,
                               "message": "timed out after 60000 ms",
                               "metadata": {"timed_out": flag, "limit_ms": 60000}}, "failed"
        elif p < sp + 0.12:
            result, outcome = {"tool_name": tool.name, "status": "error", "data": None,
                               "message": "exit status 1", "metadata": {"exit_code": 1}}, "failed"
            q = r()
            if q < 0.05:
                result["metadata"]["timed_out"] = False
            elif q < 0.1:
                result["suspension"] = None
        else:
            result, outcome = {"tool_name": tool.name, "status": "success",
                               "data": tool.data(self)}, "succeeded"
            q = r()
            if q < 0.35:
                result["metadata"] = {"elapsed_ms": int(r() * 4000)}
            elif q < 0.40:
                result["metadata"] = None
            elif q < 0.41:                          # not failed: still ToolCallDone
                result["metadata"] = {"rejected": None, "timed_out": True}
        self.done(stateful, cid, result, outcome)
        self.ctx += 200 + int(r() * 9_000)
        if r() < 0.25:
            ap(self.state_delta())

    def done(self, stateful, cid, result, outcome):
        stateful("tool_call_done", {"event_type": "tool_call_done", "id": cid,
                                    "message_id": self.hid("msg", 80), "result": result,
                                    "outcome": outcome})

    def rejected_result(self, tool):
        r = self.rng.random
        q = r()
        why = (True if q < 0.8 else {"policy": "no-prod-writes"} if q < 0.9
               else "user" if q < 0.95 else False)
        md = {"rejected": why}
        if r() < 0.02:
            md["timed_out"] = True                  # rejected wins (contract §5 order)
        return {"tool_name": tool.name, "status": "error", "data": None,
                "message": "rejected by permission policy", "metadata": md}

    def pending_result(self, tool, cid, args):
        """status pending + suspend ticket, with the edge shapes contract §7 cares about."""
        r = self.rng.random
        mode = tool.mode if r() < 0.85 else RESUME_MODES[int(r() * 3)]
        inner = {"id": self.hid("perm"), "action": "confirm",
                 "message": "Allow %s?" % tool.name,
                 "parameters": {"tool": tool.name, "arguments": args},
                 "response_schema": {"type": "object",
                                     "properties": {"approved": {"type": "boolean"}}}}
        q = r()
        if q < 0.03:
            inner["id"] = _pick(self, ("", "  ", "\u3000", "\t\n"))   # blank: no permission
        elif q < 0.04:
            del inner["id"]                         # default "": no permission
        elif q < 0.06:
            inner["id"] = " " + inner["id"] + "\u00a0"   # not blank once trimmed
        ticket = {"suspension": inner, "pending": {"id": cid, "name": tool.name,
                                                   "arguments": args}}
        if mode != "replay_tool_call" or r() < 0.8:
            ticket["resume_mode"] = mode
        elif r() < 0.3:
            ticket["resume_mode"] = None            # null == absent == replay_tool_call
        res = {"tool_name": tool.name, "status": "pending", "data": None,
               "message": "waiting for approval"}
        q = r()
        if q < 0.015:
            return res                              # no ticket at all
        if q < 0.025:
            res["suspension"] = None
            return res
        if q < 0.035:
            del ticket["suspension"]                # ticket without its suspension object
        res["suspension"] = ticket
        return res

    def decide(self, items, stateful, calls):
        """Decisions for suspended calls: tool_call_resumed then the replayed done."""
        r = self.rng.random
        for tool, cid, ticket in calls:
            mode = (ticket or {}).get("resume_mode") or "replay_tool_call"
            approved = r() < 0.8
            decision = {"approved": approved}
            if mode == "use_decision_as_tool_result":
                decision = {"answer": _pick(self, self.pools.lines)}
            items.append(_item("tool_call_resumed", {"event_type": "tool_call_resumed",
                                                     "target_id": cid, "result": decision}))
            if mode == "use_decision_as_tool_result":
                self.done(stateful, cid, {"tool_name": tool.name, "status": "success",
                                          "data": decision}, "succeeded")
            elif approved:
                self.done(stateful, cid, {"tool_name": tool.name, "status": "success",
                                          "data": tool.data(self)}, "succeeded")
            else:
                self.done(stateful, cid, {"tool_name": tool.name, "status": "error",
                                          "data": None, "message": "declined by user",
                                          "metadata": {"rejected": {"by": "user"}}}, "failed")

    def state_delta(self):
        r = self.rng.random
        if self.todo and r() < 0.6:
            i = int(r() * len(self.todo))
            st = ("in_progress", "done")[int(r() * 2)]
            self.todo[i]["status"] = st
            ops = [{"op": "replace", "path": "/todo/%d/status" % i, "value": st}]
        else:
            it = {"id": len(self.todo) + 1, "title": _pick(self, self.pools.lines).strip(),
                  "status": "pending"}
            self.todo.append(it)
            ops = [{"op": "add", "path": "/todo/-", "value": it}]
        return _item("state_delta", {"event_type": "state_delta", "delta": ops})

    def messages_snapshot(self):
        r = self.rng.random
        msgs = self.pools.messages
        parts = [msgs[int(r() * len(msgs))] for _ in range(1 + int(r() * 6))]
        return _raw_item("messages_snapshot",
                         '{"event_type":"messages_snapshot","messages":[' + ",".join(parts) + "]}")

    # ---- context compaction (contract §8 input), as a runtime would report it
    def snapshot(self):
        snap = {"todo": self.todo, "context_tokens": self.ctx}
        ext = {}
        if self.cc_on:
            cc = {"total_compactions": self.total, "timestamp_ms": self.now}
            for name, lst in (("boundaries", self.boundaries), ("failures", self.failures),
                              ("skipped", self.skipped)):
                if lst or not self.cc_sparse:
                    cc[name] = lst
            if self.in_flight is not None:
                cc["in_flight"] = self.in_flight
            elif not self.cc_sparse:
                cc["in_flight"] = None
            ext["__context_compaction"] = cc
        snap["extensions"] = ext
        # encode now: the runtime's lists keep changing after this point
        return json.loads(_enc({"event_type": "state_snapshot", "snapshot": snap}))

    def start_compaction(self):
        r = self.rng.random
        task = self.hid("cmp")
        fl = {"task_id": " %s " % task if r() < 0.03 else task, "started_at_ms": self.now}
        if r() < 0.9:
            fl["boundary_message_id"] = self.hid("msg", 80)
        self.in_flight, self.in_flight_pre = fl, self.ctx

    def compaction_tick(self, stateful):
        """Advance compaction after a step; emit a snapshot whenever it changed."""
        r = self.rng.random
        fl = self.in_flight
        changed = False
        if fl is not None:
            if r() < 0.4:                            # still running
                if r() < 0.3:
                    stateful("state_snapshot", self.snapshot())
                return
            ref = {"task_id": fl["task_id"].strip()}
            if "boundary_message_id" in fl:
                ref["boundary_message_id"] = fl["boundary_message_id"]
            pre = self.in_flight_pre
            self.in_flight = None
            q = r()
            if q < 0.78:
                post = int(pre * (0.1 + r() * 0.15))
                b = {"summary": _pick(self, self.pools.summaries), "pre_tokens": pre,
                     "post_tokens": post, "timestamp_ms": self.now}
                b.update(ref)
                self.boundaries.append(b)
                self.total += 1
                self.ctx = post + max(0, self.ctx - pre)
            elif q < 0.86:
                f = {"error": _pick(self, ("summarizer timeout", "summary too long",
                                           "provider error 500")), "timestamp_ms": self.now}
                f.update(ref)
                self.failures.append(f)
                self.limit = self.ctx + 12_000
            elif q < 0.93:
                self.skipped.append(self.skip_entry(ref, pre))
                self.limit = self.ctx + 15_000
            else:                                    # cancelled (maybe superseded)
                self.limit = self.ctx + 6_000
                if r() < 0.5:
                    self.start_compaction()
            changed = True
        elif self.ctx > self.limit:
            if r() < 0.06:                           # skipped before it started
                self.skipped.append(self.skip_entry({"task_id": self.hid("cmp")}, self.ctx))
                self.limit = self.ctx + 15_000
            else:
                self.start_compaction()
            changed = True
        if changed:
            self.cc_on = True
            stateful("state_snapshot", self.snapshot())

    def skip_entry(self, ref, pre):
        r = self.rng.random
        sav = int(r() * 180_000)
        k = {"reason": "below_min_savings", "pre_tokens": pre,
             "post_tokens": pre - pre * sav // 1_000_000, "savings_ratio_ppm": sav,
             "min_savings_ratio_ppm": 200_000, "timestamp_ms": self.now}
        if r() < 0.7:
            k["skip_id"] = self.hid("skip")
        elif r() < 0.3:
            del k["pre_tokens"], k["post_tokens"]
        k.update(ref)
        return k

    def clear_history(self, stateful):
        """User clears the conversation: total_compactions drops (contract §8 step 1)."""
        self.boundaries, self.failures, self.skipped = [], [], []
        self.total, self.ctx, self.todo = 0, 1_500, []
        self.in_flight = None
        stateful("state_snapshot", self.snapshot())


# =====================================================================
# Faults (--malformed-rate): always valid JSON, always an invalid event
# =====================================================================

UNKNOWN_TYPES = ("text_delta_v2", "TextDelta", "heartbeat", "", "text-delta", "run_paused")
WRONG = {S: (42, None, True, ["x"], {"s": "x"}), SN: (7, ["x"], False),
         O: ("x", [], None, 3), ON: ("x", 5, []), A: ({"op": "add"}, "[]", None, 1),
         U: (-1, 1.5, 2.0, "1200", None, True, 2 ** 64), BN: ("yes", 1),
         TERM: ("natural_end", None, [], {"type": "finished"}, {"type": "stopped"},
                {"type": "error", "value": 5}, {"type": "blocked"}, {"value": "x"}),
         RESULT: ("ok", None, {"tool_name": "x", "status": "ok", "data": 1},
                  {"status": "success", "data": 1}, {"tool_name": "x", "status": "success"}),
         OUTCOME: ("ok", "success", None, 1)}


def corrupt(fr, item):
    """Replace one stream item by an invalid event derived from it."""
    if item[0] is None:
        et, ev = item[1], json.loads(_enc(item[2]))
    else:
        et = item[0][0]
        ev = json.loads(copy_unescape(item[1]))
    p = fr.random()
    pick = lambda seq: seq[int(fr.random() * len(seq))]  # noqa: E731
    if p < 0.15:
        fault = "not_object"
        js = pick((_jstr(_enc(ev)), "[" + _enc(ev) + "]", "null", "42", '"ping"', "[]", "false"))
    elif p < 0.30:
        fault = "unknown_event_type"
        ev["event_type"] = pick(UNKNOWN_TYPES)
        js = _enc(ev)
    else:
        spec = SCHEMA[et]
        required = [m for m, (_, req) in spec.items() if req]
        typed = [m for m, (t, _) in spec.items() if t is not ANY]
        if p < 0.58:
            if required:
                fault = "missing_member"
                del ev[pick(required)]
            else:
                fault = "missing_event_type"
                del ev["event_type"]
        elif et == "tool_call_done" and p < 0.75 and ev["result"].get("suspension"):
            fault = "bad_suspend_ticket"
            t = ev["result"]["suspension"]
            k, v = pick((("suspension", "perm"), ("pending", {"id": 1}), ("pending", {}),
                         ("resume_mode", "ask_later"), ("resume_mode", 1), ("id", 42)))
            if k == "id":
                t.setdefault("suspension", {})["id"] = v
            else:
                t[k] = v
        elif not typed:
            fault = "wrong_type"
            ev["event_type"] = pick((7, None, [et]))
        else:
            fault = "wrong_type"
            m = pick(typed)
            typ, req = spec[m]
            # null is "absent" for an optional member, hence valid: never use it there
            ev[m] = pick([v for v in WRONG[typ] if req or v is not None])
        js = _enc(ev)
    return (_key("!" + fault, ()), copy_escape(js))


# =====================================================================
# Driver
# =====================================================================

class Generator:
    def __init__(self, a):
        self.seed = a.seed
        self.runs_per_thread = a.runs_per_thread
        self.malformed_rate = a.malformed_rate
        self.pools = Pools(a.seed)
        self.step_start_bare = _item("step_start", {"event_type": "step_start"})
        self.step_end = _item("step_end", {"event_type": "step_end"})


def generate(a, write):
    g = Generator(a)
    mix = random.Random("durable_sink/gen_corpus/%d/interleave" % a.seed).random
    counts = {}
    nthreads = 0
    seq, cap, nbytes = 0, a.events, 0
    buf = []

    def new_slot():
        nonlocal nthreads
        th = Thread(g, nthreads)
        nthreads += 1
        return [th.tid, th.stream(), "", [], 0]

    slots = [new_slot() for _ in range(a.threads)]
    while seq < cap:
        i = int(mix() * len(slots))
        slot = slots[i]
        items, pos = slot[3], slot[4]
        if pos >= len(items):
            try:
                rid, items = next(slot[1])
            except StopIteration:
                slots[i] = new_slot()
                continue
            slot[2], slot[3], pos = rid, items, 0
        n = min(1 + int(mix() * 24), cap - seq)
        take = items[pos:pos + n]
        slot[4] = pos + len(take)
        prefix = "\t%s\t%s\t" % (copy_escape(slot[0]), copy_escape(slot[2]))
        for key, esc in take:
            seq += 1
            buf.append("%d%s%s\n" % (seq, prefix, esc))
            counts[key] = counts.get(key, 0) + 1
        if len(buf) >= 8192:
            data = "".join(buf).encode()
            nbytes += len(data)
            write(data)
            buf.clear()
    data = "".join(buf).encode()
    nbytes += len(data)
    write(data)
    return {"events": seq, "threads": nthreads, "bytes": nbytes, "counts": counts}


def expected_from(path):
    """Counts for an existing COPY-text corpus: validate (contract §2) and model each event."""
    counts, runs, obs = {}, {}, {}
    seq = 0
    f = sys.stdin if path == "-" else open(path, encoding="utf-8", newline="\n")
    with f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line == "\\.":
                continue
            cols = line.split("\t")
            if len(cols) != 4:
                raise SystemExit("line %d: expected 4 columns" % (seq + 1))
            seq += 1
            tid, rid = copy_unescape(cols[1]), copy_unescape(cols[2])
            try:
                ev = json.loads(copy_unescape(cols[3]), parse_float=Decimal)
            except ValueError:
                ev = None
            if not is_valid(ev) or not trim(tid) or not trim(rid):
                key = _key("!invalid", ())
            else:
                et = ev["event_type"]
                if et in STATIC_KIND:
                    key = _key(et, (STATIC_KIND[et],))
                else:
                    o = obs.get(tid)
                    if o is None:
                        o = obs[tid] = Observation()
                    key = _key(et, stateful_kinds(ev, runs, o))
            counts[key] = counts.get(key, 0) + 1
    return {"events": seq, "threads": len(obs), "bytes": None, "counts": counts}


def report(st, elapsed, out):
    """Statistics as greppable lines (see README)."""
    by_type, kinds = {}, dict.fromkeys(FIDELITY, 0)
    for key, n in st["counts"].items():
        by_type[key[0]] = by_type.get(key[0], 0) + n
        for k in key[1:]:
            kinds[k] += n
    total = st["events"] or 1
    malformed = sum(n for et, n in by_type.items() if et.startswith("!"))
    w = out.write
    w("events %d\n" % st["events"])
    w("valid_events %d\n" % (st["events"] - malformed))
    w("malformed_events %d\n" % malformed)
    w("conversations %d\n" % st["threads"])
    if st["bytes"] is not None:
        w("bytes %d\n" % st["bytes"])
    if elapsed is not None:
        w("seconds %.2f\n" % elapsed)
        w("events_per_second %d\n" % (st["events"] / elapsed if elapsed else 0))
    for et, n in sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0])):
        w("%s %-28s %9d %6.2f%%\n" % ("malformed" if et.startswith("!") else "mix",
                                      et.lstrip("!"), n, 100.0 * n / total))
    deltas = sum(by_type.get(et, 0) for et in STREAM_DELTAS)
    w("stream_delta_share %.2f%%\n" % (100.0 * deltas / total))
    for k in sorted(kinds):
        w("expected_rows %-32s %-24s %d\n" % (k, FIDELITY[k], kinds[k]))
    full = sum(kinds.values())
    observed = sum(n for k, n in kinds.items() if FIDELITY[k] == OBS)
    w("expected_total full_fidelity %d\n" % full)
    w("expected_total compacted %d\n" % (full - observed))
    w("expected_total disabled 0\n")


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Statistics go to stderr as lines 'expected_rows <Kind> <fidelity> <n>', "
               "'expected_total <mode> <n>', 'mix <event_type> <n> <share>', ...")
    ap.add_argument("--events", type=int, default=100_000,
                    help="number of events to write (default 100000)")
    ap.add_argument("--threads", type=int, default=8,
                    help="conversations streaming concurrently, interleaved in bursts of "
                         "1-24 events; a finished conversation is replaced by a new one "
                         "(default 8)")
    ap.add_argument("--runs-per-thread", type=int, default=5,
                    help="runs (run ids) per conversation (default 5)")
    ap.add_argument("--seed", type=int, default=1, help="RNG seed (default 1)")
    ap.add_argument("--malformed-rate", type=float, default=0.0,
                    help="probability of replacing an event by an invalid one (default 0)")
    ap.add_argument("--stats", action="store_true",
                    help="print mix and expected normalize_many row counts to stderr")
    ap.add_argument("--expected-from", metavar="FILE",
                    help="do not generate: read a COPY-text corpus (- = stdin), validate "
                         "it (contract §2) and print the statistics for it to stdout")
    a = ap.parse_args(argv)
    if a.expected_from:
        t0 = time.perf_counter()
        st = expected_from(a.expected_from)
        report(st, time.perf_counter() - t0, sys.stdout)
        return 0
    if a.events < 0 or a.threads < 1 or a.runs_per_thread < 1:
        ap.error("--events must be >= 0, --threads and --runs-per-thread >= 1")
    if not 0.0 <= a.malformed_rate <= 1.0:
        ap.error("--malformed-rate must be within [0, 1]")
    t0 = time.perf_counter()
    try:
        st = generate(a, sys.stdout.buffer.write)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    if a.stats:
        report(st, time.perf_counter() - t0, sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
