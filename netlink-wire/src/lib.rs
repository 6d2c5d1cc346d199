//! One netlink message and attribute layer, shared by every netlink family brouter speaks.
//!
//! Why one layer: the raw link dump (rtnetlink), nf_tables and ctnetlink all open a
//! socket, number their requests, split what the kernel answers into messages, walk
//! (nested) attributes and write attributes; only the family header and the attribute
//! numbers differ. Parsing stands on `netlink-packet-core`'s zero-copy
//! [`NlasIterator`](netlink_packet_core::NlasIterator) and
//! [`NetlinkBuffer`](netlink_packet_core::NetlinkBuffer); sockets on `netlink-sys`.
//! Writing is [`Writer`]: one buffer, nest lengths patched when a nest closes (see its doc
//! for why it is not `netlink-packet-core`'s `Emitable`).

mod attr;
mod message;
mod socket;
mod writer;

pub use attr::{attrs, be16, be32, be64, find, ne32, text};
pub use message::{align4, errno, ext_ack_message, messages, Ack, Message};
pub use netlink_packet_core::{
    NLA_F_NESTED, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_APPEND, NLM_F_CAPPED,
    NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_EXCL, NLM_F_REQUEST,
};
pub use netlink_sys::protocols::{NETLINK_NETFILTER, NETLINK_ROUTE};
pub use socket::Socket;
pub use writer::Writer;

/// The length of `nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
