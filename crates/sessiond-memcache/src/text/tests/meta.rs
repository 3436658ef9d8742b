//! The meta commands: flags, quiet mode, base64 keys, the recache token, and their errors.

use std::sync::atomic::Ordering;

use crate::text::testing::{Bench, send};

/// The CAS value of `key`, read with `mg` without marking the item fetched.
fn cas_of(bench: &Bench, key: &str) -> u64 {
    let reply = send(bench, format!("mg {key} c u\r\n").as_bytes());
    reply
        .split_whitespace()
        .find_map(|token| token.strip_prefix('c'))
        .and_then(|cas| cas.parse().ok())
        .unwrap_or_else(|| panic!("no CAS in {reply:?}"))
}

#[test]
fn mg_return_flags_in_request_order() {
    let bench = Bench::new();
    assert_eq!(send(&bench, b"ms m1 3 T0 F5\r\nabc\r\n"), "HD\r\n");
    let cas = cas_of(&bench, "m1");
    assert_eq!(
        send(&bench, b"mg m1 s v t f c k O9 h l\r\nmg m1 h k\r\n"),
        format!("VA 3 s3 t-1 f5 c{cas} km1 O9 h0 l0\r\nabc\r\nHD h1 km1\r\n")
    );
    assert_eq!(
        send(&bench, b"mg m1\r\nmg m1 q\r\nmg m1 q v\r\n"),
        "HD\r\nHD\r\nVA 3\r\nabc\r\n"
    );
    assert_eq!(
        send(
            &bench,
            b"mg nokey q\r\nmg nokey k O1 v s\r\nmg nokey\r\nmn\r\n"
        ),
        "EN knokey O1\r\nEN\r\nMN\r\n"
    );
}

#[test]
fn mg_touch_ttl_and_access() {
    let mut bench = Bench::new();
    send(&bench, b"ms t 1 T100\r\nx\r\n");
    bench.advance_secs(10);
    // `t` before `T` reports the time to live before the touch, after it the new one.
    assert_eq!(
        send(
            &bench,
            b"mg t t T50 l\r\nmg t t\r\nmg t T20 t\r\nmg t t u\r\n"
        ),
        "HD t90 l10\r\nHD t50\r\nHD t20\r\nHD t20\r\n"
    );
    bench.advance_secs(21);
    assert_eq!(send(&bench, b"mg t v\r\n"), "EN\r\n");
}

#[test]
fn a_late_touch_still_shows_in_a_later_t() {
    let bench = Bench::new();
    // `R` before `T` makes the touch wait for the read; a `t` after `T` still sees it.
    assert_eq!(
        send(&bench, b"ms k 1 T100\r\nx\r\nmg k R30 T30 t\r\nmg k t\r\n"),
        "HD\r\nHD t30\r\nHD t30\r\n"
    );
    assert_eq!(
        send(
            &bench,
            b"ms c 1 T100\r\n5\r\nma c R1 T30 t\r\nma c t\r\nma c t T40\r\nma c t\r\n"
        ),
        "HD\r\nHD t30\r\nHD t30\r\nHD t30\r\nHD t40\r\n"
    );
}

#[test]
fn mg_vivify_and_recache_tokens() {
    let bench = Bench::new();
    let first = send(&bench, b"mg nv N30 v t s f\r\n");
    assert!(first.starts_with("VA 0 t30 s0 f0 W\r\n\r\n"), "{first}");
    assert_eq!(send(&bench, b"mg nv N30 v t\r\n"), "VA 0 t30 Z\r\n\r\n");
    // A created item's `t` is what memcached has set by then: nothing before `T` or `N`.
    assert_eq!(
        send(
            &bench,
            b"mg nv2 t N30 v\r\nmg nv3 T40 t N30\r\nmg nv4 N30 t T40\r\nmg nv4 t\r\n"
        ),
        "VA 0 t-1 W\r\n\r\nHD t40 W\r\nHD t30 W\r\nHD t40 Z\r\n"
    );
    assert_eq!(
        send(&bench, b"ms nv 1\r\nx\r\nmg nv v\r\n"),
        "HD\r\nVA 1\r\nx\r\n"
    );

    send(&bench, b"ms r 1 T10\r\nx\r\nms r2 1 T100\r\nx\r\n");
    assert_eq!(
        send(
            &bench,
            b"mg r R30 v\r\nmg r R30 v\r\nmg r2 R30\r\nmg r2 R0\r\nmg r2 R-1\r\n"
        ),
        "VA 1 W\r\nx\r\nVA 1 Z\r\nx\r\nHD\r\nHD\r\nHD\r\n"
    );
    // `R` before `T` sees the time to live before the touch.
    assert_eq!(
        send(&bench, b"ms k 1\r\nx\r\nmg k R30 T10\r\nmg k T10 R30\r\n"),
        "HD\r\nHD\r\nHD W\r\n"
    );
}

#[test]
fn md_invalidate_then_stale_reads_and_cas_stores() {
    let bench = Bench::new();
    send(&bench, b"ms k 1 T100\r\nx\r\n");
    let old = cas_of(&bench, "k");
    assert_eq!(
        send(&bench, b"md k I T30\r\nmg k v t\r\nmg k v\r\n"),
        "HD\r\nVA 1 t30 X W\r\nx\r\nVA 1 Z X\r\nx\r\n"
    );
    // A write with the old CAS is taken, as stale.
    assert_eq!(
        send(
            &bench,
            format!("ms k 1 C{old} I\r\ny\r\nmg k v\r\n").as_bytes()
        ),
        // The stale write keeps the win token with whoever took it, as memcached does.
        "HD\r\nVA 1 Z X\r\ny\r\n"
    );
    let current = cas_of(&bench, "k");
    assert_eq!(
        send(
            &bench,
            format!("ms k 1 C{current}\r\nz\r\nmg k v\r\n").as_bytes()
        ),
        "HD\r\nVA 1\r\nz\r\n"
    );
}

#[test]
fn ms_modes_and_cas() {
    let bench = Bench::new();
    assert_eq!(
        send(
            &bench,
            b"ms m 3\r\nabc\r\nms m 3 q\r\nabc\r\nms m 3 q ME\r\nabc\r\nms m2 3 MR\r\nabc\r\n\
              ms m2 3 MA c k\r\nabc\r\nms m2 3 MP\r\nabc\r\nms new 1 ME\r\nn\r\nmn\r\n"
        ),
        "HD\r\nNS\r\nNS\r\nNS c0 km2\r\nNS\r\nHD\r\nMN\r\n"
    );
    assert_eq!(
        send(
            &bench,
            b"ms m 1 MA\r\nd\r\nms m 1 MP\r\n_\r\nmg m v\r\nms m 1 MS\r\nS\r\nmg m v\r\n"
        ),
        "HD\r\nHD\r\nVA 5\r\n_abcd\r\nHD\r\nVA 1\r\nS\r\n"
    );
    let cas = cas_of(&bench, "m");
    let request = format!(
        "ms m 1 C1\r\nx\r\nms gone 1 C1\r\nx\r\nms gone 1 C1 MA\r\nx\r\nms m 1 C0 MA\r\nA\r\n\
         ms m 1 C{cas} MR\r\nR\r\nms gone 1 C5 MR\r\nx\r\nms m 1 C1 ME\r\nx\r\nmg m v\r\n"
    );
    assert_eq!(
        send(&bench, request.as_bytes()),
        "EX\r\nNF\r\nNS\r\nHD\r\nEX\r\nNF\r\nNS\r\nVA 2\r\nSA\r\n"
    );
    let reply = send(&bench, b"ms c 1 c O5 k\r\nx\r\n");
    let cas = cas_of(&bench, "c");
    assert_eq!(reply, format!("HD c{cas} O5 kc\r\n"));
}

#[test]
fn ms_errors_swallow_the_data_when_the_length_is_known() {
    let bench = Bench::new();
    assert_eq!(
        send(
            &bench,
            b"ms m 3 MZ\r\nabc\r\nms m 3 MAA\r\nabc\r\nms m 3 M\r\nabc\r\n\
              ms m 3 Ox1234567890123456789012345678901234\r\nabc\r\nms m 3 zz\r\nabc\r\n\
              ms m 3 q q\r\nabc\r\nms m 3 T\r\nabc\r\nms m 3 Fx\r\nabc\r\nmn\r\n"
        ),
        "CLIENT_ERROR invalid mode for ms M token\r\nCLIENT_ERROR incorrect length for M token\r\n\
         CLIENT_ERROR incorrect length for M token\r\nCLIENT_ERROR opaque token too long\r\n\
         CLIENT_ERROR invalid flag\r\nCLIENT_ERROR duplicate flag\r\n\
         CLIENT_ERROR bad token in command line format\r\nCLIENT_ERROR bad command line format\r\nMN\r\n"
    );
    assert_eq!(
        send(&bench, b"ms m x\r\nabc\r\nms m -1\r\nabc\r\nms m\r\nms\r\n"),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n".repeat(3)
    );
    // Quiet mode does not hide errors.
    assert_eq!(
        send(&bench, b"ms m 3 q\r\nabcde\r\nmn\r\n"),
        "CLIENT_ERROR bad data chunk\r\nERROR\r\nMN\r\n"
    );
    let too_large = format!("ms m {} q\r\n", (8 << 20) + 1);
    let mut client = bench.client();
    assert_eq!(
        client.send(&bench, too_large.as_bytes()),
        b"SERVER_ERROR object too large for cache\r\n"
    );
    assert_eq!(bench.counters.store_too_large.load(Ordering::Relaxed), 1);
}

#[test]
fn md_flags_and_quiet_mode() {
    let bench = Bench::new();
    send(&bench, b"ms m 1\r\nx\r\n");
    assert_eq!(
        send(
            &bench,
            b"md m q\r\nmd m q\r\nmd m\r\nmd m O55 k\r\nms m 1\r\nx\r\nmd m C1 O5\r\nmd m C0\r\n\
              md m x\r\nmd m\r\n"
        ),
        "NF\r\nNF\r\nNF O55 km\r\nHD\r\nEX O5\r\nEX\r\nCLIENT_ERROR invalid or duplicate flag\r\nHD\r\n"
    );
    let long = "k".repeat(251);
    assert_eq!(
        send(
            &bench,
            format!("md {long}\r\nmd\r\nmd m O{}\r\n", "1".repeat(40)).as_bytes()
        ),
        "CLIENT_ERROR bad command line format\r\nERROR\r\nCLIENT_ERROR opaque token too long\r\n"
    );
}

#[test]
fn ma_counters() {
    let bench = Bench::new();
    assert_eq!(
        send(
            &bench,
            b"ma c\r\nma c q\r\nma c N0 J10 v t\r\nma c v\r\nma c MD D3 v\r\nma c M- D30 v q\r\n\
              ma c q\r\nmg c v\r\nma c C1\r\nma c Mx\r\nma c D-1\r\nma c zz\r\nms s 1\r\nx\r\nma s\r\n\
              ma c k O9 t T100 v\r\nma c t\r\nma c MI M+\r\nma c M+ D18446744073709551615 v\r\n"
        ),
        "NF\r\nNF\r\nVA 2 t-1\r\n10\r\nVA 2\r\n11\r\nVA 1\r\n8\r\nVA 2\r\n1 \r\nEX\r\n\
         CLIENT_ERROR invalid mode for ma M token\r\nCLIENT_ERROR invalid or duplicate flag\r\n\
         CLIENT_ERROR invalid or duplicate flag\r\nHD\r\n\
         CLIENT_ERROR cannot increment or decrement non-numeric value\r\n\
         VA 1 kc O9 t-1\r\n2\r\nHD t100\r\nCLIENT_ERROR invalid or duplicate flag\r\nVA 1\r\n2\r\n"
    );
    // A create shows in quiet mode; only a successful update is hidden.
    assert_eq!(
        send(&bench, b"ma q1 N0 J5 q v\r\nma q1 q v\r\nma q2 q\r\nmn\r\n"),
        "VA 1\r\n5\r\nNF\r\nMN\r\n"
    );
    let cas = cas_of(&bench, "q1");
    let reply = send(&bench, format!("ma q1 C{cas} c v\r\n").as_bytes());
    assert_eq!(reply, format!("VA 1 c{}\r\n7\r\n", cas_of(&bench, "q1")));
}

#[test]
fn base64_keys() {
    let bench = Bench::new();
    assert_eq!(
        send(
            &bench,
            b"ms bTE= 3 b k\r\nabc\r\nmg bTE= b k v\r\nmg bT!E= b k v\r\nmg m1 v\r\n"
        ),
        "HD kbTE= b\r\nVA 3 kbTE= b\r\nabc\r\nVA 3 kbTE= b\r\nabc\r\nVA 3\r\nabc\r\n"
    );
    assert_eq!(
        send(
            &bench,
            b"mg bTE b k v\r\nmg ! b\r\nmd ! b\r\nma ! b\r\nms ! 1 b\r\nx\r\nmg bm8= b k\r\n"
        ),
        "CLIENT_ERROR error decoding key\r\nCLIENT_ERROR error decoding key\r\n\
         CLIENT_ERROR invalid or duplicate flag\r\nCLIENT_ERROR invalid or duplicate flag\r\n\
         CLIENT_ERROR error decoding key\r\nEN kbm8= b\r\n"
    );
    assert_eq!(send(&bench, b"md bTE= b q\r\nmg m1\r\n"), "EN\r\n");
}

#[test]
fn meta_flag_errors() {
    let bench = Bench::new();
    send(&bench, b"ms m 1\r\nx\r\n");
    assert_eq!(
        send(
            &bench,
            b"mg m T\r\nmg m Tx zz\r\nmg m N\r\nmg m R\r\nmg m F\r\nmg m C\r\nmg m Fx\r\nmg m \xff\r\n\
              mg m k k\r\nmg m Tx Fy\r\nmg m Fy Tx\r\nmg m E\r\nmg\r\n"
        ),
        "CLIENT_ERROR bad token in command line format\r\nCLIENT_ERROR invalid flag\r\n\
         CLIENT_ERROR bad token in command line format\r\nCLIENT_ERROR bad token in command line format\r\n\
         CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad token in command line format\r\n\
         CLIENT_ERROR bad command line format\r\nCLIENT_ERROR duplicate flag\r\n\
         CLIENT_ERROR duplicate flag\r\nCLIENT_ERROR bad token in command line format\r\n\
         CLIENT_ERROR bad token in command line format\r\nCLIENT_ERROR invalid flag\r\nERROR\r\n"
    );
    let seventeen = vec!["v"; 17].join(" ");
    let eighteen = vec!["v"; 18].join(" ");
    assert_eq!(
        send(&bench, format!("mg m {seventeen}\r\n").as_bytes()),
        "CLIENT_ERROR duplicate flag\r\n"
    );
    assert_eq!(
        send(
            &bench,
            format!("mg m {eighteen}\r\nma m {eighteen}\r\n").as_bytes()
        ),
        "CLIENT_ERROR options flags are too long\r\nCLIENT_ERROR options flags too long\r\n"
    );
}

#[test]
fn me_dumps_metadata() {
    let bench = Bench::new();
    send(&bench, b"ms mm 1\r\nx\r\n");
    let cas = cas_of(&bench, "mm");
    assert_eq!(
        send(&bench, b"me zz\r\nme\r\nme mm\r\n"),
        format!(
            "EN\r\nCLIENT_ERROR bad command line format\r\n\
             ME mm exp=-1 la=0 cas={cas} fetch=no cls=1 size=62\r\n"
        )
    );
    assert_eq!(
        send(&bench, b"me bW0 b\r\n"),
        "CLIENT_ERROR bad command line format\r\n"
    );
}

#[test]
fn mn_answers_whatever_follows_it() {
    let bench = Bench::new();
    assert_eq!(
        send(&bench, b"mn\r\nmn foo bar\r\nmn\n"),
        "MN\r\n".repeat(3)
    );
}

#[test]
fn meta_commands_are_counted() {
    let bench = Bench::new();
    send(
        &bench,
        b"mn\r\nmg a\r\nms a 1\r\nx\r\nmd a\r\nma a\r\nme a\r\nmx\r\nget a\r\n",
    );
    assert_eq!(bench.counters.cmd_meta.load(Ordering::Relaxed), 6);
}
