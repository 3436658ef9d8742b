//! Replies in RESP2 and RESP3, byte for byte.
//!
//! Where a reply below says redis-server 7.0.15, those are the bytes it sent for the same
//! reply type (`GET` of a missing key, `HELLO 3`, `HGETALL`, `SMEMBERS`, `ZSCORE`,
//! `SUBSCRIBE`, `LPOP key count`).

use bytes::BytesMut;
use sessiond_resp::{Encoder, Version};

use crate::support::{Value, read_replies};

/// What `write` puts in the output in `version`.
fn encoded(version: Version, write: impl FnOnce(&mut Encoder<'_>)) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut Encoder::new(&mut out, version));
    out
}

/// The same reply in RESP2 and in RESP3.
fn both(write: impl Fn(&mut Encoder<'_>)) -> (Vec<u8>, Vec<u8>) {
    (
        encoded(Version::Resp2, &write),
        encoded(Version::Resp3, &write),
    )
}

#[test]
fn a_connection_starts_in_resp2() {
    assert_eq!(Version::default(), Version::Resp2);
    let mut out = Vec::new();
    assert_eq!(
        Encoder::new(&mut out, Version::Resp3).version(),
        Version::Resp3
    );
}

#[test]
fn types_both_versions_share() {
    let same = |write: &dyn Fn(&mut Encoder<'_>), expected: &[u8]| {
        let (resp2, resp3) = both(write);
        assert_eq!(resp2, expected);
        assert_eq!(resp3, expected);
    };
    same(
        &|e| {
            e.ok();
        },
        b"+OK\r\n",
    );
    same(
        &|e| {
            e.simple(b"PONG");
        },
        b"+PONG\r\n",
    );
    same(
        &|e| {
            e.error(b"ERR unknown command 'HELLO'");
        },
        b"-ERR unknown command 'HELLO'\r\n",
    );
    same(
        &|e| {
            e.error(b"NOSCRIPT No matching script. Please use EVAL.");
        },
        b"-NOSCRIPT No matching script. Please use EVAL.\r\n",
    );
    same(
        &|e| {
            e.integer(0);
        },
        b":0\r\n",
    );
    same(
        &|e| {
            e.integer(-1);
        },
        b":-1\r\n",
    );
    same(
        &|e| {
            e.integer(i64::MIN);
        },
        b":-9223372036854775808\r\n",
    );
    same(
        &|e| {
            e.bulk(b"");
        },
        b"$0\r\n\r\n",
    );
    same(
        &|e| {
            e.bulk(b"a\r\n\0");
        },
        b"$4\r\na\r\n\0\r\n",
    );
    same(
        &|e| {
            e.array(0);
        },
        b"*0\r\n",
    );
    same(
        &|e| {
            e.array(2).bulk(b"f").bulk(b"v");
        },
        b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n",
    );
}

#[test]
fn a_line_never_carries_cr_or_lf() {
    let (resp2, resp3) = both(|e| {
        e.simple(b"a\r\nb")
            .error(b"ERR x\ny\rz")
            .big_number(b"1\r\n2");
    });
    assert_eq!(resp2, b"+a  b\r\n-ERR x y z\r\n$4\r\n1\r\n2\r\n");
    assert_eq!(resp3, b"+a  b\r\n-ERR x y z\r\n(1  2\r\n");
}

#[test]
fn null() {
    // redis-server 7.0.15: `GET nokey` is $-1 in RESP2 and _ in RESP3.
    assert_eq!(
        both(|e| {
            e.null();
        }),
        (b"$-1\r\n".to_vec(), b"_\r\n".to_vec())
    );
    // redis-server 7.0.15: `LPOP nolist 2` is *-1 in RESP2 and _ in RESP3.
    assert_eq!(
        both(|e| {
            e.null_array();
        }),
        (b"*-1\r\n".to_vec(), b"_\r\n".to_vec())
    );
}

#[test]
fn map() {
    // redis-server 7.0.15: `HGETALL h` with one field is *2 in RESP2 and %1 in RESP3.
    let (resp2, resp3) = both(|e| {
        e.map(1).bulk(b"f").bulk(b"v");
    });
    assert_eq!(resp2, b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
    assert_eq!(resp3, b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
    // The start of `HELLO 3`'s reply.
    let (_, hello) = both(|e| {
        e.map(7).bulk(b"server").bulk(b"redis");
    });
    assert_eq!(hello, b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n");
    // A doubled count cannot overflow.
    let (resp2, resp3) = both(|e| {
        e.map(usize::MAX);
    });
    assert_eq!(
        resp2,
        format!("*{}\r\n", usize::MAX as u128 * 2).into_bytes()
    );
    assert_eq!(resp3, format!("%{}\r\n", usize::MAX).into_bytes());
}

#[test]
fn set() {
    // redis-server 7.0.15: `SMEMBERS s` with one member.
    assert_eq!(
        both(|e| {
            e.set(1).bulk(b"x");
        }),
        (b"*1\r\n$1\r\nx\r\n".to_vec(), b"~1\r\n$1\r\nx\r\n".to_vec())
    );
}

#[test]
fn push() {
    // redis-server 7.0.15: `SUBSCRIBE ch`.
    let (resp2, resp3) = both(|e| {
        e.push(3).bulk(b"subscribe").bulk(b"ch").integer(1);
    });
    assert_eq!(resp2, b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
    assert_eq!(resp3, b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
}

#[test]
fn double() {
    // redis-server 7.0.15 (`ZSCORE`): 1.5 is ,1.5 or $3 1.5; 3 is ,3; inf is ,inf or $3 inf;
    // -inf is ,-inf or $4 -inf.
    let cases: [(f64, &[u8], &[u8]); 8] = [
        (1.5, b"$3\r\n1.5\r\n", b",1.5\r\n"),
        (3.0, b"$1\r\n3\r\n", b",3\r\n"),
        (f64::INFINITY, b"$3\r\ninf\r\n", b",inf\r\n"),
        (f64::NEG_INFINITY, b"$4\r\n-inf\r\n", b",-inf\r\n"),
        // Redis 7.0 writes %.17g (0.10000000000000001, 1.0000000000000001e+300); 7.2 and
        // later, and sessiond, the shortest text that reads back the same.
        (0.1, b"$3\r\n0.1\r\n", b",0.1\r\n"),
        (1e300, b"$6\r\n1e+300\r\n", b",1e+300\r\n"),
        (f64::NAN, b"$3\r\nnan\r\n", b",nan\r\n"),
        (-0.0, b"$2\r\n-0\r\n", b",-0\r\n"),
    ];
    for (value, resp2, resp3) in cases {
        assert_eq!(
            both(|e| {
                e.double(value);
            }),
            (resp2.to_vec(), resp3.to_vec()),
            "{value}"
        );
    }
}

#[test]
fn boolean() {
    assert_eq!(
        both(|e| {
            e.boolean(true).boolean(false);
        }),
        (b":1\r\n:0\r\n".to_vec(), b"#t\r\n#f\r\n".to_vec())
    );
}

#[test]
fn verbatim() {
    assert_eq!(
        both(|e| {
            e.verbatim(*b"txt", b"# Server\r\n");
        }),
        (
            b"$10\r\n# Server\r\n\r\n".to_vec(),
            b"=14\r\ntxt:# Server\r\n\r\n".to_vec()
        )
    );
}

#[test]
fn big_number() {
    assert_eq!(
        both(|e| {
            e.big_number(b"3492890328409238509324850943850943825024385");
        }),
        (
            b"$43\r\n3492890328409238509324850943850943825024385\r\n".to_vec(),
            b"(3492890328409238509324850943850943825024385\r\n".to_vec()
        )
    );
}

#[test]
fn any_bufmut_is_an_output() {
    let mut out = BytesMut::new();
    Encoder::new(&mut out, Version::Resp3)
        .map(1)
        .bulk(b"k")
        .null();
    assert_eq!(&out[..], b"%1\r\n$1\r\nk\r\n_\r\n");
}

#[test]
fn a_reply_reads_back_as_a_client_reads_it() {
    let out = encoded(Version::Resp3, |e| {
        e.map(2)
            .simple(b"proto")
            .integer(3)
            .bulk(b"modules")
            .array(0)
            .set(2)
            .double(2.5)
            .boolean(true)
            .push(1)
            .null();
    });
    assert_eq!(
        read_replies(&out),
        vec![
            Value::Map(vec![
                (Value::Simple(b"proto".to_vec()), Value::Integer(3)),
                (Value::Bulk(b"modules".to_vec()), Value::Array(vec![])),
            ]),
            Value::Set(vec![Value::Double(b"2.5".to_vec()), Value::Boolean(true)]),
            Value::Push(vec![Value::Null]),
        ]
    );
}
