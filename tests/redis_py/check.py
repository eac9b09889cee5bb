"""Drives Tessera's RESP port with redis-py, the most used Python client.

Run by tests/redis_py.rs: `python check.py PORT`. Prints "ok" when every
check passed; any failed assertion exits non-zero with a traceback.
"""
import sys
import threading
import time

import redis

port = int(sys.argv[1])


def client(**kw):
    return redis.Redis(host="127.0.0.1", port=port, **kw)


r = client(decode_responses=True)

# Strings and keys.
assert r.ping()
assert r.set("s", "v", ex=100)
assert r.get("s") == "v"
assert 99 <= r.ttl("s") <= 100
assert r.incr("n") == 1 and r.incrby("n", 41) == 42
assert r.incrbyfloat("f", 1.5) == 1.5
assert r.mset({"{m}a": "1", "{m}b": "2"})
assert r.mget("{m}a", "{m}b", "{m}zz") == ["1", "2", None]
assert r.append("s", "w") == 2 and r.getrange("s", 0, 0) == "v"
assert r.exists("s", "n", "nope") == 2
assert r.type("s") == "string"
assert r.delete("s", "n") == 2
assert r.set("nx", "1", nx=True) and r.set("nx", "2", nx=True) is None

# HyperLogLog: redis-server's own estimate for these 10,000 elements is
# 10,066 (same registers, same estimator); the value is Redis's string.
assert r.pfadd("{p}1", *[f"x{i}" for i in range(5000)]) == 1
assert r.pfadd("{p}2", *[f"x{i}" for i in range(5000, 10000)]) == 1
assert r.pfadd("{p}1", "x1") == 0
assert r.pfmerge("{p}all", "{p}1", "{p}2")
assert r.pfcount("{p}all") == r.pfcount("{p}1", "{p}2")
assert r.pfcount("{p}all") == 10066, r.pfcount("{p}all")
assert r.getrange("{p}all", 0, 3) == "HYLL" and r.strlen("{p}all") == 12304

# Hashes.
assert r.hset("h", mapping={"a": "1", "b": "2"}) == 2
assert r.hgetall("h") == {"a": "1", "b": "2"}
assert r.hincrby("h", "a", 5) == 6
assert r.hmget("h", ["a", "b", "c"]) == ["6", "2", None]
assert sorted(r.hkeys("h")) == ["a", "b"]
assert dict(r.hscan_iter("h")) == {"a": "6", "b": "2"}
r.hset("bigh", mapping={f"f{i}": str(i) for i in range(100)})
assert len(dict(r.hscan_iter("bigh", count=7))) == 100
r.zadd("bigz", {f"m{i}": i for i in range(50)})
assert len(list(r.zscan_iter("bigz", count=5))) == 50

# Sets.
assert r.sadd("{s}1", "a", "b", "c") == 3
assert r.sadd("{s}2", "b", "c", "d") == 3
assert r.sinter("{s}1", "{s}2") == {"b", "c"}
assert r.sismember("{s}1", "a")
assert r.scard("{s}1") == 3
assert set(r.sscan_iter("{s}1")) == {"a", "b", "c"}

# Sorted sets.
assert r.zadd("z", {"a": 1, "b": 2.5, "c": 3}) == 3
assert r.zrange("z", 0, -1, withscores=True) == [("a", 1.0), ("b", 2.5), ("c", 3.0)]
assert r.zscore("z", "b") == 2.5
assert r.zrangebyscore("z", "(1", "+inf") == ["b", "c"]
assert r.zincrby("z", 1, "a") == 2.0
assert r.zpopmin("z") == [("a", 2.0)]
assert r.zrank("z", "c") == 1

# Lists.
assert r.rpush("l", "a", "b", "c") == 3
assert r.lrange("l", 0, -1) == ["a", "b", "c"]
assert r.lpop("l") == "a" and r.rpop("l") == "c"
assert r.llen("l") == 1

# Transactions: MULTI/EXEC through a pipeline, and WATCH.
with r.pipeline(transaction=True) as p:
    p.set("{t}a", "1").incr("{t}a").hset("{t}h", "f", "v")
    assert p.execute() == [True, 2, 1]
r2 = client(decode_responses=True)
with r.pipeline() as p:
    p.watch("{t}a")
    r2.set("{t}a", "changed")
    p.multi()
    p.set("{t}a", "mine")
    try:
        p.execute()
        raise AssertionError("EXEC should have been aborted by WATCH")
    except redis.WatchError:
        pass
assert r.get("{t}a") == "changed"
# Keys of two slots (on one node): one commit across them.
with r.pipeline(transaction=True) as p:
    p.set("{t}a", "x").set("{u}b", "y")
    assert p.execute() == [True, True]
assert r.mget("{t}a", "{u}b") == ["x", "y"]
r.set("{t}a", "changed")

# A command that fails inside a transaction answers its error in its
# place; the others apply (raise_on_error=False returns the exception).
with r.pipeline(transaction=True) as p:
    p.set("{t}s", "str").lpush("{t}s", "x").incr("{t}n").ping()
    got = p.execute(raise_on_error=False)
    assert got[0] is True and got[2] == 1 and got[3] is True, got
    assert isinstance(got[1], redis.ResponseError) and "WRONGTYPE" in str(got[1]), got
assert r.get("{t}n") == "1" and r.type("{t}s") == "string"

# Scripts: redis-py's Script object (EVALSHA, then EVAL after NOSCRIPT),
# a rate limiter of the usual shape, and a script inside a pipeline.
limiter = r.register_script("""
local n = redis.call('incr', KEYS[1])
if n == 1 then redis.call('pexpire', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then return 0 end
return 1
""")
assert [limiter(keys=["{rl}user:1"], args=[3, 60000]) for _ in range(5)] == [1, 1, 1, 0, 0]
assert 0 < r.pttl("{rl}user:1") <= 60000
r.script_flush()
assert limiter(keys=["{rl}user:2"], args=[1, 60000]) == 1
with r.pipeline(transaction=True) as p:
    p.set("{rl}k", "5")
    p.eval("return redis.call('incrby', KEYS[1], ARGV[1])", 1, "{rl}k", 10)
    assert p.execute() == [True, 15]
assert r.script_exists(limiter.sha) == [True]

# Errors come back as Python exceptions with Redis's text.
r.hset("wrong", "f", "v")
try:
    r.get("wrong")
    raise AssertionError("GET on a hash should fail")
except redis.ResponseError as e:
    assert str(e).startswith("WRONGTYPE"), e

# Blocking pops: a timeout, and a pop woken by a push from another client.
assert r.blpop(["{q}empty"], timeout=0.1) is None
def push_later():
    time.sleep(0.2)
    client().rpush("{q}jobs", "job1")
threading.Thread(target=push_later).start()
assert r.blpop(["{q}jobs"], timeout=10) == ("{q}jobs", "job1")

# Pub/sub across connections (which may land on different cores).
sub = client(decode_responses=True).pubsub()
sub.subscribe("news")
sub.psubscribe("n*")
deadline = time.time() + 10
while time.time() < deadline:
    m = sub.get_message(timeout=1)
    if m and m["type"] == "psubscribe":
        break
for i in range(20):
    assert r.publish("news", f"m{i}") == 2
got = []
while len(got) < 40 and time.time() < deadline:
    m = sub.get_message(timeout=1)
    if m and m["type"] in ("message", "pmessage"):
        got.append((m["type"], m["data"]))
assert [d for t, d in got if t == "message"] == [f"m{i}" for i in range(20)], got
assert [d for t, d in got if t == "pmessage"] == [f"m{i}" for i in range(20)], got
sub.close()

# RESP3 (HELLO 3) with redis-py's protocol=3.
r3 = client(decode_responses=True, protocol=3)
r3.hset("h3", mapping={"x": "1"})
assert r3.hgetall("h3") == {"x": "1"}
assert r3.zadd("z3", {"m": 1.5}) == 1 and r3.zscore("z3", "m") == 1.5

# Databases: redis://host/N clients (redis-py sends SELECT on connect),
# pipelines inside MULTI, MOVE, FLUSHDB, SCAN of one database.
d3 = redis.Redis.from_url(f"redis://127.0.0.1:{port}/3", decode_responses=True)
d0 = redis.Redis.from_url(f"redis://127.0.0.1:{port}/0", decode_responses=True)
d3.set("dbkey", "three")
d0.set("dbkey", "zero")
assert d3.get("dbkey") == "three" and d0.get("dbkey") == "zero"
with d3.pipeline(transaction=True) as p:
    p.incr("{d}n").incr("{d}n").hset("{d}h", "f", "v")
    assert p.execute() == [1, 2, 1]
assert d0.get("{d}n") is None and d3.get("{d}n") == "2"
assert d3.move("{d}h", 4) is True
d4 = redis.Redis.from_url(f"redis://127.0.0.1:{port}/4", decode_responses=True)
assert d4.hgetall("{d}h") == {"f": "v"} and d3.exists("{d}h") == 0
assert sorted(d3.scan_iter()) == ["dbkey", "{d}n"]
assert d3.dbsize() == 2
assert d3.flushdb() and d3.dbsize() == 0 and d0.get("dbkey") == "zero"
try:
    redis.Redis.from_url(f"redis://127.0.0.1:{port}/16").ping()
    raise AssertionError("database 16 accepted")
except redis.ResponseError as e:
    assert "DB index is out of range" in str(e), e

print("ok")
