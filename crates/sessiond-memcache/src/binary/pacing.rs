//! When memcached writes its replies out, modelled so a wrong magic byte drops exactly the
//! replies memcached would drop.
//!
//! memcached queues replies and writes them out only at certain points; when a request has a
//! wrong magic byte it closes the connection and the queued replies are lost. It writes out:
//! - after an error reply or a NOOP;
//! - when its 16 KiB read buffer runs out of whole requests, before it reads more (it then
//!   refills the buffer, or reads a value or a discarded body straight past it);
//! - after 20 requests in one read event (its `-R` default), when it yields to other
//!   connections, 21 in the event's first batch.
//!
//! The model assumes memcached could read everything this `process` call was given, as it can
//! when a client sends a pipeline in one go; replies of earlier calls are already written.

/// memcached's per-connection read buffer.
pub(super) const READ_BUFFER_SIZE: usize = 16 * 1024;

/// memcached's default requests per read event.
const REQUESTS_PER_EVENT: i32 = 20;

/// memcached's buffer and write state over one `process` call.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pacing {
    /// Output bytes memcached would have written by now.
    written: usize,
    /// Requests left before memcached yields.
    budget: i32,
    /// Input bytes memcached would hold in its read buffer, counted from the front of the
    /// unconsumed input.
    buffered: usize,
}

impl Pacing {
    /// The state at the start of a call: everything before `output_len` is written, and
    /// memcached has just filled its buffer.
    pub fn new(output_len: usize) -> Self {
        Pacing {
            written: output_len,
            budget: REQUESTS_PER_EVENT,
            buffered: READ_BUFFER_SIZE,
        }
    }

    /// Output bytes memcached would have written: what survives a wrong magic byte.
    pub fn written(&self) -> usize {
        self.written
    }

    /// memcached needs `len` bytes of the next request buffered before it acts: when it holds
    /// fewer, it writes out its replies and reads, starting a new event.
    pub fn need(&mut self, len: usize, output_len: usize) {
        if len > self.buffered {
            self.written = output_len;
            self.budget = REQUESTS_PER_EVENT;
            self.buffered = READ_BUFFER_SIZE;
        }
    }

    /// `len` input bytes were consumed; past the buffer, memcached read them straight from the
    /// socket and is left with an empty buffer.
    pub fn consume(&mut self, len: usize) {
        self.buffered = self.buffered.saturating_sub(len);
    }

    /// memcached writes its replies out here.
    pub fn flush(&mut self, output_len: usize) {
        self.written = output_len;
    }

    /// A request is done; every so many, memcached writes out and yields.
    pub fn request_done(&mut self, output_len: usize) {
        self.budget -= 1;
        if self.budget < 0 {
            self.written = output_len;
            // The next event starts with a fresh budget, one of which the connection's
            // return to its command state takes.
            self.budget = REQUESTS_PER_EVENT - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_buffer_writes_out_and_refills() {
        let mut pacing = Pacing::new(0);
        pacing.consume(READ_BUFFER_SIZE - 10);
        pacing.need(10, 100);
        assert_eq!(pacing.written(), 0);
        pacing.need(11, 100);
        assert_eq!(pacing.written(), 100);
        pacing.consume(1 << 20);
        pacing.need(1, 200);
        assert_eq!(pacing.written(), 200);
    }

    #[test]
    fn the_first_batch_is_21_requests_then_20() {
        let mut pacing = Pacing::new(0);
        for n in 1..=21 {
            pacing.request_done(n);
        }
        assert_eq!(pacing.written(), 21);
        for n in 22..=41 {
            pacing.request_done(n);
        }
        assert_eq!(pacing.written(), 41);
    }
}
