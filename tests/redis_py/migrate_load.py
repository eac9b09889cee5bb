"""A redis-py RedisCluster load during slot migrations (tests/cluster_migrate.rs).

Usage:
  migrate_load.py HOST PORT load OUT STOP   SETs mig:{i} = i for unique i and
      INCRs 20 counters ctr:{k} in turn, appending each acknowledged reply to
      OUT ("s i" or "c k"), until the file STOP exists. Any exception is
      counted and printed ("exceptions N" then the first few), never retried
      by hand: redis-py's own MOVED and TRYAGAIN handling is what is tested.
  migrate_load.py HOST PORT verify OUT      reads every acknowledged key back
      and compares each counter with its acknowledged INCRs; prints "ok".
  migrate_load.py HOST PORT verify-sets OUT  the same for the SETs only, while
      the load still runs (bench/resize.sh VERIFY_EACH=1).
"""
import os
import sys
import time

from redis.cluster import RedisCluster

host, port, mode, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rc = RedisCluster(host=host, port=port, socket_timeout=5)

if mode == "load":
    stop = sys.argv[5]
    errors = []
    i = 0
    with open(out, "a", buffering=1) as f:
        while not os.path.exists(stop):
            try:
                if rc.set(f"mig:{i}", str(i)) is True:
                    f.write(f"s {i}\n")
                k = i % 20
                rc.incr(f"ctr:{k}")
                f.write(f"c {k}\n")
            except Exception as e:  # counted: the test wants none
                errors.append(f"{i} at {time.time():.3f}: {type(e).__name__}: {e}")
            i += 1
    print(f"exceptions {len(errors)}")
    for e in errors[:5]:
        print(e)
else:
    sets, incrs = [], [0] * 20
    text = open(out).read()
    if mode == "verify-sets":  # the last line may be half written
        text = text[: text.rfind("\n") + 1]
    for line in text.splitlines():
        kind, n = line.split()
        if kind == "s":
            sets.append(int(n))
        else:
            incrs[int(n)] += 1
    assert sets, "nothing was acknowledged"
    wrong = [i for i in sets if rc.get(f"mig:{i}") != str(i).encode()]
    assert not wrong, f"{len(wrong)} of {len(sets)} acknowledged SETs lost, first {wrong[:5]}"
    if mode == "verify-sets":
        print("ok")
        sys.exit(0)
    counters = [int(rc.get(f"ctr:{k}") or 0) for k in range(20)]
    assert counters == incrs, f"counters {counters} != acknowledged INCRs {incrs}"
    print("ok")
