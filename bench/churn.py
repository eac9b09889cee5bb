#!/usr/bin/env python3
"""Collections under churn (issue 16): pop and delete rates per second.

Runs the same phases against every server given (one redis-py client,
one connection, no pipelining) and prints, per phase, the operations done
in each second:

  zpopmin, zpopmax, spop, lpop, rpop
      fill one key with FILL members (enough that SECONDS of pops never
      drain it), then pop one at a time for SECONDS.
  zadd+zpopmin
      a sorted set of 100 members used as a queue: each step adds one
      member and pops the lowest. Steps per second.
  hdel+hgetall
      a hash of 100 fields; each step deletes one field, adds a new one and
      reads the whole hash (HGETALL), so every step leaves a deletion inside
      the hash's range. Steps per second.

Usage: churn.py [--fill N] [--seconds S] NAME=PORT [NAME=PORT ...]
"""

import argparse
import time

import redis

BATCH = 1000


def fill(r, kind, key, n):
    r.delete(key)
    p = r.pipeline(transaction=False)
    for start in range(0, n, BATCH):
        members = [f"member:{i:09d}" for i in range(start, min(n, start + BATCH))]
        if kind == "zset":
            p.zadd(key, {m: i for i, m in enumerate(members, start)})
        elif kind == "set":
            p.sadd(key, *members)
        else:
            p.rpush(key, *members)
        p.execute()


def per_second(step, seconds):
    """Runs `step` until `seconds` have passed; returns ops in each second.
    A step returns how many operations it did (0 ends the phase early)."""
    counts = [0] * seconds
    start = time.monotonic()
    while True:
        s = int(time.monotonic() - start)
        if s >= seconds:
            return counts
        n = step()
        if n == 0:
            return counts
        counts[s] += n


def run(r, fill_n, seconds):
    out = {}
    pops = [
        ("zpopmin", "zset", lambda k: r.zpopmin(k)),
        ("zpopmax", "zset", lambda k: r.zpopmax(k)),
        ("spop", "set", lambda k: r.spop(k)),
        ("lpop", "list", lambda k: r.lpop(k)),
        ("rpop", "list", lambda k: r.rpop(k)),
    ]
    for name, kind, pop in pops:
        key = f"churn:{name}"
        fill(r, kind, key, fill_n)

        def step():
            v = pop(key)
            if v is None or v == []:
                raise RuntimeError(f"{name}: {key} ran empty; raise --fill")
            return 1

        out[name] = per_second(step, seconds)
        r.delete(key)

    key = "churn:queue"
    r.delete(key)
    r.zadd(key, {f"job{i:09d}": i for i in range(100)})
    qnext = [100]

    def qstep():
        i = qnext[0]
        qnext[0] += 1
        r.zadd(key, {f"job{i:09d}": i})
        if r.zpopmin(key)[0][0] != f"job{i - 100:09d}".encode():
            raise RuntimeError("zadd+zpopmin: popped out of order")
        return 1

    out["zadd+zpopmin"] = per_second(qstep, seconds)
    r.delete(key)

    key = "churn:hash"
    r.delete(key)
    r.hset(key, mapping={f"f{i}": "v" for i in range(100)})
    nxt = [100]

    def hstep():
        i = nxt[0]
        nxt[0] += 1
        r.hdel(key, f"f{i - 100}")
        r.hset(key, f"f{i}", "v")
        if len(r.hgetall(key)) != 100:
            raise RuntimeError("hdel+hgetall: the hash does not hold 100 fields")
        return 1

    out["hdel+hgetall"] = per_second(hstep, seconds)
    r.delete(key)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fill", type=int, default=200000)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("servers", nargs="+", help="NAME=PORT")
    a = ap.parse_args()
    results = {}
    for spec in a.servers:
        name, port = spec.split("=")
        r = redis.Redis(host="127.0.0.1", port=int(port), socket_timeout=30)
        results[name] = run(r, a.fill, a.seconds)
    names = list(results)
    print(f"| phase | {' | '.join(f'{n}: per second' for n in names)} | "
          f"{' | '.join(f'{n}: last/first' for n in names)} |")
    print("|---|" + "---|" * (2 * len(names)))
    for phase in results[names[0]]:
        cells = [", ".join(f"{c:,}" for c in results[n][phase]) for n in names]
        ratios = []
        for n in names:
            c = results[n][phase]
            ratios.append(f"{c[-1] / c[0]:.2f}" if c[0] else "-")
        print(f"| {phase} | {' | '.join(cells)} | {' | '.join(ratios)} |")


if __name__ == "__main__":
    main()
