//! How long values live: fixed from the last store (sharedance), or sliding from the last store
//! or fetch.

use std::time::Duration;

use sessiond_engine::Timestamp;

use super::{Bench, answered, fetch, store};
use crate::Lifetime;

const LIFE: Duration = Duration::from_secs(600);

fn at(bench: &mut Bench, when: Timestamp) -> &mut Bench {
    bench.now = when;
    bench
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

#[test]
fn fixed_lives_from_the_store_and_reads_do_not_extend_it() {
    let mut bench = Bench::with_lifetime(Lifetime::Fixed(LIFE));
    let t = bench.now;
    assert_eq!(bench.send(&store(b"k", b"v")), answered(b"OK\n"));
    // Read it often, up to the last millisecond.
    for offset in [ms(1), LIFE / 2, LIFE - ms(2), LIFE - ms(1)] {
        let exchange = at(&mut bench, t.saturating_add(offset)).send(&fetch(b"k"));
        assert_eq!(exchange, answered(b"v"), "at +{offset:?}");
    }
    let exchange = at(&mut bench, t.saturating_add(LIFE)).send(&fetch(b"k"));
    assert_eq!(
        exchange,
        answered(b""),
        "expired at +{LIFE:?}, reads or not"
    );
}

#[test]
fn fixed_restarts_with_each_store() {
    let mut bench = Bench::with_lifetime(Lifetime::Fixed(LIFE));
    let t = bench.now;
    bench.send(&store(b"k", b"one"));
    let later = t.saturating_add(LIFE - ms(1));
    assert_eq!(
        at(&mut bench, later).send(&store(b"k", b"two")),
        answered(b"OK\n")
    );
    let exchange = at(&mut bench, later.saturating_add(LIFE - ms(1))).send(&fetch(b"k"));
    assert_eq!(exchange, answered(b"two"));
    let exchange = at(&mut bench, later.saturating_add(LIFE)).send(&fetch(b"k"));
    assert_eq!(exchange, answered(b""));
}

#[test]
fn sliding_lives_from_the_last_read() {
    let mut bench = Bench::with_lifetime(Lifetime::Sliding(LIFE));
    let t = bench.now;
    bench.send(&store(b"k", b"v"));
    // Each read, just before the deadline, moves it on.
    let mut last = t;
    for _ in 0..5 {
        last = last.saturating_add(LIFE - ms(1));
        assert_eq!(at(&mut bench, last).send(&fetch(b"k")), answered(b"v"));
    }
    assert!(
        last > t.saturating_add(LIFE * 4),
        "lived well past one lifetime"
    );
    let exchange = at(&mut bench, last.saturating_add(LIFE)).send(&fetch(b"k"));
    assert_eq!(
        exchange,
        answered(b""),
        "expired a lifetime after the last read"
    );
}

#[test]
fn sliding_without_reads_ends_a_lifetime_after_the_store() {
    let mut bench = Bench::with_lifetime(Lifetime::Sliding(LIFE));
    let t = bench.now;
    bench.send(&store(b"k", b"v"));
    let exchange = at(&mut bench, t.saturating_add(LIFE)).send(&fetch(b"k"));
    assert_eq!(exchange, answered(b""));
}

#[test]
fn a_miss_creates_nothing_under_either_lifetime() {
    for lifetime in [Lifetime::Fixed(LIFE), Lifetime::Sliding(LIFE)] {
        let bench = Bench::with_lifetime(lifetime);
        assert_eq!(bench.send(&fetch(b"k")), answered(b""));
        assert_eq!(bench.engine.stats().curr_items, 0);
    }
}
