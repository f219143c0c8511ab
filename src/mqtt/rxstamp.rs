//! Kernel receive timestamps on plain TCP (Linux): when the bytes a read
//! took in reached the socket, so a batched or paced read costs e2e latency
//! no accuracy, and midge can state how long its own reads held them
//! (report.json `latency.own`, `latency.receive_delay`).
//!
//! `enable` sets `SO_TIMESTAMPNS` on a client's socket; `read_stamped`
//! reads with `recvmsg` and a control buffer (through tokio's readiness and
//! `try_io`, so it stays cancel-safe: bytes are taken off the socket only
//! inside the synchronous `try_io`), and `parse_timestamp` finds the
//! `SCM_TIMESTAMPNS` message in it. The stamp is CLOCK_REALTIME; the caller
//! turns it into run-clock µs (`RunClock::run_us_of_unix_ns`).
//!
//! What a stamp means: TCP gives one timestamp per `recvmsg`, that of the
//! last segment the read consumed (and the kernel merges segments waiting
//! in the receive queue, keeping the newest stamp, so reading less per call
//! would not give finer ones). A packet completed by an earlier segment
//! of the same read is stamped when the read's last bytes arrived: later
//! than its own arrival by at most the spread of the read's segments, never
//! by the time the bytes then waited for midge to read them. A segment that
//! came before timestamping was on carries no stamp: the read is then
//! stamped in userspace, as TLS and WebSocket connections always are (their
//! bytes go through a decoder; the kernel's stamp of the ciphertext is not
//! the packet's).

use bytes::BytesMut;
use std::io;
use tokio::net::TcpStream;

/// Asks the kernel to stamp what this socket receives. False where it
/// cannot (not Linux, or the option refused): reads are then stamped in
/// userspace.
#[cfg(target_os = "linux")]
pub fn enable(tcp: &TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    super::sockopt::set_int(tcp.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
}

#[cfg(not(target_os = "linux"))]
pub fn enable(_tcp: &TcpStream) -> bool {
    false
}

/// Room for one `SCM_TIMESTAMPNS` message (a header and a timespec) and
/// then some, aligned as `cmsghdr` must be.
#[repr(C, align(8))]
struct Control([u8; 64]);

/// Reads what the socket holds into `buf`'s free room (at least one byte of
/// it), waiting for readiness. Returns the bytes read (0: the end) and the
/// kernel's receive time of the read's last segment, Unix ns, if it had one.
#[cfg(target_os = "linux")]
pub async fn read_stamped(tcp: &TcpStream, buf: &mut BytesMut) -> io::Result<(usize, Option<u64>)> {
    use std::os::fd::AsRawFd;
    use tokio::io::Interest;
    loop {
        std::future::poll_fn(|cx| tcp.poll_read_ready(cx)).await?;
        let fd = tcp.as_raw_fd();
        let got = tcp.try_io(Interest::READABLE, || {
            let spare = buf.spare_capacity_mut();
            let mut iov = libc::iovec { iov_base: spare.as_mut_ptr() as *mut libc::c_void, iov_len: spare.len() };
            let mut control = Control([0; 64]);
            // SAFETY: zeroed msghdr is valid; every pointer set below lives
            // across the call and the lengths are those of its buffers.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.0.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = control.0.len() as _;
            // SAFETY: as above; recvmsg writes at most iov_len bytes into spare room.
            let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let used = (msg.msg_controllen as usize).min(control.0.len());
            Ok((n as usize, parse_timestamp(&control.0[..used])))
        });
        match got {
            Ok((n, stamp)) => {
                // SAFETY: recvmsg initialised the first n bytes of the spare room.
                unsafe { buf.set_len(buf.len() + n) };
                return Ok((n, stamp));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub async fn read_stamped(tcp: &TcpStream, buf: &mut BytesMut) -> io::Result<(usize, Option<u64>)> {
    let _ = (tcp, buf);
    Err(io::Error::new(io::ErrorKind::Unsupported, "kernel receive timestamps are Linux only"))
}

/// The `SCM_TIMESTAMPNS` stamp in a `recvmsg` control buffer, as Unix ns:
/// walked header by header (each `cmsghdr`, its data aligned to the word
/// size), so a buffer cut short or holding other messages yields None or
/// skips them, never a read past its end.
pub fn parse_timestamp(control: &[u8]) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let word = std::mem::size_of::<usize>();
        let align = |n: usize| n.div_ceil(word) * word;
        let header = std::mem::size_of::<libc::cmsghdr>();
        let mut at = 0usize;
        while at + header <= control.len() {
            // SAFETY: `header` bytes from `at` are inside the slice; read unaligned.
            let h: libc::cmsghdr = unsafe { std::ptr::read_unaligned(control[at..].as_ptr() as *const libc::cmsghdr) };
            let len = h.cmsg_len as usize;
            if len < header || at + len > control.len() {
                return None;
            }
            let data = at + align(header);
            let ts = std::mem::size_of::<libc::timespec>();
            if h.cmsg_level == libc::SOL_SOCKET && h.cmsg_type == libc::SCM_TIMESTAMPNS && data + ts <= at + len {
                // SAFETY: a timespec's bytes from `data` lie inside this message.
                let t: libc::timespec =
                    unsafe { std::ptr::read_unaligned(control[data..].as_ptr() as *const libc::timespec) };
                if t.tv_sec < 0 || !(0..1_000_000_000).contains(&t.tv_nsec) {
                    return None;
                }
                return Some(t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64);
            }
            at += align(len);
        }
        None
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = control;
        None
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// A control buffer as the kernel writes it: one message of `level` /
    /// `kind` carrying `data`, aligned to the word size.
    fn message(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let header = std::mem::size_of::<libc::cmsghdr>();
        let len = header + data.len();
        let mut h: libc::cmsghdr = unsafe { std::mem::zeroed() };
        h.cmsg_len = len as _;
        h.cmsg_level = level;
        h.cmsg_type = kind;
        // SAFETY: a plain C struct viewed as its bytes.
        let bytes = unsafe { std::slice::from_raw_parts(&h as *const libc::cmsghdr as *const u8, header) };
        let mut out = bytes.to_vec();
        out.extend_from_slice(data);
        out.resize(len.div_ceil(8) * 8, 0);
        out
    }

    fn timespec(sec: i64, nsec: i64) -> Vec<u8> {
        let t = libc::timespec { tv_sec: sec as _, tv_nsec: nsec as _ };
        // SAFETY: a plain C struct viewed as its bytes.
        unsafe { std::slice::from_raw_parts(&t as *const libc::timespec as *const u8, std::mem::size_of_val(&t)) }
            .to_vec()
    }

    #[test]
    fn the_timestamp_message_is_found_and_read_as_unix_ns() {
        let ts = message(libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &timespec(1_765_000_000, 123_456_789));
        assert_eq!(parse_timestamp(&ts), Some(1_765_000_000_123_456_789));
        // Behind another message, it is still found.
        let mut two = message(libc::IPPROTO_IP, libc::IP_TOS, &[7, 0, 0, 0]);
        two.extend_from_slice(&ts);
        assert_eq!(parse_timestamp(&two), Some(1_765_000_000_123_456_789));
        // None there, cut short, or out of range: no stamp, no panic.
        assert_eq!(parse_timestamp(&[]), None);
        assert_eq!(parse_timestamp(&ts[..ts.len() - 9]), None);
        assert_eq!(parse_timestamp(&ts[..3]), None);
        let bad = message(libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS, &timespec(5, 1_000_000_000));
        assert_eq!(parse_timestamp(&bad), None);
        let mut zero_len = ts.clone();
        zero_len[..8].copy_from_slice(&0u64.to_ne_bytes());
        assert_eq!(parse_timestamp(&zero_len), None);
    }

    /// On loopback the kernel stamps what a read takes in: a stamp that
    /// lies between the write and the read, and before a read that waited.
    #[tokio::test]
    async fn a_read_on_loopback_carries_the_time_its_bytes_arrived() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut peer, _) = listener.accept().await.unwrap();
        assert!(enable(&tcp));
        // The kernel turns stamping on a moment after the first socket asks.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let unix_ns = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
        let before = unix_ns();
        peer.write_all(b"hello").await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        let mut buf = BytesMut::with_capacity(64);
        let (n, stamp) = read_stamped(&tcp, &mut buf).await.unwrap();
        let after = unix_ns();
        assert_eq!((n, &buf[..]), (5, &b"hello"[..]));
        let stamp = stamp.expect("a stamped read");
        assert!(before <= stamp && stamp + 30_000_000 <= after, "{before} {stamp} {after}");
    }
}
