"""redis-py's own key parser against Tessera: `CommandsParser` reads
`COMMAND` at start-up and finds each command's keys from the key positions,
or with `COMMAND GETKEYS` for movable keys (cluster clients route by it).

Run by tests/redis_py.rs: `python commands_parser.py PORT`. Prints "ok"
when every check passed; a failed assertion exits non-zero.
"""
import sys

import redis
from redis._parsers import CommandsParser

port = int(sys.argv[1])
r = redis.Redis(host="127.0.0.1", port=port)
parser = CommandsParser(r)


def keys(*args):
    found = parser.get_keys(r, *args)
    return None if found is None else [k.decode() if isinstance(k, bytes) else k for k in found]


cases = [
    (("SET", "k", "v", "EX", "10"), ["k"]),
    (("MSET", "a", "1", "b", "2"), ["a", "b"]),
    (("ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"), ["d", "a", "b"]),
    (("ZINTERSTORE", "d", "3", "a", "b", "c", "AGGREGATE", "MAX"), ["d", "a", "b", "c"]),
    (("ZUNION", "2", "a", "b", "WITHSCORES"), ["a", "b"]),
    (("BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"), ["src", "dst"]),
    # A sample of every family.
    (("GET", "k"), ["k"]),
    (("MGET", "a", "b", "c"), ["a", "b", "c"]),
    (("INCRBY", "n", "5"), ["n"]),
    (("DEL", "a", "b"), ["a", "b"]),
    (("EXPIRE", "k", "10"), ["k"]),
    (("RENAME", "a", "b"), ["a", "b"]),
    (("HSET", "h", "f", "v"), ["h"]),
    (("HGETALL", "h"), ["h"]),
    (("SADD", "s", "m"), ["s"]),
    (("SINTERSTORE", "d", "a", "b"), ["d", "a", "b"]),
    (("ZADD", "z", "1", "m"), ["z"]),
    (("ZRANGE", "z", "0", "-1"), ["z"]),
    (("LPUSH", "l", "x", "y"), ["l"]),
    (("LMOVE", "a", "b", "LEFT", "RIGHT"), ["a", "b"]),
    (("BLPOP", "a", "b", "0"), ["a", "b"]),
    (("RPOPLPUSH", "a", "b"), ["a", "b"]),
    (("PUBLISH", "ch", "msg"), ["ch"]),
    (("PING",), None),
]
for args, want in cases:
    got = keys(*args)
    assert got == want, f"{args}: {got} != {want}"

zunionstore = parser.commands["zunionstore"]
assert "movablekeys" in zunionstore["flags"], zunionstore
assert "write" in zunionstore["flags"], zunionstore
assert parser.commands["get"]["first_key_pos"] == 1
# Every command of COMMAND is one of COMMAND COUNT.
assert len(parser.commands) == r.command_count(), (len(parser.commands), r.command_count())
# An unknown command is an error, not a guess.
try:
    keys("NOSUCHCOMMAND", "k")
    raise AssertionError("an unknown command found keys")
except redis.RedisError:
    pass
print("ok")
