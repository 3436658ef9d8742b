//! The classic commands, their `noreply` forms and their errors.

use std::sync::atomic::Ordering;

use sessiond_engine::{Engine, EngineConfig};

use crate::text::testing::{Bench, send};

/// The CAS value of `key`, read with `gets`.
fn cas_of(bench: &Bench, key: &str) -> u64 {
    let reply = send(bench, format!("gets {key}\r\n").as_bytes());
    let header = reply.lines().next().unwrap_or_default();
    header
        .split(' ')
        .nth(4)
        .and_then(|cas| cas.parse().ok())
        .unwrap_or_else(|| panic!("no CAS in {reply:?}"))
}

#[test]
fn set_then_get_and_gets() {
    let bench = Bench::new();
    assert_eq!(send(&bench, b"set a 5 0 3\r\nabc\r\n"), "STORED\r\n");
    assert_eq!(send(&bench, b"get a\r\n"), "VALUE a 5 3\r\nabc\r\nEND\r\n");
    let cas = cas_of(&bench, "a");
    assert_eq!(
        send(&bench, b"gets a missing a\r\n"),
        format!("VALUE a 5 3 {cas}\r\nabc\r\nVALUE a 5 3 {cas}\r\nabc\r\nEND\r\n")
    );
    assert_eq!(send(&bench, b"get missing\r\n"), "END\r\n");
    assert_eq!(send(&bench, b"bget a\r\n"), "VALUE a 5 3\r\nabc\r\nEND\r\n");
}

#[test]
fn empty_values_and_binary_values() {
    let bench = Bench::new();
    assert_eq!(
        send(&bench, b"set e 0 0 0\r\n\r\nget e\r\n"),
        "STORED\r\nVALUE e 0 0\r\n\r\nEND\r\n"
    );
    assert_eq!(
        send(&bench, b"set b 0 0 4\r\n\r\n\0\n\r\nget b\r\n"),
        "STORED\r\nVALUE b 0 4\r\n\r\n\0\n\r\nEND\r\n"
    );
}

#[test]
fn numbers_wrap_and_bend_like_memcached() {
    let bench = Bench::new();
    // Flags wrap at 2^32, a length of 2^32 + 1 is 1, and a trailing tab ends a number.
    assert_eq!(
        send(&bench, b"set a 4294967297 0 4294967297\r\nx\r\nget a\r\n"),
        "STORED\r\nVALUE a 1 1\r\nx\r\nEND\r\n"
    );
    assert_eq!(send(&bench, b"set a 0 5\t 1\r\nx\r\n"), "STORED\r\n");
    assert_eq!(send(&bench, b"set a 0 +5 1\r\nx\r\n"), "STORED\r\n");
    // A token after the length that is not `noreply` is ignored.
    assert_eq!(
        send(&bench, b"set a 0 0 1 junk\r\ny\r\nget a\r\n"),
        "STORED\r\nVALUE a 0 1\r\ny\r\nEND\r\n"
    );
}

#[test]
fn add_replace_append_prepend() {
    let bench = Bench::new();
    assert_eq!(
        send(
            &bench,
            b"add k 1 0 1\r\nb\r\nadd k 2 0 1\r\nx\r\nreplace k 3 0 1\r\nc\r\nreplace nokey 0 0 1\r\nx\r\n"
        ),
        "STORED\r\nNOT_STORED\r\nSTORED\r\nNOT_STORED\r\n"
    );
    assert_eq!(
        send(&bench, b"append k 9 0 2\r\nde\r\nprepend k 9 0 2\r\nab\r\nappend nokey 0 0 1\r\nx\r\nprepend nokey 0 0 1\r\nx\r\n"),
        "STORED\r\nSTORED\r\nNOT_STORED\r\nNOT_STORED\r\n"
    );
    // Append and prepend keep the flags.
    assert_eq!(
        send(&bench, b"get k\r\n"),
        "VALUE k 3 5\r\nabcde\r\nEND\r\n"
    );
}

#[test]
fn cas_compares_versions() {
    let bench = Bench::new();
    send(&bench, b"set k 0 0 1\r\na\r\n");
    let cas = cas_of(&bench, "k");
    let request = format!(
        "cas k 0 0 1 {}\r\nb\r\ncas k 0 0 1 {cas}\r\nc\r\ncas k 0 0 1 {cas}\r\nd\r\n",
        cas + 1000
    );
    assert_eq!(
        send(&bench, request.as_bytes()),
        "EXISTS\r\nSTORED\r\nEXISTS\r\n"
    );
    assert_eq!(
        send(&bench, b"cas nokey 0 0 1 5\r\nx\r\ncas k 0 0 1 0\r\nx\r\n"),
        "NOT_FOUND\r\nEXISTS\r\n"
    );
    assert_eq!(send(&bench, b"get k\r\n"), "VALUE k 0 1\r\nc\r\nEND\r\n");
    // A CAS that is not a number: the data line is then read as a command.
    assert_eq!(
        send(&bench, b"cas k 0 0 1 abc\r\ny\r\n"),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"
    );
    assert_eq!(send(&bench, b"cas k 0 0 1\r\ny\r\n"), "ERROR\r\nERROR\r\n");
}

#[test]
fn expiration_times() {
    let mut bench = Bench::new();
    assert_eq!(
        send(
            &bench,
            b"set t 0 10 1\r\nx\r\nset n 0 -1 1\r\nx\r\nget n\r\n"
        ),
        "STORED\r\nSTORED\r\nEND\r\n"
    );
    // Past 30 days the time is absolute: this one is long gone.
    assert_eq!(
        send(&bench, b"set p 0 2678400 1\r\nx\r\nget p\r\n"),
        "STORED\r\nEND\r\n"
    );
    bench.advance_secs(5);
    assert_eq!(send(&bench, b"get t\r\n"), "VALUE t 0 1\r\nx\r\nEND\r\n");
    bench.advance_secs(6);
    assert_eq!(send(&bench, b"get t\r\n"), "END\r\n");
}

#[test]
fn touch_and_gat() {
    let mut bench = Bench::new();
    send(&bench, b"set t 0 10 1\r\nx\r\nset u 0 10 1\r\ny\r\n");
    assert_eq!(
        send(&bench, b"touch t 100\r\ntouch nokey 100\r\ntouch t x\r\n"),
        "TOUCHED\r\nNOT_FOUND\r\nCLIENT_ERROR invalid exptime argument\r\n"
    );
    let cas = cas_of(&bench, "u");
    assert_eq!(
        send(&bench, b"gats 100 u nokey\r\n"),
        format!("VALUE u 0 1 {cas}\r\ny\r\nEND\r\n")
    );
    assert_eq!(send(&bench, b"gat 10\r\n"), "END\r\n");
    assert_eq!(
        send(&bench, b"gat x u\r\n"),
        "CLIENT_ERROR invalid exptime argument\r\n"
    );
    bench.advance_secs(50);
    assert_eq!(
        send(&bench, b"get t u\r\n"),
        "VALUE t 0 1\r\nx\r\nVALUE u 0 1\r\ny\r\nEND\r\n"
    );
    assert_eq!(
        send(&bench, b"gat -1 t\r\nget t\r\n"),
        "VALUE t 0 1\r\nx\r\nEND\r\nEND\r\n"
    );
}

#[test]
fn delete_forms() {
    let bench = Bench::new();
    send(&bench, b"set a 0 0 1\r\nx\r\n");
    assert_eq!(
        send(&bench, b"delete a\r\ndelete a\r\n"),
        "DELETED\r\nNOT_FOUND\r\n"
    );
    send(&bench, b"set a 0 0 1\r\nx\r\n");
    assert_eq!(send(&bench, b"delete a 0\r\n"), "DELETED\r\n");
    send(&bench, b"set a 0 0 1\r\nx\r\n");
    assert_eq!(
        send(
            &bench,
            b"delete a 0 noreply\r\ndelete a noreply\r\nget a\r\n"
        ),
        "END\r\n"
    );
    assert_eq!(
        send(
            &bench,
            b"delete a 5\r\ndelete a 5 noreply\r\ndelete a 0 0\r\n"
        ),
        "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n\
         CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
    );
    assert_eq!(
        send(&bench, b"delete\r\ndelete a 0 0 0\r\n"),
        "ERROR\r\nERROR\r\n"
    );
}

#[test]
fn incr_and_decr() {
    let bench = Bench::new();
    assert_eq!(
        send(
            &bench,
            b"incr n 1\r\nset n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nget n\r\n"
        ),
        "NOT_FOUND\r\nSTORED\r\n15\r\n0\r\nVALUE n 0 2\r\n0 \r\nEND\r\n"
    );
    assert_eq!(
        send(
            &bench,
            b"set m 0 0 20\r\n18446744073709551615\r\nincr m 2\r\nincr m x\r\nincr m -1\r\n"
        ),
        "STORED\r\n1\r\nCLIENT_ERROR invalid numeric delta argument\r\n\
         CLIENT_ERROR invalid numeric delta argument\r\n"
    );
    assert_eq!(
        send(&bench, b"set s 0 0 1\r\nz\r\nincr s 1\r\ndecr s 1\r\n"),
        "STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n\
         CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
    );
    assert_eq!(
        send(&bench, b"incr\r\nincr a\r\nincr a 1 2 3\r\n"),
        "ERROR\r\nERROR\r\nERROR\r\n"
    );
}

#[test]
fn noreply_silences_every_reply_including_errors() {
    let bench = Bench::new();
    let request: &[u8] = b"set a 0 0 1 noreply\r\nx\r\n\
        add a 0 0 1 noreply\r\ny\r\n\
        replace a 0 0 1 noreply\r\nz\r\n\
        append a 0 0 1 noreply\r\n1\r\n\
        prepend a 0 0 1 noreply\r\n0\r\n\
        cas a 0 0 1 999999999 noreply\r\nq\r\n\
        set b 0 0 1 noreply\r\n5\r\n\
        incr b 1 noreply\r\ndecr b 2 noreply\r\nincr nokey 1 noreply\r\nincr a 1 noreply\r\n\
        touch a 100 noreply\r\ntouch a x noreply\r\n\
        set c x 0 1 noreply\r\n\
        set a 0 0 1 noreply\r\nxyz\r\n\
        delete c noreply\r\ndelete c 5 noreply\r\n\
        verbosity 1 noreply\r\nverbosity x noreply\r\n\
        flush_all 100 noreply\r\nflush_all x noreply\r\n\
        mn\r\n";
    // The bad `set c` line leaves nothing to read; the bad data chunk of the next leaves `\r\n`
    // behind, an empty line: `ERROR` (errors before `noreply` is read are not silenced).
    assert_eq!(send(&bench, request), "ERROR\r\nMN\r\n");
    assert_eq!(
        send(&bench, b"get a b\r\n"),
        "VALUE a 0 3\r\n0z1\r\nVALUE b 0 1\r\n4\r\nEND\r\n"
    );
}

#[test]
fn key_length_limit() {
    let bench = Bench::new();
    let long = "k".repeat(251);
    let ok = "k".repeat(250);
    assert_eq!(
        send(
            &bench,
            format!("set {ok} 0 0 1\r\nx\r\nget {ok}\r\n").as_bytes()
        ),
        format!("STORED\r\nVALUE {ok} 0 1\r\nx\r\nEND\r\n")
    );
    // Not swallowed: the data line is read as a command.
    assert_eq!(
        send(&bench, format!("set {long} 0 0 1\r\nx\r\n").as_bytes()),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"
    );
    // The values already found are dropped.
    assert_eq!(
        send(&bench, format!("get {ok} {long} {ok}\r\n").as_bytes()),
        "CLIENT_ERROR bad command line format\r\n"
    );
    for command in ["touch {} 1", "delete {}", "incr {} 1", "decr {} 1"] {
        assert_eq!(
            send(
                &bench,
                format!("{}\r\n", command.replace("{}", &long)).as_bytes()
            ),
            "CLIENT_ERROR bad command line format\r\n",
            "{command}"
        );
    }
}

#[test]
fn keys_per_get_are_bounded() {
    let bench = Bench::with_limits(crate::Limits {
        max_keys_per_get: 3,
        ..crate::Limits::default()
    });
    send(&bench, b"set a 0 0 1\r\nx\r\n");
    assert_eq!(
        send(&bench, b"get a a a\r\n"),
        "VALUE a 0 1\r\nx\r\n".repeat(3) + "END\r\n"
    );
    assert_eq!(
        send(&bench, b"get a a a a\r\n"),
        "CLIENT_ERROR bad command line format\r\n"
    );
}

#[test]
fn many_keys_past_the_token_limit() {
    let bench = Bench::new();
    send(&bench, b"set k40 0 0 2\r\nhi\r\nset k3 0 0 1\r\nx\r\n");
    let keys: Vec<String> = (0..60).map(|i| format!("k{i}")).collect();
    assert_eq!(
        send(&bench, format!("get {}\r\n", keys.join("  ")).as_bytes()),
        "VALUE k3 0 1\r\nx\r\nVALUE k40 0 2\r\nhi\r\nEND\r\n"
    );
    // Other commands see memcached's cut-off line: too many tokens for `set`.
    let words = vec!["x"; 30].join(" ");
    assert_eq!(
        send(&bench, format!("set a 0 0 1 {words}\r\n").as_bytes()),
        "ERROR\r\n"
    );
}

#[test]
fn value_size_limit_swallows_the_data() {
    let bench = Bench::with_limits(crate::Limits {
        max_item_size: 10,
        ..crate::Limits::default()
    });
    send(&bench, b"set a 0 0 1\r\nx\r\nset b 0 0 1\r\ny\r\n");
    let value = "v".repeat(11);
    assert_eq!(
        send(
            &bench,
            format!("set a 0 0 11\r\n{value}\r\nget a\r\n").as_bytes()
        ),
        "SERVER_ERROR object too large for cache\r\nEND\r\n"
    );
    // Only a set forgets the old value.
    assert_eq!(
        send(
            &bench,
            format!("append b 0 0 11 noreply\r\n{value}\r\nget b\r\n").as_bytes()
        ),
        "VALUE b 0 1\r\ny\r\nEND\r\n"
    );
    assert_eq!(
        send(&bench, b"set c 0 0 10\r\n0123456789\r\n"),
        "STORED\r\n"
    );
    assert_eq!(bench.counters.store_too_large.load(Ordering::Relaxed), 2);
}

#[test]
fn bad_lengths_and_chunks() {
    let bench = Bench::new();
    assert_eq!(
        send(&bench, b"set a 0 0 -1\r\nx\r\n"),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"
    );
    assert_eq!(
        send(&bench, b"set a 0 0 2147483646\r\n"),
        "CLIENT_ERROR bad command line format\r\n"
    );
    // The data block is read by length; what follows it is the next command.
    assert_eq!(
        send(&bench, b"set a 0 0 3\r\nabcde\r\nget a\r\n"),
        "CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n"
    );
    assert_eq!(
        send(&bench, b"set a 0 0 1\nx\nget a\n"),
        "CLIENT_ERROR bad data chunk\r\nERROR\r\n"
    );
    assert_eq!(
        send(&bench, b"set a 0 0 1\nx\r\nget a\n"),
        "STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n"
    );
    assert_eq!(
        send(
            &bench,
            b"set a b 0 1\r\nx\r\nset a 0 b 1\r\nx\r\nset a 0 0 b\r\n"
        ),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n".repeat(2)
            + "CLIENT_ERROR bad command line format\r\n"
    );
}

#[test]
fn out_of_memory_refuses_and_keeps_the_old_value() {
    let bench = Bench {
        engine: Engine::new(EngineConfig { max_memory: 4096 }),
        ..Bench::new()
    };
    assert_eq!(send(&bench, b"set a 0 0 1\r\nx\r\n"), "STORED\r\n");
    let big = "v".repeat(8000);
    assert_eq!(
        send(
            &bench,
            format!("set a 0 0 8000\r\n{big}\r\nget a\r\n").as_bytes()
        ),
        // memcached would drop the old value; sessiond never drops a live item for memory.
        "SERVER_ERROR out of memory storing object\r\nVALUE a 0 1\r\nx\r\nEND\r\n"
    );
    assert_eq!(send(&bench, b"set b 0 0 1\r\ny\r\n"), "STORED\r\n");
    assert_eq!(
        send(
            &bench,
            format!("append b 0 0 8000\r\n{big}\r\nget b\r\n").as_bytes()
        ),
        "SERVER_ERROR out of memory storing object\r\nVALUE b 0 1\r\ny\r\nEND\r\n"
    );
    assert_eq!(bench.counters.store_no_memory.load(Ordering::Relaxed), 2);
}

#[test]
fn flush_all_now_and_later() {
    let mut bench = Bench::new();
    send(&bench, b"set a 0 0 1\r\nx\r\n");
    assert_eq!(send(&bench, b"flush_all\r\nget a\r\n"), "OK\r\nEND\r\n");
    send(&bench, b"set a 0 0 1\r\nx\r\n");
    assert_eq!(
        send(&bench, b"flush_all 10\r\nget a\r\n"),
        "OK\r\nVALUE a 0 1\r\nx\r\nEND\r\n"
    );
    bench.advance_secs(11);
    assert_eq!(send(&bench, b"get a\r\n"), "END\r\n");
    send(&bench, b"set a 0 0 1\r\nx\r\n");
    // A Unix time already past flushes nothing; a negative delay flushes now.
    assert_eq!(
        send(&bench, b"flush_all 1500000000\r\nget a\r\n"),
        "OK\r\nVALUE a 0 1\r\nx\r\nEND\r\n"
    );
    assert_eq!(send(&bench, b"flush_all -5\r\nget a\r\n"), "OK\r\nEND\r\n");
    assert_eq!(
        send(
            &bench,
            b"flush_all x\r\nflush_all 1 noreply\r\nflush_all 1 2 3\r\n"
        ),
        "CLIENT_ERROR invalid exptime argument\r\nERROR\r\n"
    );
    assert_eq!(bench.counters.cmd_flush.load(Ordering::Relaxed), 6);
}

#[test]
fn flush_all_stays_in_its_namespace() {
    let mut bench = Bench::new();
    send(&bench, b"set a 0 0 1\r\nx\r\n");
    bench.namespace = sessiond_engine::NamespaceId(7);
    assert_eq!(send(&bench, b"get a\r\nflush_all\r\n"), "END\r\nOK\r\n");
    bench.namespace = sessiond_engine::NamespaceId::DEFAULT;
    assert_eq!(send(&bench, b"get a\r\n"), "VALUE a 0 1\r\nx\r\nEND\r\n");
}

#[test]
fn server_commands() {
    let bench = Bench::new();
    assert_eq!(
        send(&bench, b"version\r\nversion x\r\n"),
        format!("VERSION {v}\r\nVERSION {v}\r\n", v = crate::VERSION)
    );
    assert_eq!(
        send(
            &bench,
            b"verbosity\r\nverbosity x\r\nverbosity 1\r\nverbosity 1 2 3\r\n"
        ),
        "ERROR\r\nCLIENT_ERROR bad command line format\r\nOK\r\nERROR\r\n"
    );
    assert_eq!(
        send(
            &bench,
            b"shutdown\r\nshutdown graceful\r\nrefresh_certs\r\n"
        ),
        "ERROR: shutdown not enabled\r\nERROR: shutdown not enabled\r\nError TLS not enabled\r\n"
    );
    for admin in [
        "slabs reassign 1 2",
        "lru tune 1 2 3 4",
        "lru_crawler enable",
        "watch",
        "extstore x y",
        "cache_memlimit 100",
    ] {
        assert_eq!(
            send(&bench, format!("{admin}\r\n").as_bytes()),
            "ERROR\r\n",
            "{admin}"
        );
    }
}

#[test]
fn stats_groups() {
    let bench = Bench::new();
    send(&bench, b"set a 0 0 1\r\nx\r\nget a\r\n");
    let general = send(&bench, b"stats\r\n");
    assert!(general.starts_with("STAT pid 42\r\n"), "{general}");
    assert!(general.contains("STAT cmd_set 1\r\n"), "{general}");
    assert!(general.contains("STAT get_hits 1\r\n"), "{general}");
    assert!(general.ends_with("\r\nEND\r\n"), "{general}");
    let settings = send(&bench, b"stats settings\r\n");
    assert!(
        settings.contains(&format!("STAT item_size_max {}\r\n", 8 << 20)),
        "{settings}"
    );
    assert!(settings.ends_with("END\r\n"));
    assert_eq!(
        send(
            &bench,
            b"stats reset\r\nstats detail\r\nstats detail on\r\nstats detail dump\r\nstats detail x\r\n\
              stats items\r\nstats slabs\r\nstats conns\r\nstats sizes\r\nstats junk\r\n\
              stats cachedump\r\nstats cachedump x 1\r\nstats cachedump 100 1\r\nstats cachedump 1 1\r\n"
        ),
        "RESET\r\nCLIENT_ERROR usage: stats detail on|off|dump\r\nOK\r\nEND\r\n\
         CLIENT_ERROR usage: stats detail on|off|dump\r\nEND\r\nEND\r\nEND\r\n\
         STAT sizes_status disabled\r\nEND\r\nERROR\r\nCLIENT_ERROR bad command line\r\n\
         CLIENT_ERROR bad command line format\r\nCLIENT_ERROR Illegal slab id\r\nEND\r\n"
    );
}

#[test]
fn unknown_and_malformed_commands() {
    let bench = Bench::new();
    assert_eq!(
        send(
            &bench,
            b"\r\n\n\r\r\nx\r\nfoo bar\r\nget\r\ngets\r\ngxx a\r\nset\r\nGET\r\nm\r\nmx\r\n"
        ),
        "ERROR\r\n".repeat(12)
    );
    // Only space separates tokens.
    assert_eq!(send(&bench, b"get\ta\r\n"), "ERROR\r\n");
    // A NUL byte ends the line.
    send(&bench, b"set a 0 0 1\r\nx\r\n");
    assert_eq!(
        send(&bench, b"get a\0 junk\r\n"),
        "VALUE a 0 1\r\nx\r\nEND\r\n"
    );
    assert_eq!(send(&bench, b"\0get a\r\n"), "ERROR\r\n");
    // Leading and repeated spaces are fine.
    assert_eq!(
        send(&bench, b"   get   a  \r\n"),
        "VALUE a 0 1\r\nx\r\nEND\r\n"
    );
}
