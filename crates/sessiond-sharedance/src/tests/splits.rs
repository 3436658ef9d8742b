//! A request cut into reads anywhere gets the same answer as a request read whole.

use super::{Bench, Exchange, answered, delete, fetch, refused, store};
use crate::{Limits, Refusal};

/// Runs `request` whole and cut in every way into two and three reads, and byte by byte, each
/// on a fresh bench prepared by `setup`; every run must give `expected` and leave the same
/// value under `key`.
fn same_in_every_split(setup: fn(&Bench), request: &[u8], key: &[u8], expected: &Exchange) {
    let run = |pieces: &[&[u8]]| {
        let bench = Bench::with_limits(Limits {
            max_request_size: 64,
            max_key_len: 16,
        });
        setup(&bench);
        let exchange = bench.send_pieces(pieces);
        (exchange, bench.value(key))
    };
    let whole = run(&[request]);
    assert_eq!(&whole.0, expected, "whole");
    for first in 1..request.len() {
        let (a, b) = request.split_at(first);
        assert_eq!(run(&[a, b]), whole, "cut at {first}");
        for second in first + 1..request.len() {
            let (b, c) = b.split_at(second - first);
            assert_eq!(run(&[a, b, c]), whole, "cut at {first} and {second}");
        }
    }
    let bytes: Vec<&[u8]> = request.chunks(1).collect();
    assert_eq!(run(&bytes), whole, "byte by byte");
}

fn empty(_: &Bench) {}

fn stored(bench: &Bench) {
    assert_eq!(bench.send(&store(b"key", b"value")), answered(b"OK\n"));
}

#[test]
fn store_new_and_empty() {
    same_in_every_split(empty, &store(b"key", b"value"), b"key", &answered(b"OK\n"));
    same_in_every_split(stored, &store(b"key", b""), b"key", &answered(b"OK\n"));
}

#[test]
fn fetch_hit_and_miss() {
    same_in_every_split(stored, &fetch(b"key"), b"key", &answered(b"value"));
    same_in_every_split(empty, &fetch(b"key"), b"key", &answered(b""));
}

#[test]
fn delete_hit_and_miss() {
    same_in_every_split(stored, &delete(b"key"), b"key", &answered(b"OK\n"));
    same_in_every_split(empty, &delete(b"key"), b"key", &answered(b""));
}

#[test]
fn every_refusal() {
    let invalid = refused(Refusal::InvalidKey);
    same_in_every_split(stored, &store(b"k.y", b"value"), b"key", &invalid);
    same_in_every_split(stored, &delete(b"ke/"), b"key", &invalid);
    same_in_every_split(stored, &fetch(b"\x7fey"), b"key", &invalid);
    let empty_key = refused(Refusal::EmptyKey);
    same_in_every_split(stored, &store(b"", b"value"), b"key", &empty_key);
    let too_long = refused(Refusal::KeyTooLong);
    same_in_every_split(stored, &delete(&[b'k'; 17]), b"key", &too_long);
    let too_large = refused(Refusal::RequestTooLarge);
    same_in_every_split(stored, &store(b"key", &[b'v'; 53]), b"key", &too_large);
    let unknown = refused(Refusal::UnknownCommand(b'X'));
    same_in_every_split(stored, b"X\0\0\0\x03key", b"key", &unknown);
}
