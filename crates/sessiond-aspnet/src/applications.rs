//! Which namespace an application's sessions live in: apart by default, shared by the
//! applications of a configured group (single sign-on).
//!
//! A decoded key is `<application part>/<session id>`, the application part being the
//! application's path with its hash suffix, as the .NET client builds it:
//! `/LM/W3SVC/1/ROOT/shop(sx01GGAfrT/Xm/AHJShXDlwTYPCa/39Yvs6vMn0QUyE=)/2bxkcwnmq1yqhqv1ozrcc5x0`.
//! The session id is the text after the last `/` (the hash may hold `/` too). The application
//! id is the part without its `(…)` hash suffix, `/LM/W3SVC/1/ROOT/shop`. The hash differs
//! between applications even when they share, so a shared key drops the application part and
//! keeps the session id alone.

use std::collections::HashMap;

use sessiond_engine::{Key, NamespaceId};

/// Which namespace each application's sessions live in.
#[derive(Clone, Debug)]
pub struct Applications {
    /// Where the keys of applications in no group live, each whole.
    separate: NamespaceId,
    /// Each shared application id, normalised by [`normalise`] and lower-cased, to its
    /// group's namespace.
    shared: HashMap<Box<[u8]>, NamespaceId>,
}

/// Why a sharing group could not be added.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplicationsError {
    /// An application id is empty.
    #[error("an application id is empty")]
    Empty,
    /// An application id is in two groups.
    #[error("application '{0}' is in more than one shared group")]
    Duplicate(String),
}

impl Applications {
    /// Every application apart, all keys in `separate`.
    pub fn new(separate: NamespaceId) -> Self {
        Applications {
            separate,
            shared: HashMap::new(),
        }
    }

    /// Makes the applications share sessions in `namespace`: a session id names the same
    /// session in all of them.
    ///
    /// An application is named by its id (`/LM/W3SVC/1/ROOT/shop`, the ASP.NET application's
    /// `AppDomainAppId`) or by its id with the hash suffix the client adds
    /// (`/LM/W3SVC/1/ROOT/shop(…)`); leading and trailing `/` do not matter, nor does ASCII case.
    /// Naming an application twice in one group is harmless; naming it in two groups is an
    /// error, and a failed call changes nothing.
    pub fn share(
        &mut self,
        applications: &[String],
        namespace: NamespaceId,
    ) -> Result<(), ApplicationsError> {
        let mut ids = Vec::with_capacity(applications.len());
        for application in applications {
            let id = normalise(application.as_bytes()).to_ascii_lowercase();
            if id.is_empty() {
                return Err(ApplicationsError::Empty);
            }
            if self.shared.contains_key(&id[..]) {
                return Err(ApplicationsError::Duplicate(application.clone()));
            }
            ids.push(id.into_boxed_slice());
        }
        for id in ids {
            self.shared.insert(id, namespace);
        }
        Ok(())
    }

    /// The engine key for a decoded request key: the session id in its group's namespace when
    /// the application shares, otherwise the whole decoded key in the separate namespace.
    pub fn key<'k>(&self, decoded: &'k [u8]) -> Key<'k> {
        if self.shared.is_empty() {
            return Key::new(self.separate, decoded);
        }
        let Some(slash) = memchr::memrchr(b'/', decoded) else {
            return Key::new(self.separate, decoded);
        };
        let (part, session) = (&decoded[..slash], &decoded[slash + 1..]);
        let part = normalise(part);
        let group = self
            .lookup(part)
            .or_else(|| without_hash(part).and_then(|id| self.lookup(normalise(id))));
        match group {
            Some(namespace) => Key::new(namespace, session),
            None => Key::new(self.separate, decoded),
        }
    }

    /// The namespace of the group `id` (normalised) is in, ignoring ASCII case.
    fn lookup(&self, id: &[u8]) -> Option<NamespaceId> {
        // Lower-case on the stack: application ids are short, and a request should not
        // allocate to find its namespace.
        let mut stack = [0u8; 256];
        if let Some(lower) = stack.get_mut(..id.len()) {
            lower.copy_from_slice(id);
            lower.make_ascii_lowercase();
            self.shared.get(&*lower).copied()
        } else {
            self.shared.get(&id.to_ascii_lowercase()[..]).copied()
        }
    }
}

/// An application id or part without its leading and trailing `/`.
fn normalise(id: &[u8]) -> &[u8] {
    let start = id.iter().position(|&b| b != b'/').unwrap_or(id.len());
    let end = id
        .iter()
        .rposition(|&b| b != b'/')
        .map_or(start, |last| last + 1);
    &id[start..end]
}

/// An application part without its `(…)` hash suffix, when it has one.
fn without_hash(part: &[u8]) -> Option<&[u8]> {
    if !part.ends_with(b")") {
        return None;
    }
    memchr::memrchr(b'(', part).map(|open| &part[..open])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEPARATE: NamespaceId = NamespaceId(1);
    const GROUP: NamespaceId = NamespaceId(100);
    const OTHER_GROUP: NamespaceId = NamespaceId(101);
    const SHOP: &[u8] = b"/LM/W3SVC/1/ROOT/shop(sx01GGAfrT/Xm/AHJShXDlwTYPCa/39Yvs6vMn0QUyE=)/2bxkcwnmq1yqhqv1ozrcc5x0";
    const BLOG: &[u8] = b"/LM/W3SVC/1/ROOT/blog(kE0NmVBzUo0uyAGWqkLq8NdC4HjnTUjN0c2jGF2Y3jA=)/2bxkcwnmq1yqhqv1ozrcc5x0";
    const WIKI: &[u8] = b"/LM/W3SVC/1/ROOT/wiki(Q7y2Gf0h1bXvQ7yV2k5ZQ1cR8W4p3mT6nL9sD0aE2fI=)/2bxkcwnmq1yqhqv1ozrcc5x0";

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    fn shared() -> Applications {
        let mut applications = Applications::new(SEPARATE);
        applications
            .share(
                &ids(&["/LM/W3SVC/1/ROOT/shop", "LM/W3SVC/1/ROOT/blog/"]),
                GROUP,
            )
            .unwrap();
        applications
    }

    #[test]
    fn without_groups_every_key_is_whole_and_apart() {
        let applications = Applications::new(SEPARATE);
        assert_eq!(applications.key(SHOP), Key::new(SEPARATE, SHOP));
        assert_eq!(applications.key(b""), Key::new(SEPARATE, b""));
    }

    #[test]
    fn applications_in_a_group_share_the_session_id() {
        let applications = shared();
        let session = &b"2bxkcwnmq1yqhqv1ozrcc5x0"[..];
        assert_eq!(applications.key(SHOP), Key::new(GROUP, session));
        assert_eq!(applications.key(BLOG), Key::new(GROUP, session));
        assert_eq!(applications.key(WIKI), Key::new(SEPARATE, WIKI));
    }

    #[test]
    fn ids_match_ignoring_case_and_slashes() {
        let applications = shared();
        let session = &b"sid"[..];
        for key in [
            &b"/lm/w3svc/1/root/SHOP(hash)/sid"[..],
            b"LM/W3SVC/1/ROOT/shop(hash)/sid",
            b"/LM/W3SVC/1/ROOT/shop/sid",
            b"/LM/W3SVC/1/ROOT/shop//sid",
            b"/LM/W3SVC/1/ROOT/shop(x/y=)/sid",
        ] {
            assert_eq!(applications.key(key), Key::new(GROUP, session), "{key:?}");
        }
        for key in [
            &b"/LM/W3SVC/1/ROOT/shopping(hash)/sid"[..],
            b"/LM/W3SVC/1/ROOT/sho(hash)/sid",
            b"/LM/W3SVC/1/ROOT/shop(hash)x/sid",
            b"/LM/W3SVC/1/ROOT/shop",
            b"sid",
        ] {
            assert_eq!(applications.key(key), Key::new(SEPARATE, key), "{key:?}");
        }
    }

    #[test]
    fn an_id_may_name_one_hash_only() {
        let mut applications = Applications::new(SEPARATE);
        applications
            .share(&ids(&["/w3svc/root/app(AAA=)", "/w3svc/root/other"]), GROUP)
            .unwrap();
        assert_eq!(
            applications.key(b"/W3SVC/root/app(aaa=)/sid"),
            Key::new(GROUP, b"sid")
        );
        let other_hash = b"/w3svc/root/app(BBB=)/sid";
        assert_eq!(applications.key(other_hash), Key::new(SEPARATE, other_hash));
    }

    #[test]
    fn long_application_parts_are_looked_up_too() {
        let long = format!("/{}", "a".repeat(300));
        let mut applications = Applications::new(SEPARATE);
        applications.share(&ids(&[&long]), GROUP).unwrap();
        let key = format!("{}(hash)/SID", long.to_uppercase());
        assert_eq!(applications.key(key.as_bytes()), Key::new(GROUP, b"SID"));
    }

    #[test]
    fn groups_are_kept_apart() {
        let mut applications = shared();
        applications
            .share(&ids(&["/LM/W3SVC/1/ROOT/wiki"]), OTHER_GROUP)
            .unwrap();
        assert_eq!(
            applications.key(WIKI),
            Key::new(OTHER_GROUP, b"2bxkcwnmq1yqhqv1ozrcc5x0")
        );
        assert_eq!(applications.key(SHOP).namespace, GROUP);
    }

    #[test]
    fn empty_and_duplicate_ids_are_refused_and_change_nothing() {
        let mut applications = shared();
        assert_eq!(
            applications.share(&ids(&["/LM/W3SVC/1/ROOT/wiki", "/"]), OTHER_GROUP),
            Err(ApplicationsError::Empty)
        );
        assert_eq!(
            applications.share(&ids(&[""]), OTHER_GROUP),
            Err(ApplicationsError::Empty)
        );
        assert_eq!(
            applications.share(
                &ids(&["/LM/W3SVC/1/ROOT/wiki", "/lm/w3svc/1/root/SHOP/"]),
                OTHER_GROUP
            ),
            Err(ApplicationsError::Duplicate(
                "/lm/w3svc/1/root/SHOP/".to_string()
            ))
        );
        assert_eq!(applications.key(WIKI), Key::new(SEPARATE, WIKI));
        applications
            .share(
                &ids(&["/LM/W3SVC/1/ROOT/wiki", "/LM/W3SVC/1/ROOT/wiki/"]),
                OTHER_GROUP,
            )
            .unwrap();
        assert_eq!(applications.key(WIKI).namespace, OTHER_GROUP);
    }
}
