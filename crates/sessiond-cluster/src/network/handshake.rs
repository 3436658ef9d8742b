//! Mutual authentication with the cluster secret: an HMAC-SHA256 challenge–response in which
//! each side proves it knows the secret without sending it.
//!
//! ```text
//! server → client  "SDCL" version server_nonce[32]
//! client → server  "SDCL" version client_nonce[32] HMAC(secret, CLIENT_LABEL ‖ server_nonce ‖ client_nonce)
//! server → client  ACCEPTED HMAC(secret, SERVER_LABEL ‖ client_nonce ‖ server_nonce)
//!                | REJECTED | VERSION_MISMATCH        (and the server closes)
//! ```
//!
//! Fresh random nonces on both sides make every proof single-use (a recorded exchange cannot
//! be replayed), and the distinct labels keep a client's proof from being reflected back as a
//! server's. The messages are fixed-size, so nothing a stranger sends can make either side
//! allocate or wait beyond the handshake timeout the caller applies.
//!
//! A node with TLS sends [`TLS_PREAMBLE`] in place of the greeting, then runs TLS, and this
//! whole exchange runs inside it (the `tls` module).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::error::HandshakeError;

/// The protocol version this build speaks. The version is also part of the labels the proofs
/// are computed over, so a proof for one version is never valid for another.
pub const PROTOCOL_VERSION: u8 = 1;

const MAGIC: [u8; 4] = *b"SDCL";
const NONCE: usize = 32;
const MAC: usize = 32;
const CLIENT_LABEL: &[u8] = b"sessiond-cluster v1 client";
const SERVER_LABEL: &[u8] = b"sessiond-cluster v1 server";

/// The version byte of a TLS listener's preamble: TLS follows, and this protocol inside it.
const TLS_FOLLOWS: u8 = 0x80 | PROTOCOL_VERSION;

/// What a TLS listener sends before its TLS handshake.
pub(crate) const TLS_PREAMBLE: [u8; 5] = [MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], TLS_FOLLOWS];

/// The first byte of a TLS record carrying a handshake message (a client hello).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

const ACCEPTED: u8 = 0;
const REJECTED: u8 = 1;
const VERSION_MISMATCH: u8 = 2;

const ANSWER: usize = MAGIC.len() + 1 + NONCE + MAC;

type HmacSha256 = Hmac<Sha256>;

fn proof(secret: &[u8], label: &[u8], first: &[u8; NONCE], second: &[u8; NONCE]) -> [u8; MAC] {
    // HMAC accepts keys of any length, so this cannot fail; the fallback keeps the function
    // total without an unwrap.
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        return [0; MAC];
    };
    mac.update(label);
    mac.update(first);
    mac.update(second);
    mac.finalize().into_bytes().into()
}

fn nonce() -> Result<[u8; NONCE], HandshakeError> {
    let mut nonce = [0u8; NONCE];
    getrandom::fill(&mut nonce).map_err(HandshakeError::Random)?;
    Ok(nonce)
}

/// Reads exactly `buf.len()` bytes; a peer that hangs up mid-handshake is an I/O error.
async fn read_exact<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut [u8],
) -> Result<(), HandshakeError> {
    stream.read_exact(buf).await?;
    Ok(())
}

/// Runs the server's side: challenge the client, check its proof, prove ourselves.
///
/// On a wrong proof the client is told `REJECTED` (it learns nothing it did not know) and the
/// caller closes the connection.
pub(crate) async fn server<S>(stream: &mut S, secret: &[u8]) -> Result<(), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let server_nonce = nonce()?;
    let mut greeting = [0u8; PREAMBLE + NONCE];
    greeting[..4].copy_from_slice(&MAGIC);
    greeting[4] = PROTOCOL_VERSION;
    greeting[PREAMBLE..].copy_from_slice(&server_nonce);
    stream.write_all(&greeting).await?;
    stream.flush().await?;

    let mut answer = [0u8; ANSWER];
    // The magic first: a stranger speaking another protocol is told apart from a cluster
    // client with the wrong secret before we wait for the rest of a 69-byte answer.
    match stream.read_exact(&mut answer[..4]).await {
        Ok(_) => {}
        // A node with TLS reads our plain greeting and leaves without a word.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(HandshakeError::ClosedAfterGreeting);
        }
        Err(e) => return Err(e.into()),
    }
    if answer[..4] != MAGIC {
        // A TLS client that does not read our greeting first (not a sessiond node: one reads
        // the preamble and stops on its own).
        if answer[0] == TLS_HANDSHAKE_RECORD {
            return Err(HandshakeError::UnexpectedTls);
        }
        return Err(HandshakeError::NotCluster);
    }
    read_exact(stream, &mut answer[4..]).await?;
    if answer[4] != PROTOCOL_VERSION {
        stream.write_all(&[VERSION_MISMATCH]).await?;
        stream.flush().await?;
        return Err(HandshakeError::Version {
            ours: PROTOCOL_VERSION,
            theirs: answer[4],
        });
    }
    let mut client_nonce = [0u8; NONCE];
    client_nonce.copy_from_slice(&answer[5..5 + NONCE]);
    let expected = proof(secret, CLIENT_LABEL, &server_nonce, &client_nonce);
    if !bool::from(expected.ct_eq(&answer[5 + NONCE..])) {
        stream.write_all(&[REJECTED]).await?;
        stream.flush().await?;
        return Err(HandshakeError::ClientUnauthenticated);
    }

    let mut reply = [0u8; 1 + MAC];
    reply[0] = ACCEPTED;
    reply[1..].copy_from_slice(&proof(secret, SERVER_LABEL, &client_nonce, &server_nonce));
    stream.write_all(&reply).await?;
    stream.flush().await?;
    Ok(())
}

/// What a listener announces in its first five bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Greeting {
    /// This protocol, in plain bytes (its nonce follows).
    Plain,
    /// TLS, with this protocol inside.
    Tls,
}

/// The length of the magic and the version byte.
const PREAMBLE: usize = MAGIC.len() + 1;

/// Reads a listener's first five bytes: the magic and what follows.
pub(crate) async fn read_preamble<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<Greeting, HandshakeError> {
    let mut preamble = [0u8; PREAMBLE];
    read_exact(stream, &mut preamble).await?;
    if preamble[..4] != MAGIC {
        return Err(HandshakeError::NotCluster);
    }
    match preamble[4] {
        PROTOCOL_VERSION => Ok(Greeting::Plain),
        TLS_FOLLOWS => Ok(Greeting::Tls),
        theirs => Err(HandshakeError::Version {
            ours: PROTOCOL_VERSION,
            theirs,
        }),
    }
}

/// Runs the client's side: answer the server's challenge with our own nonce and proof, then
/// check the server's proof, so that a node never talks Raft to an impostor.
pub(crate) async fn client<S>(stream: &mut S, secret: &[u8]) -> Result<(), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if read_preamble(stream).await? == Greeting::Tls {
        return Err(HandshakeError::TlsRequired);
    }
    let mut greeting = [0u8; NONCE];
    read_exact(stream, &mut greeting).await?;
    let server_nonce = greeting;

    let client_nonce = nonce()?;
    let mut answer = [0u8; ANSWER];
    answer[..4].copy_from_slice(&MAGIC);
    answer[4] = PROTOCOL_VERSION;
    answer[5..5 + NONCE].copy_from_slice(&client_nonce);
    answer[5 + NONCE..].copy_from_slice(&proof(secret, CLIENT_LABEL, &server_nonce, &client_nonce));
    stream.write_all(&answer).await?;
    stream.flush().await?;

    let mut status = [0u8; 1];
    read_exact(stream, &mut status).await?;
    match status[0] {
        ACCEPTED => {}
        REJECTED => return Err(HandshakeError::Rejected),
        VERSION_MISMATCH => {
            return Err(HandshakeError::Version {
                ours: PROTOCOL_VERSION,
                theirs: PROTOCOL_VERSION,
            });
        }
        _ => return Err(HandshakeError::NotCluster),
    }
    let mut server_proof = [0u8; MAC];
    read_exact(stream, &mut server_proof).await?;
    let expected = proof(secret, SERVER_LABEL, &client_nonce, &server_nonce);
    if !bool::from(expected.ct_eq(&server_proof)) {
        return Err(HandshakeError::ServerUnauthenticated);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair(
        client_secret: &'static [u8],
        server_secret: &'static [u8],
    ) -> (Result<(), HandshakeError>, Result<(), HandshakeError>) {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let server = tokio::spawn(async move { super::server(&mut b, server_secret).await });
        let client = super::client(&mut a, client_secret).await;
        drop(a);
        (client, server.await.unwrap())
    }

    #[tokio::test]
    async fn same_secret_authenticates_both_sides() {
        let (c, s) = pair(b"secret", b"secret").await;
        assert!(c.is_ok(), "{c:?}");
        assert!(s.is_ok(), "{s:?}");
    }

    #[tokio::test]
    async fn wrong_secret_is_refused_on_both_sides() {
        let (c, s) = pair(b"secret", b"other").await;
        assert!(matches!(c, Err(HandshakeError::Rejected)), "{c:?}");
        assert!(
            matches!(s, Err(HandshakeError::ClientUnauthenticated)),
            "{s:?}"
        );
    }

    #[tokio::test]
    async fn an_impostor_server_is_detected() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let impostor = tokio::spawn(async move {
            let mut greeting = [0u8; PREAMBLE + NONCE];
            greeting[..4].copy_from_slice(&MAGIC);
            greeting[4] = PROTOCOL_VERSION;
            b.write_all(&greeting).await.unwrap();
            let mut answer = [0u8; ANSWER];
            b.read_exact(&mut answer).await.unwrap();
            // It accepts anyone and makes up a proof.
            let mut reply = [7u8; 1 + MAC];
            reply[0] = ACCEPTED;
            b.write_all(&reply).await.unwrap();
            b
        });
        let c = client(&mut a, b"secret").await;
        assert!(
            matches!(c, Err(HandshakeError::ServerUnauthenticated)),
            "{c:?}"
        );
        drop(impostor.await.unwrap());
    }

    #[tokio::test]
    async fn strangers_and_other_versions_are_told_apart() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let server = tokio::spawn(async move { super::server(&mut b, b"s").await });
        let mut greeting = [0u8; PREAMBLE + NONCE];
        a.read_exact(&mut greeting).await.unwrap();
        a.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        assert!(matches!(
            server.await.unwrap(),
            Err(HandshakeError::NotCluster)
        ));

        let (mut a, mut b) = tokio::io::duplex(1024);
        let server = tokio::spawn(async move { super::server(&mut b, b"s").await });
        a.read_exact(&mut greeting).await.unwrap();
        let mut answer = [0u8; ANSWER];
        answer[..4].copy_from_slice(&MAGIC);
        answer[4] = PROTOCOL_VERSION + 1;
        a.write_all(&answer).await.unwrap();
        let mut status = [0u8; 1];
        a.read_exact(&mut status).await.unwrap();
        assert_eq!(status[0], VERSION_MISMATCH);
        assert!(matches!(
            server.await.unwrap(),
            Err(HandshakeError::Version { theirs: 2, .. })
        ));
    }

    #[tokio::test]
    async fn a_plain_client_stops_at_a_tls_preamble() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        b.write_all(&TLS_PREAMBLE).await.unwrap();
        let c = client(&mut a, b"secret").await;
        assert!(matches!(c, Err(HandshakeError::TlsRequired)), "{c:?}");
        let mut plain = [0u8; PREAMBLE];
        plain[..4].copy_from_slice(&MAGIC);
        plain[4] = PROTOCOL_VERSION;
        b.write_all(&plain).await.unwrap();
        assert_eq!(read_preamble(&mut a).await.unwrap(), Greeting::Plain);
        b.write_all(&TLS_PREAMBLE).await.unwrap();
        assert_eq!(read_preamble(&mut a).await.unwrap(), Greeting::Tls);
    }

    #[tokio::test]
    async fn a_plain_server_names_a_tls_hello() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let server = tokio::spawn(async move { super::server(&mut b, b"s").await });
        a.write_all(&[0x16, 0x03, 0x01, 0x00, 0x80]).await.unwrap();
        assert!(matches!(
            server.await.unwrap(),
            Err(HandshakeError::UnexpectedTls)
        ));
    }

    #[test]
    fn proofs_depend_on_label_order_and_secret() {
        let (x, y) = ([1u8; NONCE], [2u8; NONCE]);
        let p = proof(b"s", CLIENT_LABEL, &x, &y);
        assert_ne!(p, proof(b"s", SERVER_LABEL, &x, &y));
        assert_ne!(p, proof(b"s", CLIENT_LABEL, &y, &x));
        assert_ne!(p, proof(b"t", CLIENT_LABEL, &x, &y));
    }
}
