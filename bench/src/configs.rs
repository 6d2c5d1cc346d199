//! Large configurations written as TOML text, the way an admin's file would look.
//!
//! Network `i` is `n<i>` on bridge `br<i>` with `10.<i/256>.<i%256>.1/24`; host `h` sits on
//! network `h % nets` at `.10 + h / nets` with MAC `aa:cc:00:00:hh:hh`; forward `f` sends
//! tcp port `10000 + f` to host `f % hosts`, port 80. Everything is anti-spoofing.

use std::fmt::Write;
use std::net::Ipv4Addr;

/// The size of a generated configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub nets: usize,
    pub forwards: usize,
    pub hosts: usize,
}

impl Size {
    pub const fn new(nets: usize, forwards: usize, hosts: usize) -> Size {
        Size {
            nets,
            forwards,
            hosts,
        }
    }

    pub fn label(&self) -> String {
        format!(
            "{} net{}, {} fwd, {} hosts",
            self.nets,
            if self.nets == 1 { "" } else { "s" },
            self.forwards,
            self.hosts
        )
    }
}

/// Bridge name of network `i`.
pub fn bridge(i: usize) -> String {
    format!("br{i}")
}

/// The subnet's first three octets of network `i`.
fn net_prefix(i: usize) -> (u8, u8) {
    ((i / 256) as u8, (i % 256) as u8)
}

/// The bridge address of network `i`.
pub fn gateway(i: usize) -> Ipv4Addr {
    let (a, b) = net_prefix(i);
    Ipv4Addr::new(10, a, b, 1)
}

/// Network index, address and MAC of host `h`.
pub fn host(size: Size, h: usize) -> (usize, Ipv4Addr, String) {
    let n = h % size.nets;
    let (a, b) = net_prefix(n);
    let ip = Ipv4Addr::new(10, a, b, (10 + h / size.nets) as u8);
    (n, ip, format!("aa:cc:00:00:{:02x}:{:02x}", h / 256, h % 256))
}

/// The external port of forward `f`, and the host it goes to.
pub fn forward(size: Size, f: usize) -> (u16, usize) {
    ((10000 + f) as u16, f % size.hosts)
}

/// The whole file.
pub fn toml(size: Size) -> String {
    toml_proto(size, "tcp")
}

/// The whole file, its forwards of `proto` (`tcp`, `udp`, or `mixed`: even forwards tcp,
/// odd ones udp).
pub fn toml_proto(size: Size, proto: &str) -> String {
    assert!(size.hosts / size.nets < 240, "too many hosts per /24");
    let mut s = String::from("[uplink]\ninterface = \"eth0\"\n\n");
    for i in 0..size.nets {
        let _ = writeln!(
            s,
            "[[network]]\nname = \"n{i}\"\nbridge = \"{}\"\naddress = \"{}/24\"\nantispoof = true\n",
            bridge(i),
            gateway(i)
        );
    }
    for h in 0..size.hosts {
        let (n, ip, mac) = host(size, h);
        let _ = writeln!(
            s,
            "[[host]]\nname = \"h{h}\"\nnetwork = \"n{n}\"\nmac = \"{mac}\"\naddresses = [\"{ip}\"]\n"
        );
    }
    for f in 0..size.forwards {
        let (port, h) = forward(size, f);
        let proto = match proto {
            "mixed" if f % 2 == 0 => "tcp",
            "mixed" => "udp",
            p => p,
        };
        let _ = writeln!(
            s,
            "[[forward]]\nproto = \"{proto}\"\nport = {port}\nto = \"h{h}:80\"\n"
        );
    }
    for i in 0..size.nets {
        let _ = writeln!(
            s,
            "[[policy]]\nfrom = \"n{i}\"\nto = \"external\"\naction = \"accept\"\n"
        );
    }
    s
}

/// Write the file under the bench's scratch directory and return its path.
pub fn write(size: Size) -> String {
    write_named(
        &format!("{}-{}-{}", size.nets, size.forwards, size.hosts),
        &toml(size),
    )
}

/// Write `text` as `<name>.toml` under the bench's scratch directory; its path.
pub fn write_named(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("brouter-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}
