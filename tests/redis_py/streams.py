"""redis-py's stream API against Tessera: XADD/XRANGE/XREAD, consumer
groups, XREADGROUP BLOCK woken by another client, XACK, XPENDING, and
XAUTOCLAIM of a dead consumer's entries. Prints "ok"."""

import sys
import threading
import time

import redis

port = int(sys.argv[1])


def client():
    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True)


r = client()
r.flushall()

# Entries and ranges.
ids = [r.xadd("orders", {"item": f"i{n}", "qty": str(n)}) for n in range(5)]
assert r.xlen("orders") == 5
first = r.xrange("orders", count=2)
assert [e[0] for e in first] == ids[:2], first
assert first[0][1] == {"item": "i0", "qty": "0"}, first
assert [e[0] for e in r.xrevrange("orders", count=1)] == [ids[-1]]
got = r.xread({"orders": ids[2]})
assert [e[0] for e in got[0][1]] == ids[3:], got
assert r.xread({"orders": "$"}) == []
assert r.xtrim("orders", maxlen=3, approximate=False) == 2
assert r.xdel("orders", ids[2]) == 1
assert r.xlen("orders") == 2

# A worker group; a reader blocked on new entries is woken by a producer.
r.xgroup_create("jobs", "workers", id="$", mkstream=True)
result = {}


def blocked_reader():
    result["got"] = client().xreadgroup("workers", "w1", {"jobs": ">"}, count=1, block=5000)


t = threading.Thread(target=blocked_reader)
t.start()
deadline = time.time() + 5
while time.time() < deadline and sum(
    int(v) for k, v in r.info("clients").items() if k.endswith("_blocked_clients")
) < 1:
    time.sleep(0.01)
job = r.xadd("jobs", {"task": "resize", "image": "a.png"})
t.join(10)
got = result.get("got")
assert got and got[0][0] == "jobs" and got[0][1][0][0] == job, got
assert got[0][1][0][1] == {"task": "resize", "image": "a.png"}

# w1 takes two more and dies without acknowledging them.
more = [r.xadd("jobs", {"task": f"t{n}"}) for n in range(3)]
assert len(r.xreadgroup("workers", "w1", {"jobs": ">"}, count=2)[0][1]) == 2
summary = r.xpending("jobs", "workers")
assert summary["pending"] == 3, summary
assert summary["min"] == job and summary["max"] == more[1], summary
assert summary["consumers"] == [{"name": "w1", "pending": 3}], summary
ext = r.xpending_range("jobs", "workers", min="-", max="+", count=10)
assert [p["message_id"] for p in ext] == [job] + more[:2], ext
assert all(p["consumer"] == "w1" and p["times_delivered"] == 1 for p in ext), ext

# w1 acknowledges one, then dies; w2 claims the rest once they are idle.
assert r.xack("jobs", "workers", job) == 1
time.sleep(0.1)
cursor, claimed, deleted = r.xautoclaim("jobs", "workers", "w2", min_idle_time=50, start_id="0-0")
assert [c[0] for c in claimed] == more[:2], claimed
assert cursor == "0-0" and deleted == [], (cursor, deleted)
ext = r.xpending_range("jobs", "workers", min="-", max="+", count=10)
assert all(p["consumer"] == "w2" and p["times_delivered"] == 2 for p in ext), ext
# The undelivered one is next for anyone.
nxt = r.xreadgroup("workers", "w3", {"jobs": ">"})
assert [e[0] for e in nxt[0][1]] == [more[2]], nxt
assert r.xack("jobs", "workers", *more) == 3
assert r.xpending("jobs", "workers")["pending"] == 0

groups = r.xinfo_groups("jobs")
assert groups[0]["name"] == "workers" and groups[0]["pending"] == 0, groups
assert groups[0]["last-delivered-id"] == more[2] and groups[0]["lag"] == 0, groups
names = sorted(c["name"] for c in r.xinfo_consumers("jobs", "workers"))
assert names == ["w1", "w2", "w3"], names
info = r.xinfo_stream("jobs")
assert info["length"] == 4 and info["groups"] == 1, info
assert info["last-entry"][0] == more[2], info
assert r.xgroup_delconsumer("jobs", "workers", "w1") == 0
try:
    r.xgroup_create("jobs", "workers")
    raise AssertionError("BUSYGROUP expected")
except redis.ResponseError as e:
    assert "BUSYGROUP Consumer Group name already exists" in str(e), e
try:
    r.xreadgroup("nogroup", "c", {"jobs": ">"})
    raise AssertionError("NOGROUP expected")
except redis.ResponseError as e:
    assert "No such key 'jobs' or consumer group 'nogroup'" in str(e), e

# A pipeline inside MULTI.
with r.pipeline() as p:
    p.xadd("jobs", {"task": "x"}, id="9999999999999-0")
    p.xlen("jobs")
    p.xrange("jobs", min="9999999999999-0")
    res = p.execute()
assert res[0] == "9999999999999-0" and res[1] == 5 and len(res[2]) == 1, res

print("ok")
