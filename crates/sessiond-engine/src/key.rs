//! Keys and the namespaces (applications) they live in.

/// An application's namespace. Keys in different namespaces never meet, so two applications may
/// use the same session id; several applications share sessions (single sign-on) by being mapped
/// to one namespace by the server's configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NamespaceId(pub u32);

impl NamespaceId {
    /// The namespace that protocols without application ids (memcached) use.
    pub const DEFAULT: NamespaceId = NamespaceId(0);
}

/// A key as a command names it: a namespace and the key's bytes, borrowed from the request.
///
/// Keys are opaque bytes: the engine puts no limit on length or content; protocols apply
/// their own (memcached's 250 bytes, for instance).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key<'a> {
    /// The namespace the key lives in.
    pub namespace: NamespaceId,
    /// The key's bytes.
    pub name: &'a [u8],
}

impl<'a> Key<'a> {
    /// A key in `namespace`.
    pub fn new(namespace: NamespaceId, name: &'a [u8]) -> Self {
        Key { namespace, name }
    }

    /// A key in the default namespace.
    pub fn default_namespace(name: &'a [u8]) -> Self {
        Key::new(NamespaceId::DEFAULT, name)
    }
}
