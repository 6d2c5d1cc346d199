//! UDP replies sent from the address the request was sent to.
//!
//! A server bound to 0.0.0.0 (so DNAT'd datagrams reach it) would otherwise answer from
//! whatever source routing picks — e.g. the internet namespace answers a datagram for
//! 198.51.100.1 from 192.0.2.1 — and neither conntrack (no un-NAT) nor the client's
//! connected socket would take that as the reply. `IP_PKTINFO` gives the request's
//! destination on receive and sets the reply's source on send.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;

use socket2::Socket;

/// Ask the kernel to report each datagram's destination address.
pub fn enable_pktinfo(sock: &Socket) -> io::Result<()> {
    super::sockopt::enable(sock, libc::IPPROTO_IP, libc::IP_PKTINFO)
}

/// Receive one datagram: (length, sender, the address it was sent to).
/// Length 0 means the socket was shut down.
pub fn recv(sock: &Socket, buf: &mut [u8]) -> io::Result<(usize, SocketAddrV4, Option<Ipv4Addr>)> {
    // SAFETY: all-zero is a valid value for these plain C structs.
    let mut from: libc::sockaddr_in = unsafe { zeroed() };
    let mut cbuf = [0u64; 16]; // u64 for cmsghdr alignment
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_in).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 16]>();
    // SAFETY: every pointer in `msg` points at live buffers of the stated sizes.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let sender = SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(from.sin_addr.s_addr)),
        u16::from_be(from.sin_port),
    );
    let mut dst = None;
    // SAFETY: walking the control messages the kernel wrote, with the libc helpers.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_PKTINFO {
                let info = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::in_pktinfo>());
                dst = Some(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, sender, dst))
}

/// Send `data` to `to` with source address `src` (when known).
pub fn send(sock: &Socket, data: &[u8], to: SocketAddrV4, src: Option<Ipv4Addr>) -> io::Result<()> {
    let Some(src) = src else {
        return sock
            .send_to(data, &std::net::SocketAddr::V4(to).into())
            .map(|_| ());
    };
    // SAFETY: all-zero is a valid value for these plain C structs.
    let mut dest: libc::sockaddr_in = unsafe { zeroed() };
    dest.sin_family = libc::AF_INET as libc::sa_family_t;
    dest.sin_port = to.port().to_be();
    dest.sin_addr.s_addr = u32::from(*to.ip()).to_be();
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut dest as *mut libc::sockaddr_in).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure size computation.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) } as usize;
    // SAFETY: the control buffer is large enough for one in_pktinfo message.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::IPPROTO_IP;
        (*c).cmsg_type = libc::IP_PKTINFO;
        (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as usize;
        let mut info: libc::in_pktinfo = zeroed();
        info.ipi_spec_dst.s_addr = u32::from(src).to_be();
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::in_pktinfo>(), info);
    }
    // SAFETY: every pointer in `msg` points at live buffers of the stated sizes.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
