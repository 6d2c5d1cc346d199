//! One netlink message and attribute layer, shared by every netlink family brouter speaks.
