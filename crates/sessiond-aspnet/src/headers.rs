//! The request headers the protocol reads, and their values as the reference server reads
//! them.
//!
//! Header names match ignoring ASCII case. The request's lock cookie is accepted as
//! `LockCookie` (what the reference server and the reverse-engineered implementations read) and
//! as `Lock-Cookie` (what the [MS-ASP] examples write).

use std::time::Duration;

use sessiond_engine::LockCookie;

use crate::int32;

/// The timeout of a session whose PUT names none, in minutes (ASP.NET's default).
const DEFAULT_TIMEOUT_MINUTES: u64 = 20;

/// The longest timeout the reference accepts, in minutes: one year.
const MAX_TIMEOUT_MINUTES: i32 = 365 * 24 * 60;

/// One header as a request carries it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Field<'a> {
    /// Not sent.
    #[default]
    Absent,
    /// Sent once, with this value.
    One(&'a [u8]),
    /// Sent more than once. The reference reads repeated headers joined by commas, a value no
    /// number parses and no `Exclusive` keyword equals.
    Repeated,
}

impl<'a> Field<'a> {
    /// The field after one more line of the header, with `value`.
    fn add(&mut self, value: &'a [u8]) {
        *self = match self {
            Field::Absent => Field::One(value),
            Field::One(_) | Field::Repeated => Field::Repeated,
        };
    }
}

/// The protocol's request headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Headers<'a> {
    exclusive: Field<'a>,
    timeout: Field<'a>,
    lock_cookie: Field<'a>,
    extra_flags: Field<'a>,
}

/// What a GET asks for with its `Exclusive` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exclusive {
    /// A plain read: no header, or a value that is neither keyword.
    None,
    /// `acquire`: read and take the lock.
    Acquire,
    /// `release`: release the lock whose cookie the request names.
    Release,
}

/// A header whose value the reference refuses, by the name the reference's error page gives
/// it (the CGI-style name it looks headers up by).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InvalidHeader(pub(crate) &'static str);

const TIMEOUT: InvalidHeader = InvalidHeader("Http_Timeout");
const LOCK_COOKIE: InvalidHeader = InvalidHeader("Http_LockCookie");
const EXTRA_FLAGS: InvalidHeader = InvalidHeader("Http_ExtraFlags");

impl<'a> Headers<'a> {
    /// Records a header line; returns false when the protocol does not read the header.
    pub(crate) fn add(&mut self, name: &str, value: &'a [u8]) -> bool {
        let field = if name.eq_ignore_ascii_case("Exclusive") {
            &mut self.exclusive
        } else if name.eq_ignore_ascii_case("Timeout") {
            &mut self.timeout
        } else if name.eq_ignore_ascii_case("LockCookie")
            || name.eq_ignore_ascii_case("Lock-Cookie")
        {
            &mut self.lock_cookie
        } else if name.eq_ignore_ascii_case("ExtraFlags") {
            &mut self.extra_flags
        } else {
            return false;
        };
        field.add(value);
        true
    }

    /// The `Exclusive` keyword, compared ignoring ASCII case as the [MS-ASP] examples write it
    /// capitalised (`Exclusive: Acquire`). Any other value is a plain read, as in the reference.
    pub(crate) fn exclusive(&self) -> Exclusive {
        let Field::One(value) = self.exclusive else {
            return Exclusive::None;
        };
        let value = value.trim_ascii();
        if value.eq_ignore_ascii_case(b"acquire") {
            Exclusive::Acquire
        } else if value.eq_ignore_ascii_case(b"release") {
            Exclusive::Release
        } else {
            Exclusive::None
        }
    }

    /// The PUT's sliding timeout: `Timeout` minutes, 20 when absent, `None` (never expires) for
    /// 0. Negative, non-numeric and over one year is invalid.
    pub(crate) fn timeout(&self) -> Result<Option<Duration>, InvalidHeader> {
        let minutes = match non_negative(self.timeout, TIMEOUT)? {
            None => DEFAULT_TIMEOUT_MINUTES,
            Some(minutes) if minutes > MAX_TIMEOUT_MINUTES => return Err(TIMEOUT),
            Some(minutes) => u64::from(minutes.unsigned_abs()),
        };
        // The reference stores the item in the ASP.NET cache with this as its sliding
        // expiration; that cache reads a zero sliding expiration as none at all, so a session
        // written with `Timeout: 0` never expires.
        Ok((minutes > 0).then(|| Duration::from_secs(minutes * 60)))
    }

    /// The PUT's `ExtraFlags`: any Int32, 0 when absent.
    pub(crate) fn extra_flags(&self) -> Result<i32, InvalidHeader> {
        match self.extra_flags {
            Field::Absent => Ok(0),
            Field::One(value) => int32::parse(value).ok_or(EXTRA_FLAGS),
            Field::Repeated => Err(EXTRA_FLAGS),
        }
    }

    /// The lock cookie the request holds, if it names one: a non-negative Int32.
    pub(crate) fn lock_cookie(&self) -> Result<Option<LockCookie>, InvalidHeader> {
        let cookie = non_negative(self.lock_cookie, LOCK_COOKIE)?;
        Ok(cookie.map(|cookie| LockCookie(cookie.unsigned_abs())))
    }

    /// The lock cookie a release must name.
    pub(crate) fn required_lock_cookie(&self) -> Result<LockCookie, InvalidHeader> {
        self.lock_cookie()?.ok_or(LOCK_COOKIE)
    }
}

/// An optional non-negative Int32 header, `None` when absent.
fn non_negative(field: Field<'_>, invalid: InvalidHeader) -> Result<Option<i32>, InvalidHeader> {
    match field {
        Field::Absent => Ok(None),
        Field::One(value) => match int32::parse(value) {
            Some(number) if number >= 0 => Ok(Some(number)),
            _ => Err(invalid),
        },
        Field::Repeated => Err(invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[(&str, &'static str)]) -> Headers<'static> {
        let mut headers = Headers::default();
        for (name, value) in lines {
            headers.add(name, value.as_bytes());
        }
        headers
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn only_the_protocol_headers_are_kept() {
        let mut headers = Headers::default();
        assert!(headers.add("eXcLuSiVe", b"acquire"));
        assert!(headers.add("lock-cookie", b"3"));
        assert!(!headers.add("Host", b"localhost"));
        assert!(!headers.add("Content-Length", b"0"));
        assert_eq!(headers.exclusive(), Exclusive::Acquire);
        assert_eq!(headers.lock_cookie(), Ok(Some(LockCookie(3))));
    }

    #[test]
    fn exclusive_keywords_ignore_case() {
        for (value, expected) in [
            ("acquire", Exclusive::Acquire),
            ("Acquire", Exclusive::Acquire),
            (" ACQUIRE ", Exclusive::Acquire),
            ("release", Exclusive::Release),
            ("Release", Exclusive::Release),
            ("", Exclusive::None),
            ("none", Exclusive::None),
            ("acquire,acquire", Exclusive::None),
            ("acquired", Exclusive::None),
        ] {
            assert_eq!(
                headers(&[("Exclusive", value)]).exclusive(),
                expected,
                "{value:?}"
            );
        }
        assert_eq!(headers(&[]).exclusive(), Exclusive::None);
        let twice = headers(&[("Exclusive", "acquire"), ("Exclusive", "acquire")]);
        assert_eq!(twice.exclusive(), Exclusive::None);
    }

    #[test]
    fn timeout_is_minutes_defaults_to_20_and_0_is_never() {
        assert_eq!(headers(&[]).timeout(), Ok(Some(20 * MINUTE)));
        assert_eq!(
            headers(&[("Timeout", "10")]).timeout(),
            Ok(Some(10 * MINUTE))
        );
        assert_eq!(headers(&[("timeout", " 1 ")]).timeout(), Ok(Some(MINUTE)));
        assert_eq!(headers(&[("Timeout", "0")]).timeout(), Ok(None));
        assert_eq!(
            headers(&[("Timeout", "525600")]).timeout(),
            Ok(Some(525_600 * MINUTE))
        );
        for bad in ["525601", "-1", "2147483648", "ten", "", "1.5"] {
            assert_eq!(
                headers(&[("Timeout", bad)]).timeout(),
                Err(TIMEOUT),
                "{bad:?}"
            );
        }
        let twice = headers(&[("Timeout", "10"), ("Timeout", "10")]);
        assert_eq!(twice.timeout(), Err(TIMEOUT));
    }

    #[test]
    fn extra_flags_is_any_int32() {
        assert_eq!(headers(&[]).extra_flags(), Ok(0));
        assert_eq!(headers(&[("ExtraFlags", "1")]).extra_flags(), Ok(1));
        assert_eq!(headers(&[("ExtraFlags", "-1")]).extra_flags(), Ok(-1));
        assert_eq!(headers(&[("ExtraFlags", "+3")]).extra_flags(), Ok(3));
        for bad in ["x", "", "4294967295"] {
            assert_eq!(
                headers(&[("ExtraFlags", bad)]).extra_flags(),
                Err(EXTRA_FLAGS),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn lock_cookie_under_either_name() {
        assert_eq!(headers(&[]).lock_cookie(), Ok(None));
        assert_eq!(headers(&[]).required_lock_cookie(), Err(LOCK_COOKIE));
        assert_eq!(
            headers(&[("LockCookie", "0")]).lock_cookie(),
            Ok(Some(LockCookie(0)))
        );
        assert_eq!(
            headers(&[("Lock-Cookie", "2147483647")]).required_lock_cookie(),
            Ok(LockCookie(i32::MAX as u32))
        );
        for bad in ["-1", "x", "2147483648", ""] {
            assert_eq!(
                headers(&[("LockCookie", bad)]).lock_cookie(),
                Err(LOCK_COOKIE),
                "{bad:?}"
            );
        }
        let both = headers(&[("LockCookie", "2"), ("Lock-Cookie", "2")]);
        assert_eq!(both.lock_cookie(), Err(LOCK_COOKIE));
    }
}
