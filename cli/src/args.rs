//! The command line (DESIGN.md, "CLI"): a contract users and Xen rely on.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Build and tear down the virtual networks of a Xen dom0: bridges that carry an IP
/// address ("brouters"), a zone firewall, port forwards and anti-spoofing.
#[derive(Debug, Parser)]
#[command(name = "brouter", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML). Default: /etc/brouter/brouter.toml if it exists,
    /// otherwise Xen network-script VAR=VAL words (seed-script defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Work inside the named network namespace (/run/netns/NAME) instead of the current one.
    #[arg(long, global = true, value_name = "NAME", conflicts_with = "sim")]
    pub netns: Option<String>,

    /// Run against the simulator, keeping its kernel state in this JSON file (no root needed).
    #[arg(long, global = true, value_name = "STATE.json")]
    pub sim: Option<PathBuf>,

    /// Machine-readable JSON on stdout, errors included (docs/json.md).
    #[arg(long, global = true)]
    pub json: bool,

    /// More detail on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Converge to the configuration (also: Xen network-script `start`).
    Start {
        /// Xen network-script words: bridgeip=, brnet=, vifnum=, bridge=, netmask=, antispoof=.
        #[arg(value_name = "VAR=VAL")]
        words: Vec<String>,
    },
    /// Remove everything brouter owns; safe to repeat. With an invalid or missing config,
    /// removes everything carrying brouter's ownership marks, and says so.
    Stop {
        #[arg(value_name = "VAR=VAL")]
        words: Vec<String>,
    },
    /// What exists, what is missing, what drifted (exit 0 converged, 3 drifted), against
    /// which config, and every brouter-owned object seen.
    Status {
        #[arg(value_name = "VAR=VAL")]
        words: Vec<String>,
    },
    /// Dry run: the ordered operations `start` would perform.
    Plan {
        #[arg(value_name = "VAR=VAL")]
        words: Vec<String>,
    },
    /// Xen vif hotplug, as xl calls it (`online type_if=vif`; env: vif, INTERFACE,
    /// XENBUS_PATH, bridge, ip).
    Vif(VifArgs),
    /// Predicted path of one flow through NAT and the zone firewall, step by step.
    Explain(ExplainArgs),
    /// Validate the configuration and print what it compiles to (nftables syntax).
    Check {
        #[arg(value_name = "VAR=VAL")]
        words: Vec<String>,
    },
    /// Draw the topology (uplink, dom0, brouters, hosts, forwards, zone policies) as SVG or
    /// Graphviz DOT, from the config plus the live state when it can be read.
    Diagram(crate::diagram::DiagramArgs),
    /// Install or remove brouter's vif hook (`brouter`, `vif-brouter`) in the Xen scripts directory.
    #[command(subcommand)]
    Xen(crate::xen_install::XenCommand),
    /// Print the shell completion script for SHELL to stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page brouter(8) as roff to stdout (the package ships it).
    #[command(hide = true)]
    Manpage,
    /// dnsmasq's lease script (`add|old|del MAC IP [HOSTNAME]`): on an anti-spoofing
    /// network with `dhcp = true`, a lease becomes the binding of the VM's vif.
    #[command(hide = true)]
    DhcpLease(LeaseArgs),
    /// The whole scenario on a throwaway Xen host made of network namespaces: start,
    /// vif hotplug, a connectivity table measured with real traffic, stop; then clean up
    /// (also on Ctrl-C). Needs root; touches nothing outside its own namespaces.
    #[cfg(feature = "demo")]
    Demo,
}

#[derive(Debug, clap::Args)]
pub struct LeaseArgs {
    /// `add`, `old` or `del`, as dnsmasq passes it.
    pub event: String,
    pub mac: String,
    pub ip: String,
    /// The client's host name, when dnsmasq knows one (unused).
    pub hostname: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct VifArgs {
    #[arg(value_enum)]
    pub action: VifCommand,
    /// `type_if=vif` (default) or `type_if=tap`, as xl passes it.
    #[arg(value_name = "VAR=VAL")]
    pub words: Vec<String>,
    /// The vif device (default: $vif, or $INTERFACE for type_if=tap).
    #[arg(long)]
    pub vif: Option<String>,
    /// The bridge to attach to (default: xenstore `bridge`, else $bridge; xl's default
    /// xenbr0 when no network uses it, or nothing: the network of the [[host]] with this
    /// MAC, else the only network; with several to choose from, refused naming them).
    #[arg(long)]
    pub bridge: Option<String>,
    /// The domU's MAC, to find its host in the config (default: xenstore `mac`). On an
    /// anti-spoofing network a [[host]] of that network must declare it.
    #[arg(long)]
    pub mac: Option<String>,
    /// The domU's addresses or prefixes, space-separated (default: xenstore `ip`, else $ip).
    #[arg(long)]
    pub ip: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VifCommand {
    Online,
    Offline,
    Add,
    Remove,
}

/// One flow: `--from dmz --to 192.0.2.2:8080 --proto tcp`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// Source zone (external, dom0, a network) or source address.
    #[arg(long)]
    pub from: String,
    /// Destination address[:port] (IPv6 as [fd00:1::10]:80), a [[host]] name[:port], or
    /// `uplink` (the dom0's external address; `uplink6` for its IPv6 address).
    #[arg(long)]
    pub to: String,
    /// An IPv6 flow: a [[host]] name resolves to its IPv6 address and `uplink` to the
    /// uplink's IPv6 address (a literal IPv6 address needs no -6).
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// tcp, udp, icmp (or arp, for anti-spoofing); either case.
    #[arg(long, default_value = "tcp")]
    pub proto: String,
    /// The declared host sending it (anti-spoofing as if its vif were online).
    #[arg(long)]
    pub host: Option<String>,
    /// The vif it is sent through (uses that vif's live binding).
    #[arg(long)]
    pub vif: Option<String>,
    /// The source MAC it is sent with.
    #[arg(long)]
    pub mac: Option<String>,
    /// Xen network-script words, when there is no config file.
    #[arg(value_name = "VAR=VAL")]
    pub words: Vec<String>,
}
