//! The nf_tables codec: a typed model of nf_tables objects, encoded and decoded over netlink.
