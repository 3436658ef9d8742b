"""What Django's Redis cache sessions (and other redis-py session stores) do, against sessiond.

Run by crates/sessiond/tests/redis_py.rs as `python3 session_store.py PORT PASSWORD`: every
step asserts, and the script prints `ok` and exits 0 when all passed. The calls are the ones
Django's `django.core.cache.backends.redis.RedisCacheClient` makes for the session engine
`django.contrib.sessions.backends.cache` (add, get, set, delete, has_key, touch, incr, clear),
with its key format `:1:django.contrib.sessions.cache<session key>` and pickled values.
"""

import pickle
import secrets
import sys
import time

import redis

PORT = int(sys.argv[1])
PASSWORD = sys.argv[2]
KEY_PREFIX = ":1:django.contrib.sessions.cache"
TIMEOUT = 1209600  # SESSION_COOKIE_AGE


def client(**options):
    return redis.Redis(host="127.0.0.1", port=PORT, password=PASSWORD, **options)


def session_cycle(r):
    """A session's life as Django's cache session backend lives it."""
    session_key = secrets.token_hex(16)
    key = KEY_PREFIX + session_key
    data = {"_auth_user_id": "42", "cart": [1, 2, 3], "blob": bytes(range(256))}
    # create(): cache.add() -> SET key value EX timeout NX, retried with a new key if taken.
    assert r.set(key, pickle.dumps(data), ex=TIMEOUT, nx=True) is True
    assert r.set(key, pickle.dumps({}), ex=TIMEOUT, nx=True) is None, "a taken key is refused"
    # exists(): cache.has_key() -> EXISTS.
    assert r.exists(key) == 1
    # load(): cache.get() -> GET, unpickled.
    assert pickle.loads(r.get(key)) == data
    ttl = r.ttl(key)
    assert TIMEOUT - 2 <= ttl <= TIMEOUT, ttl
    # save(): cache.set() -> SET key value EX timeout.
    data["visits"] = 2
    assert r.set(key, pickle.dumps(data), ex=TIMEOUT) is True
    assert pickle.loads(r.get(key))["visits"] == 2
    # touch() -> EXPIRE; touch(timeout=None) -> PERSIST.
    assert r.expire(key, 60) is True
    assert 58 <= r.ttl(key) <= 60
    assert r.persist(key) is True
    assert r.ttl(key) == -1
    # cycle_key(): the data moves to a new key, the old one is deleted.
    new_key = KEY_PREFIX + secrets.token_hex(16)
    assert r.set(new_key, r.get(key), ex=TIMEOUT, nx=True) is True
    assert r.delete(key) == 1
    assert r.exists(key) == 0
    assert r.get(key) is None
    # delete() / flush on logout.
    assert r.delete(new_key) == 1
    assert r.delete(new_key) == 0


def main():
    r = client()
    assert r.ping() is True
    r.flushdb()
    session_cycle(r)

    # The same with RESP3 (HELLO 3 AUTH ...), and in another database.
    r3 = client(protocol=3, db=3)
    assert r3.ping() is True
    session_cycle(r3)
    r3.set("only-in-3", "x")
    assert r.get("only-in-3") is None, "databases are apart"
    assert r3.dbsize() == 1

    # Counters (Django's cache.incr / decr) and values Django stores raw (integers).
    assert r.set(":1:counter", 10) is True
    assert r.incr(":1:counter", 5) == 15
    assert r.decr(":1:counter", 20) == -5
    assert r.incrby(":1:absent", 3) == 3

    # get_many / set_many without a transaction (MGET, and a plain pipeline).
    pipe = r.pipeline(transaction=False)
    for i in range(50):
        pipe.set(f":1:many:{i}", pickle.dumps(i), ex=TIMEOUT)
    assert pipe.execute() == [True] * 50
    values = r.mget([f":1:many:{i}" for i in range(50)] + [":1:missing"])
    assert [pickle.loads(v) for v in values[:50]] == list(range(50))
    assert values[50] is None
    assert r.delete(*[f":1:many:{i}" for i in range(50)]) == 50

    # Listing sessions as connect-redis does (SCAN MATCH prefix COUNT 100).
    for i in range(120):
        r.set(f"sess:{i}", "{}", ex=TIMEOUT)
    listed = set(r.scan_iter(match="sess:*", count=100))
    assert listed == {f"sess:{i}".encode() for i in range(120)}, len(listed)
    assert sorted(r.keys("sess:1?")) == sorted(f"sess:{i}".encode() for i in range(10, 20))

    # A lock as phpredis takes one, expiring by itself.
    assert r.set("lock", "me", nx=True, px=200) is True
    assert r.set("lock", "you", nx=True, px=200) is None
    time.sleep(0.35)
    assert r.set("lock", "you", nx=True, px=200) is True

    # Expiry in real time.
    r.set(":1:short", "v", px=100)
    time.sleep(0.25)
    assert r.get(":1:short") is None
    assert r.exists(":1:short") == 0

    # Errors reach the client as redis-py's exceptions.
    try:
        r.set(":1:text", "abc")
        r.incr(":1:text")
        raise AssertionError("INCR of text succeeded")
    except redis.ResponseError as error:
        assert "not an integer" in str(error), error
    try:
        r.rename(":1:nothing-here", ":1:x")
        raise AssertionError("RENAME of a missing key succeeded")
    except redis.ResponseError as error:
        assert str(error) == "no such key", error

    # Connection commands redis-py exposes.
    r.client_setname("django-web-1")
    assert r.client_getname() == "django-web-1"
    assert isinstance(r.client_id(), int)
    info = r.info()
    assert info["redis_version"] == "7.0.15" and info["role"] == "master", info
    assert "used_memory" in info and info["loading"] == 0
    assert any(c["name"] == "django-web-1" for c in r.client_list())
    assert r.config_get("notify-keyspace-events") == {"notify-keyspace-events": ""}
    assert r.config_set("notify-keyspace-events", "Egx") is True
    assert r.config_get("notify-keyspace-events") == {"notify-keyspace-events": "gxE"}

    # A wrong password is an authentication error, and a client without one is refused.
    try:
        redis.Redis(host="127.0.0.1", port=PORT, password="wrong").ping()
        raise AssertionError("a wrong password was accepted")
    except redis.AuthenticationError:
        pass
    try:
        redis.Redis(host="127.0.0.1", port=PORT).get("k")
        raise AssertionError("a client without a password was served")
    except redis.AuthenticationError:
        pass

    # Django's cache.clear() -> FLUSHDB.
    assert r.flushdb() is True
    assert r.dbsize() == 0
    print("ok")


if __name__ == "__main__":
    main()
