"""A write load through redis-py's RedisCluster (tests/cluster.rs).

Usage:
  cluster_load.py HOST PORT load OUT STOP  writes load:{i} = i, i = 0, 1, ...,
      appending each acknowledged i to OUT, until the file STOP exists;
      errors (NOREPLICAS, CLUSTERDOWN, a connection lost) leave i unacknowledged.
  cluster_load.py HOST PORT verify OUT     reads every acknowledged key back;
      prints "ok" when each has its value.
"""
import os
import sys
import time

from redis.cluster import RedisCluster

host, port, mode, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def client():
    while True:
        try:
            return RedisCluster(host=host, port=port, socket_timeout=2)
        except Exception:  # a node of the start-up list may be down
            time.sleep(0.1)


if mode == "load":
    stop = sys.argv[5]
    rc = client()
    i = 0
    with open(out, "a", buffering=1) as f:
        while not os.path.exists(stop):
            try:
                if rc.set(f"load:{i}", str(i)) is True:
                    f.write(f"{i}\n")
            except Exception:
                time.sleep(0.02)
            i += 1
    print("ok")
else:
    rc = client()
    acked = [int(x) for x in open(out).read().split()]
    wrong = [i for i in acked if rc.get(f"load:{i}") != str(i).encode()]
    assert acked, "nothing was acknowledged"
    assert not wrong, f"{len(wrong)} of {len(acked)} acknowledged writes lost, first {wrong[:5]}"
    print("ok")
