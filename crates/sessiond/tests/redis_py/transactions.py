"""Transactions as redis-py users write them, against sessiond.

Run by crates/sessiond/tests/redis_py.rs as `python3 transactions.py PORT PASSWORD`: every step
asserts, and the script prints `ok` and exits 0 when all passed. redis-py's pipelines send
MULTI ... EXEC by default (`transaction=True`): Django's Redis cache does its `set_many` that
way, and session stores update a session with the WATCH / MULTI / EXEC retry loop of
`Redis.transaction`. Each part runs in RESP2 and RESP3.
"""

import pickle
import sys
import threading

import redis

PORT = int(sys.argv[1])
PASSWORD = sys.argv[2]
TIMEOUT = 1209600


def client(protocol):
    return redis.Redis(host="127.0.0.1", port=PORT, password=PASSWORD, protocol=protocol)


def pipelines(r):
    """A default pipeline: one transaction, every reply in order."""
    with r.pipeline() as pipe:
        pipe.set("tx:a", 1).incr("tx:a").get("tx:a").expire("tx:a", 100).ttl("tx:a")
        assert pipe.execute() == [True, 2, b"2", True, 100]
    # Django's RedisCacheClient.set_many: MSET and an EXPIRE per key, in one transaction.
    data = {f":1:many:{i}": pickle.dumps({"visits": i}) for i in range(20)}
    with r.pipeline() as pipe:
        pipe.mset(data)
        for key in data:
            pipe.expire(key, TIMEOUT)
        assert pipe.execute() == [True] + [True] * 20
    assert [pickle.loads(v)["visits"] for v in r.mget(list(data))] == list(range(20))
    # A runtime error stays in its place; the other commands ran.
    r.set("tx:text", "abc")
    with r.pipeline() as pipe:
        pipe.set("tx:b", "1").incr("tx:text").set("tx:c", "2")
        try:
            pipe.execute()
            raise AssertionError("INCR of text succeeded")
        except redis.ResponseError as error:
            assert "not an integer" in str(error), error
    assert r.get("tx:b") == b"1" and r.get("tx:c") == b"2"
    with r.pipeline() as pipe:
        results = pipe.set("tx:d", "1").incr("tx:text").execute(raise_on_error=False)
        assert results[0] is True and isinstance(results[1], redis.ResponseError), results
    # A command refused while queued discards the whole transaction.
    with r.pipeline() as pipe:
        pipe.set("tx:e", "1").execute_command("NOSUCHCOMMAND", "x")
        try:
            pipe.execute()
            raise AssertionError("a transaction with an unknown command ran")
        except redis.ResponseError as error:
            assert "unknown command" in str(error), error
    assert r.get("tx:e") is None


def optimistic_updates(r, other):
    """WATCH, read, MULTI, write, EXEC; retried when another client changed the key."""

    def add_visit(pipe):
        session = pickle.loads(pipe.get("tx:session") or pickle.dumps({"visits": 0}))
        session["visits"] += 1
        pipe.multi()
        pipe.set("tx:session", pickle.dumps(session), ex=TIMEOUT)

    r.delete("tx:session")
    r.transaction(add_visit, "tx:session")
    r.transaction(add_visit, "tx:session")
    assert pickle.loads(r.get("tx:session"))["visits"] == 2

    # A write by another client between WATCH and EXEC: EXEC runs nothing (WatchError).
    with r.pipeline() as pipe:
        pipe.watch("tx:session")
        pipe.get("tx:session")
        other.set("tx:session", pickle.dumps({"visits": 100}))
        pipe.multi()
        pipe.set("tx:session", pickle.dumps({"visits": 3}))
        try:
            pipe.execute()
            raise AssertionError("EXEC ran although the watched key changed")
        except redis.WatchError:
            pass
    assert pickle.loads(r.get("tx:session"))["visits"] == 100
    # Without one, it runs; UNWATCH (reset) forgets the key.
    with r.pipeline() as pipe:
        pipe.watch("tx:session")
        pipe.multi()
        pipe.delete("tx:session")
        assert pipe.execute() == [1]
    with r.pipeline() as pipe:
        pipe.watch("tx:session")
        pipe.unwatch()
        other.set("tx:session", "x")
        pipe.multi()
        pipe.get("tx:session")
        assert pipe.execute() == [b"x"]


def concurrent_increments(protocol):
    """Threads adding to one counter with WATCH retries never lose an update."""
    threads, rounds = 4, 40
    client(protocol).set("tx:counter", 0)

    def add_one(pipe):
        value = int(pipe.get("tx:counter"))
        pipe.multi()
        pipe.set("tx:counter", value + 1)

    def work():
        r = client(protocol)
        for _ in range(rounds):
            r.transaction(add_one, "tx:counter")

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert int(client(protocol).get("tx:counter")) == threads * rounds


def main():
    for protocol in (2, 3):
        r = client(protocol)
        r.flushdb()
        pipelines(r)
        optimistic_updates(r, client(protocol))
        concurrent_increments(protocol)
    print("ok")


if __name__ == "__main__":
    main()
