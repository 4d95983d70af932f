"""The action ledger in Redis (production profile): the same guarantees as the SQLite ledger.

Each request's step — claim the fire actions, keep the suggest actions pending, append the
prediction-log entry to the journal — is one Lua script, which Redis runs atomically; so is each
decision on suggestions. Keys (under ``prefix``):

- ``<prefix>:fired:<key>``: an action that fired, expiring after its window (``SET NX PX``);
- ``<prefix>:sg:<id>``: a suggestion (hash), kept ``retention`` after it can no longer matter;
  ``<prefix>:sgkey:<key>`` points to the latest suggestion of an (order, action, rule) key and
  ``<prefix>:sg:index`` lists suggestions by creation time;
- ``<prefix>:journal``: the prediction journal, a stream drained into the parquet log.

``<key>`` is ``<len(order_id)>:<order_id>:<action>:<rule>`` (the length prefix keeps ids that
contain ':' from colliding). How durable the journal is depends on the Redis server's persistence
(``appendonly yes`` with ``appendfsync everysec`` or ``always`` for a ledger beside payments).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from orderlens.records import SuggestionStatus
from serving.ledger import (
    STATUS_BY_CODE,
    Decided,
    Decision,
    JournalEntry,
    Outcome,
    Problem,
    Suggestion,
    SuggestionError,
    effective_status,
    new_suggestion_id,
)
from serving.policy import Action

_RECORD = """
local prefix, now, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local has_entry, entry, retention = ARGV[4], ARGV[5], tonumber(ARGV[6])
local out, codes, i = {}, {}, 7
for j = 1, n do
  local mode, key, window, expires = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local sid = ARGV[i + 4]
  local fired_key = prefix .. ':fired:' .. key
  local code, answer = nil, ''
  if mode == 'F' then
    if redis.call('SET', fired_key, now, 'NX', 'PX', window) then code = 'F' else code = 'S' end
  elseif redis.call('EXISTS', fired_key) == 1 then
    code = 'S'
  else
    local pointer = prefix .. ':sgkey:' .. key
    local latest = redis.call('GET', pointer)
    if latest then
      local h = redis.call('HMGET', prefix .. ':sg:' .. latest,
                           'status', 'expires_ms', 'decided_ms', 'window_ms')
      if h[1] == 'pending' and tonumber(h[2]) > now then
        code, answer = 'P', latest
      elseif h[1] == 'rejected' and tonumber(h[3]) + tonumber(h[4]) > now then
        code = 'S'
      end
    end
    if not code then
      local hash = prefix .. ':sg:' .. sid
      redis.call('HSET', hash, 'order_id', ARGV[i + 8], 'action', ARGV[i + 9], 'rule', ARGV[i + 10],
                 'params', ARGV[i + 5], 'reason', ARGV[i + 6], 'tier', ARGV[i + 7],
                 'status', 'pending', 'created_ms', now, 'expires_ms', now + expires,
                 'window_ms', window)
      redis.call('PEXPIRE', hash, expires + window + retention)
      redis.call('SET', pointer, sid, 'PX', expires + window)
      redis.call('ZADD', prefix .. ':sg:index', now, sid)
      code, answer = 'G', sid
    end
  end
  out[j] = code .. answer
  codes[j] = code
  i = i + 11
end
if has_entry == '1' then
  redis.call('XADD', prefix .. ':journal', '*', 'entry', entry, 'statuses', table.concat(codes))
end
return out
"""

_DECIDE = """
local prefix, now, decision = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local decider, reason, n = ARGV[4], ARGV[5], tonumber(ARGV[6])
local problems = {}
for j = 1, n do
  local sid = ARGV[6 + j]
  local h = redis.call('HMGET', prefix .. ':sg:' .. sid, 'status', 'expires_ms')
  if not h[1] then
    table.insert(problems, sid .. '=unknown')
  elseif h[1] == 'pending' and tonumber(h[2]) <= now then
    table.insert(problems, sid .. '=expired')
  elseif h[1] ~= 'pending' then
    table.insert(problems, sid .. '=already_decided')
  end
end
if #problems > 0 then return {0, problems} end
local status = 'rejected'
if decision == 'confirm' then status = 'confirmed' end
local fired = {}
for j = 1, n do
  local hash = prefix .. ':sg:' .. ARGV[6 + j]
  redis.call('HSET', hash, 'status', status, 'decided_ms', now, 'decided_by', decider,
             'decision_reason', reason)
  fired[j] = 0
  if decision == 'confirm' then
    local h = redis.call('HMGET', hash, 'order_id', 'action', 'rule', 'window_ms')
    local key = string.len(h[1]) .. ':' .. h[1] .. ':' .. h[2] .. ':' .. h[3]
    if redis.call('SET', prefix .. ':fired:' .. key, now, 'NX', 'PX', tonumber(h[4])) then
      fired[j] = 1
    end
  end
end
return {1, fired}
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_SEQ = 1_000_000  # stream ids "ms-seq" as one sortable integer: ms * _SEQ + seq


class RedisLedger:
    """The ledger in Redis; see the module docstring.

    Args:
        client: a ``redis.Redis`` client.
        prefix: key prefix, so several deployments can share one Redis.
        retention_days: how long decided or expired suggestions stay listable.
    """

    def __init__(
        self, client: Any, *, prefix: str = "orderlens", retention_days: float = 30
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.retention_ms = round(retention_days * 86_400_000)
        self._record = client.register_script(_RECORD)
        self._decide = client.register_script(_DECIDE)
        self._release = client.register_script(_RELEASE)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisLedger:
        import redis  # production profile only; installed with feast[redis]

        return cls(redis.Redis.from_url(url, socket_timeout=5.0), **kwargs)

    @staticmethod
    def key(action: Action) -> str:
        oid = action.order_id
        return f"{len(oid)}:{oid}:{action.action}:{action.rule}"

    def fired_key(self, action: Action) -> str:
        """The Redis key that holds ``action`` as fired until its window passes."""
        return f"{self.prefix}:fired:{self.key(action)}"

    # ---- the request's step -------------------------------------------------------------------

    def record(
        self, actions: Sequence[Action], now: datetime, entry: bytes | None = None
    ) -> list[Outcome]:
        """See :meth:`serving.ledger.ActionLedger.record`: one Lua script."""
        if not actions and entry is None:
            return []
        args: list[Any] = [
            self.prefix,
            _ms(now),
            len(actions),
            "1" if entry is not None else "0",
            entry or b"",
            self.retention_ms,
        ]
        for a in actions:
            suggest = a.mode == "suggest"
            args += [
                "G" if suggest else "F",
                self.key(a),
                max(1, round(a.window_hours * 3_600_000)),
                max(1, round(a.expires_hours * 3_600_000)),
                new_suggestion_id() if suggest else "",
                json.dumps(a.params, sort_keys=True) if suggest else "",
                a.reason if suggest else "",
                a.tier or "",
                a.order_id,
                a.action,
                a.rule,
            ]
        outcomes = []
        for raw in self._record(args=args):
            text = raw.decode() if isinstance(raw, bytes) else raw
            outcomes.append(Outcome(STATUS_BY_CODE[text[0]], text[1:] or None))
        return outcomes

    def claim(self, actions: Sequence[Action], now: datetime) -> list[bool]:
        return [o.fired for o in self.record(actions, now)]

    # ---- the journal --------------------------------------------------------------------------

    @property
    def _journal(self) -> str:
        return f"{self.prefix}:journal"

    def read_journal(self, limit: int, *, first: int | None = None) -> list[JournalEntry]:
        start = "-" if first is None else _stream_id(first)
        rows = self.client.xrange(self._journal, min=start, max="+", count=limit)
        return [
            JournalEntry(_stream_key(sid), fields[b"entry"], fields[b"statuses"].decode())
            for sid, fields in rows
        ]

    def delete_journal(self, up_to: int) -> None:
        # Entries with ids below the next possible id after up_to: exact trimming.
        self.client.xtrim(self._journal, minid=_stream_id(up_to + 1), approximate=False)

    @contextlib.contextmanager
    def drain_lock(self) -> Iterator[bool]:
        """A lease (``SET NX PX``, 5 min) released only by its holder: a crashed drainer's lease
        runs out by itself."""
        key, token = f"{self.prefix}:drain-lock", uuid.uuid4().hex
        if not self.client.set(key, token, nx=True, px=300_000):
            yield False
            return
        try:
            yield True
        finally:
            self._release(keys=[key], args=[token])

    # ---- suggestions --------------------------------------------------------------------------

    def suggestions(
        self,
        now: datetime,
        *,
        status: SuggestionStatus | None = "pending",
        action: str | None = None,
        tier: str | None = None,
        min_age_s: float | None = None,
        max_age_s: float | None = None,
        limit: int = 100,
    ) -> list[Suggestion]:
        now_s = now.timestamp()
        index = f"{self.prefix}:sg:index"
        low = "-inf" if max_age_s is None else _ms_s(now_s - max_age_s)
        high = "+inf" if min_age_s is None else _ms_s(now_s - min_age_s)
        ids = [i.decode() for i in self.client.zrangebyscore(index, low, high)]
        found = self._load(ids, now_s)
        gone = [sid for sid in ids if sid not in found]
        if gone:  # expired hashes: drop them from the index
            self.client.zrem(index, *gone)
        out = []
        for sid in ids:
            s = found.get(sid)
            if s is None or (status is not None and s.status != status):
                continue
            if (action is not None and s.action != action) or (tier is not None and s.tier != tier):
                continue
            out.append(s)
            if len(out) >= limit:
                break
        return out

    def _load(self, ids: Sequence[str], now_s: float) -> dict[str, Suggestion]:
        pipe = self.client.pipeline(transaction=False)
        for sid in ids:
            pipe.hgetall(f"{self.prefix}:sg:{sid}")
        out = {}
        for sid, raw in zip(ids, pipe.execute(), strict=True):
            if raw:
                out[sid] = _suggestion(sid, {k.decode(): v.decode() for k, v in raw.items()}, now_s)
        return out

    def decide(
        self,
        ids: Sequence[str],
        decision: Decision,
        *,
        decider: str,
        reason: str,
        now: datetime,
    ) -> list[Decided]:
        unique = list(dict.fromkeys(ids))
        ok, detail = self._decide(
            args=[self.prefix, _ms(now), decision, decider, reason, len(unique), *unique]
        )
        if not ok:
            problems: dict[str, Problem] = {}
            for item in detail:
                sid, problem = (item.decode() if isinstance(item, bytes) else item).split("=")
                problems[sid] = problem  # type: ignore[assignment]
            raise SuggestionError(problems, self._load(unique, now.timestamp()))
        found = self._load(unique, now.timestamp())
        return [Decided(found[sid], bool(f)) for sid, f in zip(unique, detail, strict=True)]

    def close(self) -> None:
        self.client.close()


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _ms_s(seconds: float) -> int:
    return round(seconds * 1000)


def _stream_key(stream_id: bytes | str) -> int:
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, seq = text.split("-")
    return int(ms) * _SEQ + int(seq)


def _stream_id(key: int) -> str:
    ms, seq = divmod(key, _SEQ)
    return f"{ms}-{seq}"


def _suggestion(sid: str, h: dict[str, str], now_s: float) -> Suggestion:
    decided = h.get("decided_ms")
    return Suggestion(
        sid,
        h["order_id"],
        h["action"],
        h["rule"],
        json.loads(h["params"]),
        h["reason"],
        h.get("tier") or None,
        effective_status(h["status"], int(h["expires_ms"]) / 1000, now_s),
        int(h["created_ms"]) / 1000,
        int(h["expires_ms"]) / 1000,
        int(decided) / 1000 if decided else None,
        h.get("decided_by"),
        h.get("decision_reason"),
    )
