//! Framing: every message after the handshake is a `u32` big-endian length followed by that
//! many bytes of postcard.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::error::TransportError;

/// The length prefix's size.
pub(crate) const HEADER: usize = 4;

/// Encodes `msg` as one frame into `buf` (replacing its contents), refusing frames over `max`
/// so that we never send what the peer must refuse.
pub(crate) fn encode<T: Serialize>(
    msg: &T,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<(), TransportError> {
    let mut out = std::mem::take(buf);
    out.clear();
    out.extend_from_slice(&[0; HEADER]);
    let mut out = postcard::to_extend(msg, out).map_err(TransportError::Encode)?;
    let len = out.len() - HEADER;
    let Ok(prefix) = u32::try_from(len) else {
        return Err(TransportError::FrameTooLarge {
            len: len as u64,
            max,
        });
    };
    if len > max {
        return Err(TransportError::FrameTooLarge {
            len: len as u64,
            max,
        });
    }
    out[..HEADER].copy_from_slice(&prefix.to_be_bytes());
    *buf = out;
    Ok(())
}

/// Decodes one message from a frame's payload; trailing bytes are a protocol error, so two
/// ends that disagree about a message's shape fail loudly instead of misreading each other.
pub(crate) fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, TransportError> {
    let (msg, rest) = postcard::take_from_bytes(payload).map_err(TransportError::Decode)?;
    if !rest.is_empty() {
        return Err(TransportError::Protocol("trailing bytes after a message"));
    }
    Ok(msg)
}

/// Writes `msg` as one frame, using `buf` as scratch space.
pub(crate) async fn write<W, T>(
    writer: &mut W,
    msg: &T,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<(), TransportError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    encode(msg, buf, max)?;
    writer.write_all(buf).await?;
    writer.flush().await?;
    Ok(())
}

/// Reads one frame's payload into `buf`. A clean end of stream before a frame starts is
/// [`TransportError::Closed`]; a length over `max` is refused before any of the payload is
/// read. The buffer grows with the bytes that actually arrive, so a peer announcing a large
/// frame and sending nothing does not make us allocate it.
pub(crate) async fn read<R>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<(), TransportError>
where
    R: AsyncRead + Unpin,
{
    let mut header = [0u8; HEADER];
    let mut filled = 0;
    while filled < HEADER {
        let n = reader.read(&mut header[filled..]).await?;
        if n == 0 {
            return Err(if filled == 0 {
                TransportError::Closed
            } else {
                TransportError::Io(std::io::ErrorKind::UnexpectedEof.into())
            });
        }
        filled += n;
    }
    let len = u32::from_be_bytes(header);
    if len as usize > max {
        return Err(TransportError::FrameTooLarge {
            len: u64::from(len),
            max,
        });
    }
    buf.clear();
    let got = (&mut *reader).take(u64::from(len)).read_to_end(buf).await?;
    if got != len as usize {
        return Err(TransportError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(())
}

/// Reads and decodes one message.
pub(crate) async fn read_msg<R, T>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<T, TransportError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    read(reader, buf, max).await?;
    decode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let mut buf = Vec::new();
        write(&mut a, &(7u64, "seven".to_string()), &mut buf, 1024)
            .await
            .unwrap();
        let got: (u64, String) = read_msg(&mut b, &mut buf, 1024).await.unwrap();
        assert_eq!(got, (7, "seven".to_string()));
        drop(a);
        assert!(matches!(
            read(&mut b, &mut buf, 1024).await,
            Err(TransportError::Closed)
        ));
    }

    #[tokio::test]
    async fn oversized_frames_are_refused_on_both_ends() {
        let mut buf = Vec::new();
        assert!(matches!(
            encode(&vec![0u8; 2000], &mut buf, 1024),
            Err(TransportError::FrameTooLarge { max: 1024, .. })
        ));
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        assert!(matches!(
            read(&mut b, &mut buf, 1024).await,
            Err(TransportError::FrameTooLarge {
                len: 4_294_967_295,
                max: 1024
            })
        ));
    }

    #[tokio::test]
    async fn truncated_frames_and_trailing_bytes_are_errors() {
        let mut buf = Vec::new();
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&[0, 0, 0, 10, 1, 2]).await.unwrap();
        drop(a);
        assert!(matches!(
            read(&mut b, &mut buf, 1024).await,
            Err(TransportError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof
        ));
        assert!(matches!(
            decode::<u8>(&[1, 2]),
            Err(TransportError::Protocol(_))
        ));
        assert!(matches!(decode::<u64>(&[]), Err(TransportError::Decode(_))));
    }
}
