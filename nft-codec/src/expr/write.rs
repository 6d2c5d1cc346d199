//! Writing expressions, in the attribute order nft 1.0.6 (libnftnl) writes them.

use netlink_wire::Writer;

use super::Expr;
use crate::wire::{put_counter, put_value, put_verdict, NFTA_EXPR_DATA, NFTA_EXPR_NAME, NFTA_LIST_ELEM};

const NFT_LOOKUP_F_INV: u32 = 1;
/// `NFT_LIMIT_PKTS`.
const NFT_LIMIT_PKTS: u32 = 0;

impl Expr {
    /// Append this expression (`NFTA_LIST_ELEM`) to a rule's expression list.
    pub fn write(&self, w: &mut Writer) {
        let e = w.nest(NFTA_LIST_ELEM);
        w.put_str(NFTA_EXPR_NAME, self.name());
        if let Expr::Other { data, .. } = self {
            w.put(NFTA_EXPR_DATA, data);
            w.end(e);
            return;
        }
        let d = w.nest(NFTA_EXPR_DATA);
        if !self.write_load(w) && !self.write_op(w) {
            self.write_statement(w);
        }
        w.end(d);
        w.end(e);
    }

    /// The data of an expression that loads a register; `false` for other expressions.
    fn write_load(&self, w: &mut Writer) -> bool {
        match self {
            Expr::Meta { key, dreg } => {
                w.put_be32(2, *key);
                w.put_be32(1, *dreg);
            }
            Expr::Payload {
                base,
                offset,
                len,
                dreg,
            } => {
                w.put_be32(1, *dreg);
                w.put_be32(2, *base);
                w.put_be32(3, *offset);
                w.put_be32(4, *len);
            }
            Expr::Ct { key, dreg, dir } => {
                w.put_be32(2, *key);
                w.put_be32(1, *dreg);
                if let Some(dir) = dir {
                    w.put(3, &[*dir]);
                }
            }
            Expr::Fib { flags, result, dreg } => {
                w.put_be32(3, *flags);
                w.put_be32(2, *result);
                w.put_be32(1, *dreg);
            }
            _ => return false,
        }
        true
    }

    /// The data of an expression that works on registers; `false` for other expressions.
    fn write_op(&self, w: &mut Writer) -> bool {
        match self {
            Expr::Cmp { sreg, op, data } => {
                w.put_be32(1, *sreg);
                w.put_be32(2, *op);
                put_value(w, 3, data);
            }
            Expr::Bitwise {
                sreg,
                dreg,
                mask,
                xor,
            } => {
                w.put_be32(1, *sreg);
                w.put_be32(2, *dreg);
                w.put_be32(3, mask.len() as u32);
                put_value(w, 4, mask);
                put_value(w, 5, xor);
            }
            Expr::Lookup {
                sreg,
                dreg,
                set,
                id,
                inv,
            } => {
                w.put_be32(2, *sreg);
                if let Some(dreg) = dreg {
                    w.put_be32(3, *dreg);
                }
                w.put_str(1, set);
                if let Some(id) = id {
                    w.put_be32(4, *id);
                }
                if *inv {
                    w.put_be32(5, NFT_LOOKUP_F_INV);
                }
            }
            Expr::Immediate(v) => {
                w.put_be32(1, super::NFT_REG_VERDICT);
                let n = w.nest(2);
                put_verdict(w, v);
                w.end(n);
            }
            _ => return false,
        }
        true
    }

    /// The data of a statement-like expression (counter, limit, log, reject, nat, masq).
    fn write_statement(&self, w: &mut Writer) {
        match self {
            // A fresh counter is written without counts, as nft writes it.
            Expr::Counter { packets, bytes } if *packets != 0 || *bytes != 0 => {
                put_counter(w, *packets, *bytes);
            }
            Expr::Limit {
                rate,
                unit,
                burst,
                flags,
            } => {
                w.put_be64(1, *rate);
                w.put_be64(2, *unit);
                w.put_be32(3, *burst);
                w.put_be32(4, NFT_LIMIT_PKTS);
                w.put_be32(5, *flags);
            }
            Expr::Log { prefix: Some(p) } => w.put_str(2, p),
            Expr::Reject { ty, code } => {
                w.put_be32(1, *ty);
                w.put(2, &[*code]);
            }
            Expr::Nat {
                ty,
                family,
                addr,
                proto,
                flags,
            } => {
                w.put_be32(1, *ty);
                w.put_be32(2, *family);
                if let Some(r) = addr {
                    w.put_be32(3, *r);
                }
                if let Some(r) = proto {
                    w.put_be32(5, *r);
                }
                if *flags != 0 {
                    w.put_be32(7, *flags);
                }
            }
            _ => {}
        }
    }
}
