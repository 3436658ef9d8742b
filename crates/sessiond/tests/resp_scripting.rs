//! Lua scripting in the Redis protocol (`EVAL`, `EVALSHA`, `EVAL_RO`, `EVALSHA_RO`,
//! `SCRIPT`), over loopback TCP against the `sessiond` binary, compared with a real
//! redis-server (Debian's 7.0) started by each test; then what sessiond does on purpose
//! apart from Redis (checked on its own), hostile scripts (endless loops, unbounded memory),
//! and phpredis's locked PHP sessions end to end.
//!
//! A missing `/usr/bin/redis-server`, `php` or php-redis fails these tests; it never skips
//! them.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use support::Server;
use support::php::{PHP_TIMEOUT, Php, new_session_id, require_extension, session_settings};
use support::redis::{Client, Reply};
use support::redis_pair::Pair;

/// phpredis's lock release, and its SHA-1.
const UNLOCK: &str = r#"if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end"#;
const UNLOCK_SHA: &str = "b70c2384248f88e6b75b9f89241a180f856ad852";

/// A command of arguments that may hold spaces.
fn cmd(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|arg| arg.as_bytes().to_vec()).collect()
}

/// `EVAL script 0`.
fn eval0(script: &str) -> Vec<Vec<u8>> {
    cmd(&["EVAL", script, "0"])
}

/// Runs each of `scripts` with `EVAL script 0` on both servers; the replies must be the same.
fn same_scripts(pair: &Pair, scripts: &[&str]) {
    let commands: Vec<Vec<Vec<u8>>> = scripts.iter().map(|script| eval0(script)).collect();
    pair.same_args(&commands);
}

/// `EVAL script numkeys key...`: a script declares the keys it touches.
fn evalk(script: &str, keys: &[&str]) -> Vec<Vec<u8>> {
    let numkeys = keys.len().to_string();
    let mut command = cmd(&["EVAL", script, &numkeys]);
    command.extend(keys.iter().map(|key| key.as_bytes().to_vec()));
    command
}

#[test]
fn phpredis_unlock_goes_evalsha_noscript_eval_evalsha_as_in_redis() {
    let pair = Pair::start();
    let key = "PHPREDIS_SESSION:a_LOCK";
    let lock = |token| cmd(&["SET", key, token, "NX", "PX", "30000"]);
    let unlock = |sha: &str, token| cmd(&["EVALSHA", sha, "1", key, token]);
    let upper = UNLOCK_SHA.to_ascii_uppercase();
    pair.same_args(&[
        cmd(&["SCRIPT", "FLUSH"]),
        lock("host|1"),
        unlock(UNLOCK_SHA, "host|1"),
        cmd(&["EVAL", UNLOCK, "1", key, "host|1"]),
        cmd(&["EXISTS", key]),
        cmd(&["SCRIPT", "EXISTS", UNLOCK_SHA]),
        lock("host|1"),
        unlock(UNLOCK_SHA, "host|1"),
        cmd(&["EXISTS", key]),
        // Someone else's lock stays.
        cmd(&["SET", key, "host|2"]),
        unlock(UNLOCK_SHA, "host|1"),
        cmd(&["GET", key]),
        unlock(&upper, "host|2"),
        cmd(&["SCRIPT", "LOAD", UNLOCK]),
    ]);
}

#[test]
fn lua_values_become_replies_as_in_redis() {
    let pair = Pair::start();
    let scripts = [
        "return {1,2,3,'x',nil,4}",
        "return 3.99",
        "return -3.99",
        "return 1e20",
        "return 0/0",
        "return true",
        "return false",
        "return nil",
        "return",
        "",
        "return 1, 2",
        // More results than the Lua stack had room for when the script was called.
        "local t = {} for i = 1, 300 do t[i] = 'v' .. i end return unpack(t)",
        "return cmsgpack.unpack(string.rep(string.char(7), 300))",
        "return 'a\r\nb'",
        "return {ok='fine'}",
        "return {ok='a\r\nb'}",
        "return {ok=1}",
        "return {err='My error'}",
        "return {err='-X y'}",
        "return {err=1}",
        "return {}",
        "return {x=1}",
        "return {1,{2,{3}},'a',true,false}",
        "return {1, 2.7, -0.5, 'x', {ok='s'}, {err='E r'}}",
        "return redis.status_reply('fine')",
        "return redis.status_reply('')",
        "return redis.error_reply('MY err')",
        "return redis.error_reply('-X y')",
        "return redis.error_reply('')",
        "return redis.error_reply('a\r\nb')",
        "return redis.error_reply()",
        "return redis.status_reply(1)",
        "return {double=3.5}",
        "return {double='3.5'}",
        "return {map={a=1}}",
        "return {set={a=true}}",
        "return {big_number='123'}",
        "return {verbatim_string={format='txt', string='x'}}",
        "return redis.REDIS_VERSION",
        "return redis.REDIS_VERSION_NUM",
        "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}",
        "return _VERSION",
    ];
    same_scripts(&pair, &scripts);
}

#[test]
fn replies_become_lua_values_as_in_redis() {
    let pair = Pair::start();
    let all = ["s", "n", "k", "nokey", "a"];
    let mut commands = vec![cmd(&["SET", "s", "text"]), cmd(&["SET", "n", "41"])];
    for script in [
        "return redis.call('get','nokey')",
        "return type(redis.call('get','nokey'))",
        "return redis.call('get','s')",
        "return redis.call('incr','n')",
        "return type(redis.call('incr','n'))",
        "return redis.call('set','k','v')",
        "local r = redis.call('set','k','v'); return type(r) .. r.ok",
        "return redis.call('mget','s','nokey','k')",
        "return #redis.call('mget','s','nokey','k')",
        "local r = redis.call('mget','s','nokey'); return type(r[2])",
        "return redis.call('ping')",
        "return type(redis.call('ping'))",
        "return redis.call('GET', 'a')",
        "return redis.call('echo', 'x')",
        "return redis.pcall('incr', 's')",
        "local r = redis.pcall('incr', 's'); return type(r)",
        "local r = redis.pcall('incr', 's'); return r.err",
        "redis.call('set', 'n', 0.1); return redis.call('get','n')",
        "redis.call('set', 'n', 3); return redis.call('get','n')",
        "redis.call('set', 'n', 1e20); return redis.call('get','n')",
        "redis.call('set', 'n', -2.5e-7); return redis.call('get','n')",
        "return redis.call('ttl', 's')",
        "return redis.call('expire', 's', 100)",
        "return redis.call('ttl', 's')",
        "return redis.call('type', 's')",
        "return redis.call('del', 's', 'n', 'k')",
        "return redis.call('exists', 's', 'n')",
        "return redis.call('select', 1)",
    ] {
        commands.push(evalk(script, &all));
    }
    commands.push(evalk("return redis.call('get', 1.5)", &["1.5"]));
    pair.same_args(&commands);
}

#[test]
fn keys_and_argv_are_bytes_as_in_redis() {
    let pair = Pair::start();
    let key = vec![0xff, 0x00, 0xfe];
    let value = vec![0x80, 0x81, b'\r', b'\n'];
    let eval = |script: &str, args: &[&[u8]]| {
        let mut command = cmd(&["EVAL", script, &args.len().min(1).to_string()]);
        command.extend(args.iter().map(|arg| arg.to_vec()));
        command
    };
    pair.same_args(&[
        eval("return KEYS[1]", &[&key]),
        eval(
            "return redis.call('set', KEYS[1], ARGV[1])",
            &[&key, &value],
        ),
        eval("return redis.call('get', KEYS[1])", &[&key]),
        eval("return {KEYS[1], ARGV[1], #KEYS, #ARGV}", &[&key, &value]),
        eval("return string.len(ARGV[1])", &[&key, &value]),
        cmd(&[
            "EVAL",
            "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}",
            "2",
            "a",
            "b",
            "c",
            "d",
        ]),
        cmd(&["EVAL", "KEYS[1] = 'x'; return KEYS[1]", "1", "a"]),
        vec![b"GET".to_vec(), key.clone()],
    ]);
}

#[test]
fn script_errors_are_worded_as_in_redis() {
    let pair = Pair::start();
    pair.same_args(&[
        cmd(&["SET", "s", "text"]),
        evalk("return redis.call('incr', 's')", &["s"]),
        evalk("return redis.call('incr', 's') .. 'never'", &["s"]),
        evalk("return redis.pcall('incr', 's')", &["s"]),
        evalk(
            "local ok, e = pcall(redis.call, 'incr', 's'); return {tostring(ok), e}",
            &["s"],
        ),
        evalk("return redis.call('get', 's', 'x')", &["s"]),
        eval0("error('x')"),
        eval0("error('x', 0)"),
        eval0("error('x', 2)"),
        eval0("local function f() error('x', 3) end\nf()"),
        eval0("error(12)"),
        eval0("error(nil)"),
        eval0("error({err='X y'})"),
        eval0("local function f() error('deep') end\nf()"),
        eval0("\n\nlocal x = nil + 1"),
        eval0("return redis.call('nosuch')"),
        eval0("return redis.pcall('nosuch')"),
        eval0("return redis.call('get', 'a', 'b')"),
        eval0("return redis.call('client')"),
        eval0("return redis.call('client', 'bogus')"),
        eval0("return redis.call()"),
        eval0("return redis.pcall()"),
        eval0("return redis.call({})"),
        eval0("return redis.call('get', {})"),
        eval0("return {pcall(function() redis.call('nosuch') end)}"),
        eval0("return {pcall(function() error('x') end)}"),
        eval0("return {pcall(function() error({err='X y'}) end)}"),
        eval0("local ok, e = pcall(function() error({a=1}) end); return type(e)"),
        eval0("return {xpcall(function() error('x') end, function(e) return 'handled ' .. e end)}"),
        eval0("return syntax error here"),
        eval0("return +"),
        eval0("if x then"),
        eval0("return ..."),
        eval0("return redis.sha1hex()"),
        eval0("return redis.log()"),
        eval0("return redis.log('x', 'y')"),
        eval0("return redis.log(9, 'y')"),
        eval0("return redis.log(redis.LOG_WARNING, 'from a test')"),
        eval0("return redis.setresp()"),
        eval0("return redis.setresp(4)"),
        eval0("return cjson.decode('[1,')"),
        eval0("return cjson.encode({[1]=1,[20]=3})"),
        eval0("return cjson.encode(function() end)"),
        eval0("return cjson.encode(1/0)"),
        eval0("local t = {} ; t[1] = t; return cjson.encode(t)"),
    ]);
}

#[test]
fn commands_a_script_may_not_run_are_refused_as_in_redis() {
    let pair = Pair::start();
    let mut commands = Vec::new();
    for command in [
        "'multi'",
        "'exec'",
        "'watch', 'k'",
        "'auth', 'x'",
        "'client', 'id'",
        "'config', 'get', 'maxmemory'",
        "'hello'",
        "'quit'",
        "'reset'",
        "'script', 'load', 'return 1'",
        "'script', 'flush'",
        "'eval', 'return 1', 0",
    ] {
        commands.push(eval0(&format!("return redis.call({command})")));
    }
    commands.push(cmd(&[
        "EVAL_RO",
        "return redis.call('set','a','b')",
        "1",
        "a",
    ]));
    commands.push(cmd(&["EVAL_RO", "return redis.call('get','a')", "1", "a"]));
    commands.push(evalk(
        "#!lua flags=no-writes\nreturn redis.call('set','a','b')",
        &["a"],
    ));
    commands.push(evalk("#!lua\nreturn redis.call('set','a','b')", &["a"]));
    commands.push(eval0("#!lua flags=bogus\nreturn 1"));
    commands.push(eval0("#!lua x=1\nreturn 1"));
    commands.push(eval0("#!py\nreturn 1"));
    commands.push(eval0("#!lua"));
    commands.push(eval0("#!lua flags=no-writes,allow-oom\nreturn 1"));
    pair.same_args(&commands);
}

#[test]
fn the_sandbox_is_redis_s() {
    let pair = Pair::start();
    let scripts = [
        "x = 1",
        "redis.foo = 1",
        "string.foo = 1",
        "cjson.x = 1",
        "bit.x = 1",
        "math.x = 1",
        "table.x = 1",
        "_G.x = 1",
        "rawset(_G, 'x', 1)",
        "setmetatable(_G, nil)",
        "return os",
        "return io",
        "return type(dofile)",
        "return type(loadfile)",
        "return type(require)",
        "return type(print)",
        "return type(debug)",
        "return type(getfenv)",
        "return type(setfenv)",
        "return type(newproxy)",
        "return type(module)",
        "return type(loadstring)",
        "return type(load)",
        "return loadstring('return 1 + 1')()",
        "return type(math.random)",
        "return type(coroutine.wrap)",
        "return type(table.getn)",
        "return type(unpack)",
        "return type(string.dump)",
        "return type(cjson)",
        "return type(bit)",
        "return type(cmsgpack)",
        "return type(struct)",
        "local t = {}; t.x = 1; return t.x",
        "return ('abc'):upper()",
        "return coroutine.wrap(function() coroutine.yield(7) end)()",
    ];
    same_scripts(&pair, &scripts);
}

#[test]
fn libraries_answer_as_redis_s() {
    let pair = Pair::start();
    let scripts = [
        "return redis.sha1hex('')",
        "return redis.sha1hex('abc')",
        "return redis.sha1hex(1)",
        "return redis.sha1hex({})",
        "return cjson.encode({1,2,{a=1}})",
        "return cjson.encode({})",
        "return cjson.encode({a={}, b=cjson.null, c=1.5, d='x\"y', e=true, f=0.1, g=1e300, h=-0})",
        "return cjson.encode({1,nil,3})",
        "return cjson.encode({[1]=1,[3]=3})",
        "return cjson.encode('\\1/\\n\\\\')",
        "return cjson.encode(12345678901234567)",
        "return cjson.encode(cjson.decode('{\"a\":[1,2,{\"b\":null}],\"c\":\"\\\\u00e9\"}'))",
        "return cjson.decode('[1,2,{\"a\":null}]')[3].a == cjson.null",
        "local t = cjson.decode('{\"a\":[1,2,3],\"b\":\"\\\\u00e9\",\"c\":1.5e3}'); return {t.a[3], t.b, t.c}",
        "return cjson.decode('\"\\\\ud83d\\\\ude00\"')",
        "return cjson.decode('1e999')",
        "return type(cjson.decode('null'))",
        "return cjson.decode(' true ')",
        "return cjson.decode('{\"a\" 1}')",
        "return cjson.decode('[1 2]')",
        "return cjson.decode('nope')",
        "return cjson.decode('[1] x')",
        "return bit.band(0xff, 0x0f)",
        "return bit.tohex(255)",
        "return bit.tohex(-1, -4)",
        "return bit.bnot(0)",
        "return {bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(0x12345678, 12), bit.ror(0x12345678, 12), bit.bswap(0x12345678), bit.tobit(2^32+1), bit.bxor(5,3), bit.bor(1,2,4)}",
    ];
    same_scripts(&pair, &scripts);
}

#[test]
fn cmsgpack_answers_as_redis_s() {
    let pair = Pair::start();
    let mut commands: Vec<Vec<Vec<u8>>> = [
        "return cmsgpack.pack(1, -1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, 1.5, 0.1, 1e300, 'abc', true, false, nil)",
        "return cmsgpack.pack({1,2,3}, {a=1}, {}, string.rep('x', 40), string.rep('y', 300))",
        "return cmsgpack.pack(string.rep('z', 70000)):sub(1, 5)",
        "local t = {} for i = 1, 20 do t[i] = i end return cmsgpack.pack(t):sub(1, 3)",
        "local t = {} for i = 1, 20 do t['k' .. i] = i end return cmsgpack.pack(t):sub(1, 3)",
        "return cmsgpack.pack(2^53, -2^63, 2^64, 0/0, 1/0, -0.0, 3.0, -1e20)",
        "return cmsgpack.pack({1, nil, 3}, {[2]=1}, {[1.5]=1}, function() end, {f=function() end})",
        "local t = {}; t[1] = t; return cmsgpack.pack(t)",
        "return {cmsgpack.unpack(cmsgpack.pack(1, 'a', {1,2}, {k='v'}))}",
        "local t = cmsgpack.unpack(cmsgpack.pack({k='v', n={1,2,{3}}})); return {t.k, t.n[3][1]}",
        "return {cmsgpack.unpack_one(cmsgpack.pack(1,2,3))}",
        "return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), 2)}",
        "return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), 0)}",
        "return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), 5)}",
        "return {cmsgpack.unpack_one(cmsgpack.pack(1,2,3), 1)}",
        "return {cmsgpack.unpack_one(cmsgpack.pack(1,2,3), 3)}",
        "return {cmsgpack.unpack_one(cmsgpack.pack(1,2,3), 5)}",
        "return {cmsgpack.unpack_one('')}",
        "return type(cmsgpack.unpack(cmsgpack.pack(nil)))",
        "return cmsgpack.unpack(cmsgpack.pack(1.5)) == 1.5",
        "return cmsgpack.unpack(1)",
        "return cmsgpack.unpack('')",
        "return cmsgpack.unpack()",
        "return cmsgpack.pack()",
        "cmsgpack.x = 1",
    ]
    .iter()
    .map(|script| eval0(script))
    .collect();
    for bytes in [
        &b"\xc1"[..],
        b"\xd9",
        b"\xd9\x05ab",
        b"\xc4\x02ab",
        b"\xd4\x01\x02",
        b"\x92\x01",
        b"\x81\xa1k",
        b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff",
        b"\xcb\x7f\xf0\x00\x00\x00\x00\x00\x00",
        b"\x80",
        b"\x82\x01\x02\x01\x03",
    ] {
        let mut command = cmd(&["EVAL", "return {cmsgpack.unpack(ARGV[1])}", "0"]);
        command.push(bytes.to_vec());
        commands.push(command);
    }
    pair.same_args(&commands);
}

#[test]
fn struct_answers_as_redis_s() {
    let pair = Pair::start();
    let scripts = [
        "return struct.pack('>i', 1)",
        "return struct.pack('<hHbB', -2, 65535, -1, 255)",
        "return struct.pack('!4 b i', 1, 2)",
        "return struct.pack('i3', -1)",
        "return struct.pack('>I16', 258)",
        "return struct.pack('c5', 'ab')",
        "return struct.pack('c0s', 'ab', 'cd')",
        "return struct.pack('fd', 1.5, 0.1)",
        "return struct.pack('>fd', 1.5, 0.1)",
        "return struct.pack('lLT', -1, 1, 2)",
        "return struct.pack('=i', 1)",
        "return struct.pack('q', 1)",
        "return struct.pack('!3i', 1)",
        "return struct.pack('i40', 1)",
        "return struct.pack('i')",
        "return {struct.unpack('>i', struct.pack('>i', -5))}",
        "return {struct.unpack('<hHbB', struct.pack('<hHbB', -2, 65535, -1, 255))}",
        "return {struct.unpack('bc0', struct.pack('b', 3) .. 'abcd')}",
        "return {struct.unpack('s', 'abc')}",
        "return {struct.unpack('s', 'ab\\0cd')}",
        "return {struct.unpack('i', 'ab')}",
        "return {struct.unpack('b', 'abc', 2)}",
        "return {struct.unpack('b', 'abc', 0)}",
        "return {struct.unpack('b', 'abc', 5)}",
        "return {struct.unpack('c0', 'abc')}",
        "return {struct.unpack('c2x b', 'abcd')}",
        "return {struct.size('>ihb'), struct.size('!4bi'), struct.size('d'), struct.size('c3x')}",
        "return struct.size('s')",
        "return struct.size('c0')",
        "return {struct.unpack('fd', struct.pack('fd', 1.5, 0.1))}",
        "return {struct.unpack('!4bi', struct.pack('!4bi', 1, -7))}",
        "return {struct.unpack('xb', 'ab')}",
        "return {struct.unpack('>i3 I3', struct.pack('>i3 I3', -2, 70000))}",
        "struct.x = 1",
    ];
    same_scripts(&pair, &scripts);
}

#[test]
fn script_subcommands_and_numkeys_answer_as_redis() {
    let pair = Pair::start();
    let one = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db";
    pair.same_args(&[
        cmd(&["SCRIPT", "FLUSH"]),
        cmd(&["SCRIPT", "KILL"]),
        cmd(&["SCRIPT", "LOAD", "return 1"]),
        cmd(&["SCRIPT", "LOAD", "return +"]),
        cmd(&[
            "SCRIPT",
            "EXISTS",
            one,
            "ffffffffffffffffffffffffffffffffffffffff",
            &one.to_ascii_uppercase(),
            "short",
        ]),
        cmd(&["SCRIPT", "EXISTS"]),
        cmd(&["EVALSHA", one, "0"]),
        cmd(&["EVALSHA_RO", one, "0"]),
        cmd(&["SCRIPT", "FLUSH", "ASYNC"]),
        cmd(&["SCRIPT", "EXISTS", one]),
        cmd(&["EVALSHA", one, "0"]),
        cmd(&["SCRIPT", "LOAD", "return 1"]),
        cmd(&["SCRIPT", "FLUSH", "sync"]),
        cmd(&["SCRIPT", "FLUSH", "bogus"]),
        cmd(&["SCRIPT", "FLUSH", "sync", "async"]),
        cmd(&["SCRIPT", "BOGUS"]),
        cmd(&["SCRIPT"]),
        cmd(&["SCRIPT", "HELP"]),
        cmd(&["SCRIPT", "LOAD"]),
        cmd(&["EVAL", "return 1", "x"]),
        cmd(&["EVAL", "return 1", "1"]),
        cmd(&["EVAL", "return 1", "-1"]),
        cmd(&["EVAL", "return 1", "-1", "a"]),
        cmd(&["EVAL", "return 1", "99999999999999999999"]),
        cmd(&["EVAL", "return 1"]),
        cmd(&["EVALSHA", "short", "x"]),
        cmd(&["EVALSHA", "0123456789012345678901234567890123456789", "x"]),
        cmd(&["EVALSHA", "0123456789012345678901234567890123456789", "-1"]),
        cmd(&["EVALSHA", "0123456789012345678901234567890123456789", "0"]),
        cmd(&["CONFIG", "GET", "busy-reply-threshold"]),
        cmd(&["CONFIG", "GET", "lua-time-limit"]),
        cmd(&["CONFIG", "SET", "busy-reply-threshold", "300"]),
        cmd(&["CONFIG", "GET", "lua-time-limit"]),
        cmd(&["CONFIG", "SET", "lua-time-limit", "5000"]),
        cmd(&["CONFIG", "GET", "busy-reply-threshold"]),
        cmd(&["CONFIG", "SET", "lua-time-limit", "x"]),
        cmd(&[
            "CONFIG",
            "SET",
            "busy-reply-threshold",
            "5000",
            "lua-time-limit",
            "5000",
        ]),
    ]);
}

#[test]
fn resp3_conversions_are_redis_s() {
    let pair = Pair::start();
    let mut commands = vec![cmd(&["HELLO", "3"])];
    for script in [
        "return {1,2,3,'x',nil,4}",
        "return false",
        "return true",
        "return nil",
        "return 3.5",
        "return {double=3.5}",
        "return {map={a=1}}",
        "return {set={a=true}}",
        "return {big_number='123'}",
        "return {verbatim_string={format='txt', string='x'}}",
        "redis.setresp(3); return true",
        "redis.setresp(3); return false",
        "redis.setresp(3); return redis.call('get','nokey')",
        "redis.setresp(3); return type(redis.call('get','nokey'))",
        "redis.setresp(3); return redis.call('set','k','v')",
        "redis.setresp(3); return {redis.call('mget','k','nokey')}",
        "redis.setresp(3); return redis.call('mget','k','nokey')",
        "redis.setresp(3); return redis.call('ping')",
        "redis.setresp(3); return redis.pcall('incr','k')",
        "redis.setresp(2); return redis.call('get','nokey')",
        "return redis.call('get','nokey')",
    ] {
        commands.push(evalk(script, &["k", "nokey"]));
    }
    commands.push(cmd(&["HELLO", "2"]));
    commands.push(eval0("redis.setresp(3); return true"));
    commands.push(eval0("redis.setresp(3); return {map={a=1}}"));
    commands.push(eval0("redis.setresp(3); return {double=1.5}"));
    pair.same_args(&commands);
}

/// The shape of the ASP.NET Redis session provider's scripts: several commands on a hash and
/// its expiry, one atomic step; and hashes, sets and sorted sets through both protocols.
#[test]
fn collections_in_scripts_answer_as_in_redis() {
    let pair = Pair::start();
    let write = "local retArray = {} \n\
                 local lockValue = ARGV[1] \n\
                 local locked = redis.call('SETNX', KEYS[1], ARGV[1]) \n\
                 local IsLocked = redis.call('HGET', KEYS[2], 'locked') \n\
                 redis.call('HSET', KEYS[2], 'data', ARGV[2], 'timeout', ARGV[3]) \n\
                 redis.call('EXPIRE', KEYS[2], ARGV[3]) \n\
                 retArray[1] = locked \n\
                 retArray[2] = redis.call('HGETALL', KEYS[2]) \n\
                 retArray[3] = redis.call('TTL', KEYS[2]) \n\
                 return retArray";
    pair.same_args(&[
        cmd(&["EVAL", write, "2", "lock", "session", "token", "payload", "1200"]),
        cmd(&["EVAL", write, "2", "lock", "session", "token", "payload2", "600"]),
        evalk("return redis.call('hgetall', KEYS[1])", &["session"]),
        evalk("redis.setresp(3); return redis.call('hgetall', KEYS[1])", &["session"]),
        evalk("redis.setresp(3); return type(redis.call('hgetall', KEYS[1]).map)", &["session"]),
        evalk("return redis.call('sadd', KEYS[1], 'a', 'b', 'a')", &["set"]),
        evalk("redis.setresp(3); local s = redis.call('smembers', KEYS[1]).set; return {s.a, s.b, s.c}", &["set"]),
        evalk("return redis.call('zadd', KEYS[1], 1.5, 'x', 2, 'y')", &["z"]),
        evalk("return redis.call('zrange', KEYS[1], 0, -1, 'WITHSCORES')", &["z"]),
        evalk("redis.setresp(3); return redis.call('zscore', KEYS[1], 'x')", &["z"]),
        evalk("redis.setresp(3); return redis.call('zscore', KEYS[1], 'x').double", &["z"]),
        evalk("return redis.call('hincrbyfloat', KEYS[1], 'f', '0.1')", &["session"]),
        evalk("return redis.call('hget', KEYS[1], 'nofield')", &["session"]),
        evalk("return redis.call('hset', KEYS[1], 'f', 'v')", &["set"]),
        evalk("return redis.pcall('hset', KEYS[1], 'f', 'v')", &["set"]),
    ]);
    let mut hello = vec![cmd(&["HELLO", "3"])];
    hello.push(evalk(
        "redis.setresp(3); return redis.call('hgetall', KEYS[1])",
        &["h"],
    ));
    hello.push(evalk("redis.call('hset', KEYS[1], 'a', '1'); redis.setresp(3); return redis.call('hgetall', KEYS[1])", &["h"]));
    pair.same_args(&hello);
}

#[test]
fn scripts_in_a_transaction_answer_as_in_redis() {
    let pair = Pair::start();
    pair.same_args(&[
        cmd(&["MULTI"]),
        cmd(&["SET", "k", "v"]),
        cmd(&["EVAL", "return redis.call('get', KEYS[1])", "1", "k"]),
        cmd(&["EVAL", UNLOCK, "1", "k", "v"]),
        cmd(&["EVALSHA", UNLOCK_SHA, "1", "k", "v"]),
        cmd(&["EVAL", "return redis.call('nosuch')", "0"]),
        cmd(&["GET", "k"]),
        cmd(&["EXEC"]),
        cmd(&["WATCH", "k"]),
        cmd(&[
            "EVAL",
            "return redis.call('set', KEYS[1], 'changed')",
            "1",
            "k",
        ]),
        cmd(&["MULTI"]),
        cmd(&["GET", "k"]),
        cmd(&["EXEC"]),
    ]);
}

/// sessiond runs a script atomically over the keys it declares, and refuses the rest (as Redis
/// Cluster does); Redis standalone lets a script reach any key.
#[test]
fn a_script_reaches_only_its_declared_keys() {
    let server = Server::start();
    let mut client = Client::connect(server.resp_addr());
    let reply = client.call(&[
        b"EVAL",
        b"return redis.call('set', 'undeclared', 'x')",
        b"0",
    ]);
    let Reply::Error(text) = reply else {
        panic!("an undeclared key must be refused, got {reply:?}");
    };
    assert!(
        text.starts_with("ERR Script attempted to access a key not declared in KEYS")
            && text.ends_with(", on @user_script:1."),
        "{text}"
    );
    assert_eq!(client.cmd("EXISTS undeclared"), Reply::Integer(0));
    // Whole-keyspace commands would need every shard, which the script's block does not hold.
    let reply = client.call(&[b"EVAL", b"return redis.call('dbsize')", b"0"]);
    assert!(
        matches!(&reply, Reply::Error(text) if text.contains("whole keyspace")),
        "{reply:?}"
    );
    // Declared keys work, any number of them, in any database the caller selected.
    assert_eq!(client.cmd("SELECT 2"), Reply::Simple("OK".into()));
    let reply = client.call(&[
        b"EVAL",
        b"redis.call('set', KEYS[1], ARGV[1]); redis.call('set', KEYS[2], ARGV[1]); return redis.call('mget', KEYS[1], KEYS[2])",
        b"2",
        b"a",
        b"b",
        b"v",
    ]);
    assert_eq!(
        reply,
        Reply::Array(vec![Reply::Bulk(b"v".to_vec()), Reply::Bulk(b"v".to_vec())])
    );
    assert_eq!(client.cmd("GET a"), Reply::Bulk(b"v".to_vec()));
}

/// What a script changes reaches the log as the commands' effects: after a restart the data is
/// there (replay runs no script: the log holds effects).
#[test]
fn what_a_script_writes_is_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().to_str().expect("a UTF-8 path");
    let server = Server::start_with(&["--data-dir", data_dir]);
    let mut client = Client::connect(server.resp_addr());
    let reply = client.call(&[
        b"EVAL",
        b"redis.call('set', KEYS[1], ARGV[1]) redis.call('pexpire', KEYS[1], 600000) \
          redis.call('set', KEYS[2], '41') redis.call('del', KEYS[3]) \
          return redis.call('incr', KEYS[2])",
        b"3",
        b"a",
        b"n",
        b"gone",
        b"value",
    ]);
    assert_eq!(reply, Reply::Integer(42));
    drop(client);
    let (status, stderr) = server.shutdown();
    assert!(status.success(), "{stderr}");

    let server = Server::start_with(&["--data-dir", data_dir]);
    let mut client = Client::connect(server.resp_addr());
    assert_eq!(client.cmd("GET a"), Reply::Bulk(b"value".to_vec()));
    assert!(matches!(client.cmd("TTL a"), Reply::Integer(ttl) if ttl > 0));
    assert_eq!(client.cmd("GET n"), Reply::Bulk(b"42".to_vec()));
    assert_eq!(client.cmd("EXISTS gone"), Reply::Integer(0));
}

/// Redis's error for a script stopped by `SCRIPT KILL`, which sessiond also gives a script
/// past its time limit.
fn is_killed(reply: &Reply) -> bool {
    matches!(reply, Reply::Error(text)
        if text.starts_with("ERR Script killed by user with SCRIPT KILL... script: ")
            && text.ends_with(", on @user_script:1."))
}

/// Reads a reply, failing with `what` if none comes within a minute.
fn read_within(client: &mut Client, what: &str) -> Reply {
    client.set_quiet_timeout(Duration::from_secs(60));
    match client.try_read_quiet() {
        Ok(Some(reply)) => reply,
        other => panic!("{what}: no reply ({other:?})"),
    }
}

#[test]
fn an_endless_script_is_stopped_at_the_time_limit_and_others_are_served_meanwhile() {
    // Two worker threads (the tests' default), so that another client can be served while
    // one thread runs the script.
    let server = Server::start_with(&["--resp-script-time-limit", "300ms"]);
    let addr = server.resp_addr();
    let mut setup = Client::connect(addr);
    assert_eq!(setup.cmd("SET k v"), Reply::Simple("OK".into()));
    assert_eq!(
        setup.cmd("CONFIG GET busy-reply-threshold"),
        Reply::Array(vec![
            Reply::Bulk(b"busy-reply-threshold".to_vec()),
            Reply::Bulk(b"300".to_vec())
        ])
    );

    // Stopped at the limit, with the killed script's error; what it declared is unchanged.
    let mut looping = Client::connect(addr);
    let reply = looping.call(&[
        b"EVAL",
        b"local i = 0 while true do i = i + 1 end",
        b"1",
        b"k",
    ]);
    assert!(is_killed(&reply), "{reply:?}");
    // pcall cannot catch the stop, nor can xpcall or a coroutine.
    for script in [
        &b"while true do pcall(function() while true do end end) end"[..],
        b"while true do xpcall(function() while true do end end, function() while true do end end) end",
        b"while true do coroutine.resume(coroutine.create(function() while true do end end)) end",
    ] {
        let reply = looping.call(&[b"EVAL", script, b"1", b"k"]);
        assert!(is_killed(&reply), "{}: {reply:?}", String::from_utf8_lossy(script));
    }
    assert_eq!(setup.cmd("GET k"), Reply::Bulk(b"v".to_vec()));
    // The connection goes on.
    assert_eq!(looping.cmd("PING"), Reply::Simple("PONG".into()));

    // A long limit: another client (another worker thread) is served while the script runs,
    // and stops it with SCRIPT KILL.
    assert_eq!(
        setup.cmd("CONFIG SET busy-reply-threshold 600000"),
        Reply::Simple("OK".into())
    );
    looping.send(&[b"EVAL", b"while true do end", b"1", b"k"]);
    let mut other = Client::connect(addr);
    let mut attempts = 0;
    loop {
        assert_eq!(other.cmd("SET elsewhere 1"), Reply::Simple("OK".into()));
        assert_eq!(other.cmd("GET elsewhere"), Reply::Bulk(b"1".to_vec()));
        match other.cmd("SCRIPT KILL") {
            Reply::Simple(ok) if ok == "OK" => break,
            Reply::Error(text) if text.starts_with("NOTBUSY") && attempts < 500 => {
                // The script has not started yet.
                attempts += 1;
                thread::sleep(Duration::from_millis(10));
            }
            reply => panic!("SCRIPT KILL while a script runs: {reply:?}"),
        }
    }
    let reply = read_within(&mut looping, "the killed script");
    assert!(is_killed(&reply), "{reply:?}");
    assert_eq!(
        other.cmd("SCRIPT KILL").text(),
        "NOTBUSY No scripts in execution right now."
    );

    // A script that wrote is stopped at the limit all the same (Redis could only be shut
    // down); what it wrote stays.
    assert_eq!(
        setup.cmd("CONFIG SET lua-time-limit 300"),
        Reply::Simple("OK".into())
    );
    let reply = looping.call(&[
        b"EVAL",
        b"redis.call('set', KEYS[1], 'w') while true do end",
        b"1",
        b"k",
    ]);
    assert!(is_killed(&reply), "{reply:?}");
    assert_eq!(setup.cmd("GET k"), Reply::Bulk(b"w".to_vec()));
}

#[test]
fn a_script_allocating_without_bound_gets_an_error() {
    let server = Server::start_with(&["--resp-script-time-limit", "60s"]);
    let mut client = Client::connect(server.resp_addr());
    for script in [
        &b"local t = {} while true do t[#t + 1] = string.rep('x', 1000000) .. #t end"[..],
        b"local s = 'x' while true do s = s .. s end",
        b"local t = {} local i = 0 while true do i = i + 1 t[i] = {i} end",
    ] {
        let reply = client.call(&[b"EVAL", script, b"0"]);
        assert!(
            matches!(&reply, Reply::Error(text) if text.starts_with("ERR ") && text.contains("not enough memory")),
            "{}: {reply:?}",
            String::from_utf8_lossy(script)
        );
    }
    // Deep recursion ends in Lua's own error.
    let reply = client.call(&[
        b"EVAL",
        b"local function f(n) return f(n + 1) + 1 end return f(1)",
        b"0",
    ]);
    assert!(
        matches!(&reply, Reply::Error(text) if text.contains("stack overflow") || text.contains("not enough memory")),
        "{reply:?}"
    );
    // And the interpreters go on working.
    assert_eq!(
        client.call(&[b"EVAL", b"return #string.rep('x', 1000)", b"0"]),
        Reply::Integer(1000)
    );
    assert_eq!(client.cmd("PING"), Reply::Simple("PONG".into()));
}

// ---------------------------------------------------------------------------------------
// phpredis's locked sessions, end to end
// ---------------------------------------------------------------------------------------

const INSTALL_HINT: &str = "the phpredis test needs `php` with the redis extension: run the \
     test command from the README, which installs them (apt-get install -y php-cli php-redis)";

/// Runs `redis_session.php MODE ID` against sessiond's Redis listener; its output.
fn run_php(server: &Server, mode: &str, id: &str) -> String {
    require_extension("redis", INSTALL_HINT);
    let settings = session_settings(&[
        "session.save_handler=redis".to_string(),
        format!("session.save_path=tcp://{}", server.resp_addr()),
        "redis.session.locking_enabled=1".to_string(),
        "redis.session.lock_retries=100".to_string(),
        "redis.session.lock_wait_time=20000".to_string(),
    ]);
    let php = Php::spawn(
        &settings,
        "redis_session.php",
        &[mode, id],
        format!("php redis_session.php {mode} {id}"),
        INSTALL_HINT,
    );
    php.finish(Instant::now() + PHP_TIMEOUT)
        .trim_end()
        .to_string()
}

#[test]
fn phpredis_locked_sessions_release_their_lock() {
    let server = Server::start();
    let mut client = Client::connect(server.resp_addr());
    let id = new_session_id();
    let key = format!("PHPREDIS_SESSION:{id}");
    let lock = format!("{key}_LOCK");
    assert_eq!(run_php(&server, "write", &id), "[]");
    assert_eq!(
        client.call(&[b"EXISTS", lock.as_bytes()]),
        Reply::Integer(0),
        "the lock is gone after the writing request"
    );
    assert_eq!(
        client.call(&[b"GET", key.as_bytes()]),
        Reply::Bulk(br#"user|s:5:"alice";n|i:1;"#.to_vec())
    );
    assert_eq!(
        client.call(&[b"SCRIPT", b"EXISTS", UNLOCK_SHA.as_bytes()]),
        Reply::Array(vec![Reply::Integer(1)]),
        "phpredis's EVAL cached its script"
    );
    // A second process: reads what the first wrote, its EVALSHA finds the script.
    assert_eq!(run_php(&server, "read", &id), r#"{"user":"alice","n":1}"#);
    assert_eq!(
        client.call(&[b"EXISTS", lock.as_bytes()]),
        Reply::Integer(0),
        "the lock is gone after the reading request"
    );
    // After a flush, phpredis falls back to EVAL again.
    assert_eq!(client.cmd("SCRIPT FLUSH"), Reply::Simple("OK".into()));
    assert_eq!(run_php(&server, "read", &id), r#"{"user":"alice","n":1}"#);
    assert_eq!(
        client.call(&[b"EXISTS", lock.as_bytes()]),
        Reply::Integer(0)
    );
}
