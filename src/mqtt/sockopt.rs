//! One integer socket option set by hand, for the options socket2 and
//! tokio do not offer (`SO_TIMESTAMPNS`, `IP_BIND_ADDRESS_NO_PORT`).

/// Sets the `c_int` option `name` at `level` on `fd` to `value`; true when
/// the kernel took it.
#[cfg(target_os = "linux")]
pub fn set_int(fd: std::os::fd::RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> bool {
    // SAFETY: the caller's socket fd, and a c_int option value of the right size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}
