"""redis-py's RedisCluster against a Tessera cluster (tests/cluster.rs).

Usage: cluster.py HOST PORT write|read. `write` sets 10,000 keys spread over
every slot and reads them back; `read` only reads them (after a restart).
Prints "ok" when every check passed.
"""
import sys

from redis.cluster import RedisCluster

host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rc = RedisCluster(host=host, port=port)
N = 10000
if mode == "write":
    for i in range(N):
        assert rc.set(f"key:{i}", f"v{i}") is True, i
wrong = [i for i in range(N) if rc.get(f"key:{i}") != f"v{i}".encode()]
assert not wrong, f"{len(wrong)} keys read back wrong, first {wrong[:5]}"
slots = {rc.keyslot(f"key:{i}") for i in range(N)}
assert len(slots) > 5000, len(slots)
nodes = rc.get_nodes()
assert sorted(n.server_type for n in nodes) == ["primary"] * 3 + ["replica"] * 3, nodes
# A multi-slot MGET is split by the client; a hashtag keeps keys together.
assert rc.mset_nonatomic({"{t}a": "1", "{t}b": "2"}) is not None
assert rc.mget("{t}a", "{t}b") == [b"1", b"2"]
print("ok")
