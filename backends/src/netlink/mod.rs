//! `NetlinkBackend`: the engine's [`NetBackend`] on a real Linux kernel.
//!
//! Links, addresses and routes go through one rtnetlink connection (no `ip` processes);
//! sysctls through `/proc/sys` files opened inside the namespace; the firewall through
//! [`crate::firewall`]; brouter's memory through [`crate::memory`]. The connection's
//! socket is created on a thread that entered the target namespace, and stays bound to it
//! (FIELD-NOTES), so every request acts there while the async code never calls `setns`.

pub mod addresses;
pub mod addresses6;
pub mod bridge_attrs;
pub mod errors;
mod link_dump;
pub mod links;
pub mod neighbours;
pub mod observe;
mod request;
pub mod routes;
pub mod vxlan;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, RawFd};

use async_trait::async_trait;
use brouter_engine::backend::BackendResult;
use brouter_engine::firewall::{Binding, Ruleset};
use brouter_engine::plan::{FirewallDelta, SetDelta, StaleFlow};
use brouter_engine::{BackendError, BridgeOptions, ErrorKind, Link, LinkKind, NetBackend, Observed};
use ipnet::{Ipv4Net, Ipv6Net};
use rtnetlink::sys::AsyncSocket;
use rtnetlink::Handle;

use crate::dnsmasq::Dnsmasq;
use crate::memory::Memory;
use crate::sysctl::{Sysctls, MANAGED};
use crate::{conntrack, firewall, NetnsTarget};

/// brouter's backend for one network namespace of the running kernel.
///
/// One instance holds one netlink connection for its whole life: creating it costs a
/// thread and a `setns` once, every operation after that is a single netlink exchange.
#[derive(Debug)]
pub struct NetlinkBackend {
    target: NetnsTarget,
    handle: Handle,
    connection: tokio::task::JoinHandle<()>,
    sysctls: Sysctls,
    memory: Memory,
    netns_id: String,
    /// The last `observe` found neither of brouter's tables: the next firewall write can
    /// create them instead of replacing (which pays for a table deletion).
    tables_absent: bool,
    /// The rtnetlink connection's socket (owned by the connection task), for switching
    /// strict checking on around a filtered request.
    route_fd: RawFd,
    /// An nfnetlink socket opened inside the namespace, for one vif's binding at a time
    /// (`vif online|offline`) without a thread, a `setns` or an `nft` process per call;
    /// the reason it could not be opened otherwise (reported when a binding is touched).
    bindings: Result<firewall::BindingSocket, String>,
    /// A plain route socket inside the namespace for `observe`'s link dump, parsed
    /// narrowly (see `link_dump`); rtnetlink's dump is the fallback without one.
    link_dump: Option<link_dump::DumpSocket>,
    /// What brouter's tables hold for the last ruleset asked about (by fingerprint): the
    /// read-back and the cached compile's digest both need it, and encoding it costs
    /// ~20 ms at 10,000 forwards.
    expected: Option<(String, std::sync::Arc<[firewall::drift::TableContents; 2]>)>,
    /// brouter's tables as the cached compile's digest check read them, taken by the next
    /// read-back ([`NetBackend::firewall_delta`] / [`NetBackend::firewall_drift`]): when
    /// the digest differs, `start` reads the tables back at once (brouter's lock held
    /// in between), and dumping 10,000 elements twice costs ~30 ms more.
    last_read: Option<[Option<nft_codec::snapshot::Dumped>; 2]>,
    /// The counts a replace of brouter's tables carries over, taken from the read the
    /// element-by-element comparison made ([`Self::read_tables`]); forgotten when brouter
    /// writes its tables. Without it the replace dumps the counts itself.
    carry: Option<firewall::batch::Carry>,
    /// The counters the last read of brouter's tables carried (the same dump), taken by
    /// [`NetBackend::firewall_counters`]; forgotten when brouter writes its tables.
    read_counters: Option<firewall::counters::Counts>,
    /// A read of brouter's tables running on its own thread and socket since
    /// [`NetBackend::prefetch_firewall`], taken by the next read of them.
    prefetch: Option<std::thread::JoinHandle<std::io::Result<std::io::Result<firewall::drift::ReadBack>>>>,
    /// Link indexes by name from the last `observe` (and lookups since), for requests the
    /// kernel addresses by index (a cluster's flood and neighbour entries, a bridge to
    /// attach to, a vif's IPv6 addresses): one round trip each instead of two. A link
    /// brouter deletes or renames is forgotten.
    indexes: std::collections::HashMap<String, u32>,
}

impl NetlinkBackend {
    /// The index of link `name`, from the cache or asked once.
    async fn index(&mut self, name: &str) -> BackendResult<u32> {
        if let Some(i) = self.indexes.get(name) {
            return Ok(*i);
        }
        let i = links::index_of(&self.handle, name, &format!("look up {name}")).await?;
        self.indexes.insert(name.to_string(), i);
        Ok(i)
    }

    /// What brouter's tables hold for `ruleset` (no bindings), encoded once per ruleset.
    fn expected_tables(
        &mut self,
        ruleset: &Ruleset,
    ) -> BackendResult<std::sync::Arc<[firewall::drift::TableContents; 2]>> {
        let fp = ruleset.fingerprint();
        if let Some((have, tables)) = &self.expected {
            if *have == fp {
                return Ok(tables.clone());
            }
        }
        let tables = std::sync::Arc::new(firewall::drift::expected(ruleset, &[])?);
        self.expected = Some((fp, tables.clone()));
        Ok(tables)
    }

    /// brouter's tables: the read the digest check just made, else a fresh one.
    fn read_tables(&mut self) -> BackendResult<[Option<firewall::drift::TableContents>; 2]> {
        let read = match self.last_read.take() {
            Some(read) => read,
            None => self.read_tables_now()?,
        };
        // Compared element by element: a change follows more often than not, and if it
        // replaces the tables its counts come from this dump.
        self.carry = read[0].as_ref().map(firewall::counters::carry_of_dump);
        Ok(firewall::drift::ReadBack::contents(read))
    }

    /// brouter's tables read now; the counters the dump carried are kept for
    /// [`NetBackend::firewall_counters`].
    fn read_tables_now(&mut self) -> BackendResult<[Option<nft_codec::snapshot::Dumped>; 2]> {
        // The prefetched read, when it worked; a failed one is read again here, for its error.
        let prefetched = self.prefetch.take().and_then(|h| h.join().ok()?.ok()?.ok());
        let read = match prefetched {
            Some(read) => read,
            None => firewall::drift::read_tables(self.bindings.as_ref().ok(), &self.target)?,
        };
        self.read_counters = read.counters;
        Ok(read.tables)
    }

    /// brouter is about to write its tables: what was read of them is out of date.
    fn tables_written(&mut self) {
        self.last_read = None;
        self.carry = None;
        self.read_counters = None;
        // Whatever it reads is out of date; its thread ends on its own.
        self.prefetch = None;
    }

    /// Connect to the kernel of `target`. Must be called inside a tokio runtime (the
    /// connection task runs on it). Fails with a clear message if a named namespace does
    /// not exist.
    pub async fn new(target: NetnsTarget) -> Result<NetlinkBackend, BackendError> {
        let runtime = tokio::runtime::Handle::current();
        let inner = target.clone();
        let opened = target
            .run(move || -> Result<_, BackendError> {
                // Entering the runtime registers the socket with its reactor from this thread.
                let _guard = runtime.enter();
                let (mut connection, handle, _) =
                    rtnetlink::new_connection().map_err(|e| errors::from_io("open a netlink socket", &e))?;
                let fd = connection.socket_mut().socket_mut().as_raw_fd();
                let netns_id = netns_id(fd);
                let route_fd = fd;
                let sysctls = Sysctls::open_here(inner)?;
                let bindings = firewall::BindingSocket::open_here().map_err(|e| {
                    format!("cannot open an nfnetlink socket for brouter's nftables tables: {e}")
                });
                let link_dump = link_dump::DumpSocket::open_here().ok();
                Ok((
                    connection, handle, sysctls, netns_id, bindings, route_fd, link_dump,
                ))
            })
            .map_err(|e| namespace_error(&target, &e))??;
        let (connection, handle, sysctls, netns_id, bindings, route_fd, link_dump) = opened;
        let connection = tokio::spawn(connection);
        let memory = Memory::for_namespace(&netns_id);
        Ok(NetlinkBackend {
            target,
            handle,
            connection,
            sysctls,
            memory,
            netns_id,
            tables_absent: false,
            expected: None,
            last_read: None,
            carry: None,
            read_counters: None,
            prefetch: None,
            indexes: std::collections::HashMap::new(),
            route_fd,
            bindings,
            link_dump,
        })
    }

    /// The namespace's binding socket, or why there is none.
    fn binding_socket(&self) -> BackendResult<&firewall::BindingSocket> {
        self.bindings
            .as_ref()
            .map_err(|m| BackendError::new(ErrorKind::Other, m.clone()))
    }

    /// The namespace this backend acts on.
    pub fn target(&self) -> &NetnsTarget {
        &self.target
    }

    /// The namespace's unique id (`cookie-<n>`), which names its state directory.
    pub fn netns_id(&self) -> &str {
        &self.netns_id
    }

    /// Where brouter's memory for this namespace is kept.
    pub fn memory(&self) -> &Memory {
        &self.memory
    }

    /// Run a firewall function (it spawns `nft`, which blocks) off the async workers.
    async fn firewall<R, F>(&self, f: F) -> BackendResult<R>
    where
        F: FnOnce(&NetnsTarget) -> BackendResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let target = self.target.clone();
        tokio::task::spawn_blocking(move || f(&target))
            .await
            .map_err(|e| BackendError::new(ErrorKind::Other, format!("firewall task failed: {e}")))?
    }
}

impl NetlinkBackend {
    /// brouter's dnsmasq of this namespace (its directory is named by the namespace id).
    pub fn dnsmasq(&self) -> Dnsmasq {
        Dnsmasq::for_namespace(&self.netns_id, self.target.clone())
    }

    /// brouter's FRR of this namespace (its directory is named by the namespace id).
    pub fn frr(&self) -> crate::frr::Frr {
        crate::frr::Frr::for_namespace(&self.netns_id, self.target.clone())
    }

    /// Run an FRR step (it spawns, signals and waits, which blocks) off the async workers.
    async fn routing<R, F>(&self, f: F) -> BackendResult<R>
    where
        F: FnOnce(&crate::frr::Frr) -> BackendResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let frr = self.frr();
        tokio::task::spawn_blocking(move || f(&frr))
            .await
            .map_err(|e| BackendError::new(ErrorKind::Other, format!("FRR task failed: {e}")))?
    }

    /// Run a dnsmasq step (it spawns, signals and waits, which blocks) off the async
    /// workers.
    async fn dhcp<R, F>(&self, f: F) -> BackendResult<R>
    where
        F: FnOnce(&Dnsmasq) -> BackendResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let dnsmasq = self.dnsmasq();
        tokio::task::spawn_blocking(move || f(&dnsmasq))
            .await
            .map_err(|e| BackendError::new(ErrorKind::Other, format!("dnsmasq task failed: {e}")))?
    }
}

impl Drop for NetlinkBackend {
    fn drop(&mut self) {
        self.connection.abort();
        // The tables a converged `start` or `status` read and kept: at 10,000 forwards some
        // 100,000 small allocations, ~3 ms to free. Freed on a short thread, off the
        // command's path (as the parsed config file is).
        // Small tables are freed here: a thread costs more than they do.
        const SMALL: usize = 4096;
        let Some(read) = self.last_read.take() else {
            return;
        };
        let elements: usize = read.iter().flatten().map(|t| t.element_count()).sum();
        if elements >= SMALL {
            let _ = std::thread::Builder::new()
                .name("readback-free".into())
                .spawn(move || drop(read));
        }
    }
}

/// Name the namespace for state paths: its cookie (`SO_NETNS_COOKIE`, Linux ≥ 5.14) is
/// unique for the whole uptime; the namespace inode (which may be reused once the
/// namespace is gone) is the fallback. `fd` is a socket created inside the namespace.
fn netns_id(fd: RawFd) -> String {
    const SO_NETNS_COOKIE: libc::c_int = 71;
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: `fd` is an open socket; `cookie`/`len` are valid for writes of their size.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&mut cookie as *mut u64).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        return format!("cookie-{cookie}");
    }
    // Runs on the thread inside the namespace: thread-self/ns/net is that namespace.
    let link = std::fs::read_link("/proc/thread-self/ns/net").map(|p| p.to_string_lossy().into_owned());
    let inode: String = link
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    format!("inode-{inode}")
}

fn namespace_error(target: &NetnsTarget, e: &std::io::Error) -> BackendError {
    match target {
        NetnsTarget::Named(name) if e.kind() == std::io::ErrorKind::NotFound => BackendError::new(
            ErrorKind::Other,
            format!("network namespace {name} does not exist (no /run/netns/{name}): create it with `ip netns add {name}` or fix --netns"),
        ),
        _ => errors::from_io(&format!("enter network namespace {}", target.label()), e),
    }
}

#[async_trait]
impl NetBackend for NetlinkBackend {
    async fn observe(&mut self) -> BackendResult<Observed> {
        if let Ok(socket) = &self.bindings {
            socket.forget();
        }
        let mut dumped = observe::dump(&self.handle, self.route_fd, self.link_dump.as_ref()).await?;
        self.indexes = std::mem::take(&mut dumped.indexes);
        let memory = self.memory.load()?;
        // The managed sysctls, plus any other one brouter remembered (so `stop` sees it).
        let mut sysctls = BTreeMap::new();
        let remembered = memory.keys().filter_map(|k| k.strip_prefix("sysctl:"));
        for key in MANAGED {
            sysctls.insert(key.to_string(), self.sysctls.read(key)?);
        }
        // While forwarding is off, what turning it on would change (so `start` can
        // remember it for `stop`); and whatever brouter remembered. Either may name an
        // interface that is gone by now: such a key is simply not reported.
        let side = brouter_engine::sysctl_side::reported_keys(
            sysctls.get(brouter_engine::IP_FORWARD).map(String::as_str),
            dumped.links.iter().map(|l| l.name.as_str()),
        );
        let others: BTreeSet<String> = remembered
            .map(String::from)
            .chain(side)
            .filter(|k| !MANAGED.contains(&k.as_str()))
            .collect();
        sysctls.extend(self.sysctls.read_present(&others));
        // One trip for the fingerprint and the bindings (nfnetlink, not `nft list`).
        let (firewall, bindings, foreign_tables) =
            firewall::drift::read_state(self.bindings.as_ref().ok(), &self.target)?;
        self.tables_absent = firewall.is_none();
        Ok(Observed {
            addresses6: dumped.addresses6,
            links: dumped.links,
            addresses: dumped.addresses,
            routes: dumped.routes,
            sysctls,
            memory,
            firewall,
            bindings,
            firewall_drift: vec![],
            firewall_delta: None,
            foreign_tables,
            dhcp: self.dhcp(|d| d.observe()).await?,
            routing: self.routing(|r| r.observe()).await?,
            vxlans: dumped.vxlans,
            neighbours: dumped.neighbours,
            zebra_neighbours: dumped.zebra_neighbours,
        })
    }

    async fn observe_links(&mut self, names: &[String]) -> BackendResult<Observed> {
        let (links, addresses, addresses6, indexes) =
            observe::named(&self.handle, self.route_fd, names).await?;
        self.indexes.extend(indexes);
        let memory = self.memory.load()?;
        let socket = self.binding_socket()?;
        let mut bindings = Vec::new();
        // A bridge is never a bound port: only the other links are looked up.
        let bridge = |n: &String| {
            links
                .iter()
                .any(|l: &Link| &l.name == n && l.kind == LinkKind::Bridge)
        };
        for name in names.iter().filter(|n| !bridge(n)) {
            bindings.extend(socket.binding_of(name)?);
        }
        Ok(Observed {
            addresses6,
            links,
            addresses,
            routes: vec![],
            sysctls: BTreeMap::new(),
            memory,
            firewall: None,
            bindings,
            firewall_drift: vec![],
            firewall_delta: None,
            foreign_tables: vec![],
            dhcp: None,
            vxlans: vec![],
            neighbours: vec![],
            zebra_neighbours: vec![],
            routing: None,
        })
    }

    async fn firewall_drift(&mut self, ruleset: &Ruleset) -> BackendResult<Vec<String>> {
        let expected = self.expected_tables(ruleset)?;
        let read = self.read_tables()?;
        Ok(firewall::drift::differences(&expected, &read))
    }

    async fn firewall_delta(&mut self, ruleset: &Ruleset) -> BackendResult<Option<FirewallDelta>> {
        let expected = self.expected_tables(ruleset)?;
        let read = self.read_tables()?;
        Ok(Some(firewall::elements::delta(&expected, read)))
    }

    async fn firewall_digest(&mut self, ruleset: Option<&Ruleset>) -> BackendResult<Option<u64>> {
        Ok(Some(match ruleset {
            Some(r) => firewall::drift::digest(&self.expected_tables(r)?.as_ref().clone().map(Some)),
            None => {
                let read = self.read_tables_now()?;
                let digest = firewall::drift::digest_dumped(&read);
                self.last_read = Some(read);
                digest
            }
        }))
    }

    async fn host_facts(&mut self) -> BackendResult<brouter_engine::HostFacts> {
        let bnf = self.sysctls.read("net.bridge.bridge-nf-call-iptables").ok();
        match &self.bindings {
            // Over the socket opened in the namespace: no thread, no `setns`.
            Ok(socket) => crate::host_facts::gather(Some(socket), &self.target, bnf),
            Err(_) => {
                self.firewall(move |t| crate::host_facts::gather(None, t, bnf))
                    .await
            }
        }
    }

    async fn prefetch_firewall(&mut self) {
        if self.prefetch.is_some() || self.last_read.is_some() {
            return;
        }
        // Its own socket: the binding socket stays free for `observe` meanwhile.
        self.prefetch = self
            .target
            .spawn(|| nft_codec::open().and_then(|sock| firewall::drift::read_counted_on(&sock)))
            .ok();
    }

    async fn firewall_counters(&mut self) -> BackendResult<brouter_engine::FirewallCounters> {
        // The read-back's dump carried them, unless brouter wrote its tables since.
        if let Some(counts) = self.read_counters.take() {
            return Ok(counts.named());
        }
        self.firewall(firewall::read_counters).await
    }

    async fn create_bridge(
        &mut self,
        name: &str,
        network: &str,
        options: BridgeOptions,
    ) -> BackendResult<()> {
        links::create_bridge(&self.handle, name, network, options).await?;
        // The bridge is the router of its link: without duplicate address detection its
        // link-local address serves at once when its first port comes up, so the router
        // advertisements a VM asks for at boot are answered (with DAD they wait ~2 s and
        // the VM asks again only 4 s later). Its MAC is its own; a kernel without IPv6
        // has no such file, which is fine.
        let _ = self.sysctls.write(
            &format!("net.ipv6.conf.{}.accept_dad", name.replace('.', "/")),
            "0",
        );
        Ok(())
    }

    async fn delete_link(&mut self, name: &str) -> BackendResult<()> {
        self.indexes.remove(name);
        links::delete_link(&self.handle, name).await
    }

    async fn set_master(&mut self, link: &str, master: Option<&str>) -> BackendResult<()> {
        let master = match master {
            Some(m) => Some((m, self.index(m).await?)),
            None => None,
        };
        links::set_master(&self.handle, link, master).await
    }

    async fn set_up(&mut self, link: &str, up: bool) -> BackendResult<()> {
        links::set_up(&self.handle, link, up).await
    }

    async fn add_address(&mut self, link: &str, addr: Ipv4Net) -> BackendResult<()> {
        addresses::add_address(&self.handle, link, addr).await
    }

    async fn delete_address(&mut self, link: &str, addr: Ipv4Net) -> BackendResult<()> {
        addresses::delete_address(&self.handle, link, addr).await
    }

    async fn add_address6(&mut self, link: &str, addr: Ipv6Net) -> BackendResult<()> {
        addresses6::add_address6(&self.handle, link, addr).await
    }

    async fn delete_address6(&mut self, link: &str, addr: Ipv6Net) -> BackendResult<()> {
        addresses6::delete_address6(&self.handle, link, addr).await
    }

    async fn add_route(&mut self, dst: Ipv4Net, dev: &str) -> BackendResult<()> {
        routes::add_route(&self.handle, dst, dev).await
    }

    async fn delete_route(&mut self, dst: Ipv4Net, dev: &str) -> BackendResult<()> {
        routes::delete_route(&self.handle, dst, dev).await
    }

    async fn read_sysctls(&mut self, keys: &[String]) -> BackendResult<BTreeMap<String, String>> {
        let keys: BTreeSet<String> = keys.iter().cloned().collect();
        Ok(self.sysctls.read_present(&keys))
    }

    async fn set_sysctl(&mut self, key: &str, value: &str) -> BackendResult<()> {
        self.sysctls.write(key, value)
    }

    async fn remember(&mut self, key: &str, value: &str) -> BackendResult<()> {
        self.memory.set(key, Some(value))
    }

    async fn forget(&mut self, key: &str) -> BackendResult<()> {
        self.memory.set(key, None)
    }

    async fn replace_firewall(&mut self, ruleset: &Ruleset) -> BackendResult<()> {
        self.replace_firewall_with_bindings(ruleset, &[]).await
    }

    async fn delete_firewall(&mut self) -> BackendResult<()> {
        self.tables_absent = false;
        self.tables_written();
        if let Ok(socket) = &self.bindings {
            return socket.delete_firewall(self.target.label());
        }
        self.firewall(firewall::delete).await
    }

    async fn replace_firewall_with_bindings(
        &mut self,
        ruleset: &Ruleset,
        bindings: &[Binding],
    ) -> BackendResult<()> {
        let fresh = std::mem::take(&mut self.tables_absent);
        let carry = self.carry.take();
        self.tables_written();
        if let Ok(socket) = &self.bindings {
            // Over the socket opened in the namespace: no thread, no `setns`.
            return socket.apply_firewall(self.target.label(), ruleset, bindings, fresh, carry);
        }
        let (ruleset, bindings) = (ruleset.clone(), bindings.to_vec());
        self.firewall(move |t| {
            if fresh {
                firewall::create_with_bindings(t, &ruleset, &bindings)
            } else {
                firewall::replace_with_bindings(t, &ruleset, &bindings)
            }
        })
        .await
    }

    async fn add_binding(&mut self, binding: &Binding) -> BackendResult<()> {
        self.binding_socket()?.bind(binding)
    }

    async fn remove_binding(&mut self, vif: &str) -> BackendResult<()> {
        self.binding_socket()?.unbind(vif)
    }

    async fn flush_conntrack(
        &mut self,
        to: &[Ipv4Addr],
        to6: &[Ipv6Addr],
        flows: &[StaleFlow],
    ) -> BackendResult<()> {
        // A forward's IPv6 flows are stale only if it forwards IPv6 (has an `addr6`).
        let stale: Vec<conntrack::Stale> = flows
            .iter()
            .map(|f| conntrack::Stale {
                proto: f.proto,
                ports: f.ports,
                to: to
                    .iter()
                    .map(|a| IpAddr::V4(*a))
                    .chain(to6.iter().filter(|_| f.addr6.is_some()).map(|a| IpAddr::V6(*a)))
                    .collect(),
                keep: std::iter::once((IpAddr::V4(f.addr), f.to_port))
                    .chain(f.addr6.map(|a| (IpAddr::V6(a), f.to_port)))
                    .collect(),
            })
            .collect();
        self.firewall(move |t| conntrack::forget_all(t, stale).map(|_| ()))
            .await
    }

    async fn update_firewall_elements(
        &mut self,
        fingerprint: &str,
        ruleset: &Ruleset,
        sets: &[SetDelta],
    ) -> BackendResult<()> {
        self.tables_written();
        let label = self.target.label();
        self.binding_socket()?
            .with(|sock| firewall::elements::update(sock, label, fingerprint, ruleset, sets))
    }

    async fn rename_link(&mut self, link: &str, new_name: &str) -> BackendResult<()> {
        self.indexes.remove(link);
        self.indexes.remove(new_name);
        links::rename_link(&self.handle, link, new_name).await
    }

    async fn create_vxlan(&mut self, spec: &brouter_engine::backend::VxlanSpec<'_>) -> BackendResult<()> {
        let dev = match self.index(spec.underlay).await {
            Ok(dev) => dev,
            // The kernel refuses a name that is taken before it looks at the underlay:
            // so does brouter, which has to look the underlay up first.
            Err(e) if e.kind == ErrorKind::NoDevice => {
                let what = format!("create vxlan {}", spec.name);
                return match links::index_of(&self.handle, spec.name, &what).await {
                    Ok(_) => Err(errors::from_errno(&what, -libc::EEXIST)),
                    Err(_) => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        vxlan::create(&self.handle, spec, dev).await
    }

    async fn add_flood(&mut self, link: &str, dst: std::net::IpAddr) -> BackendResult<()> {
        let index = self.index(link).await?;
        vxlan::add_flood(&self.handle, link, index, dst).await
    }

    async fn delete_flood(&mut self, link: &str, dst: std::net::IpAddr) -> BackendResult<()> {
        let index = self.index(link).await?;
        vxlan::delete_flood(&self.handle, link, index, dst).await
    }

    async fn set_neighbour(&mut self, link: &str, ip: std::net::IpAddr, mac: &str) -> BackendResult<()> {
        let index = self.index(link).await?;
        neighbours::set(&self.handle, link, index, ip, mac).await
    }

    async fn delete_neighbour(&mut self, link: &str, ip: std::net::IpAddr) -> BackendResult<()> {
        let index = self.index(link).await?;
        neighbours::delete(&self.handle, link, index, ip).await
    }

    async fn set_mac(&mut self, link: &str, mac: &str) -> BackendResult<()> {
        links::set_mac(&self.handle, link, mac).await
    }

    async fn set_mtu(&mut self, link: &str, mtu: u32) -> BackendResult<()> {
        links::set_mtu(&self.handle, link, mtu).await
    }

    async fn flush_ipv6(&mut self, link: &str) -> BackendResult<()> {
        let index = self.index(link).await?;
        addresses::flush_ipv6(&self.handle, self.route_fd, link, index).await
    }

    async fn set_alias(&mut self, link: &str, alias: &str) -> BackendResult<()> {
        bridge_attrs::set_alias(&self.handle, link, alias).await
    }

    async fn set_stp(&mut self, link: &str, stp: bool) -> BackendResult<()> {
        bridge_attrs::set_stp(&self.handle, link, stp).await
    }

    async fn set_forward_delay(&mut self, link: &str, seconds: u32) -> BackendResult<()> {
        bridge_attrs::set_forward_delay(&self.handle, link, seconds).await
    }

    async fn write_dhcp_files(&mut self, files: &BTreeMap<String, String>) -> BackendResult<()> {
        let files = files.clone();
        self.dhcp(move |d| d.write_files(&files)).await
    }

    async fn start_dhcp(&mut self, options: &[String], digest: &str, _restart: bool) -> BackendResult<()> {
        // Whether one runs is read again here: whatever brouter started before is ended.
        let (options, digest) = (options.to_vec(), digest.to_string());
        self.dhcp(move |d| d.start(&options, &digest).map(|_| ())).await
    }

    async fn reload_dhcp(&mut self, digest: &str) -> BackendResult<()> {
        let digest = digest.to_string();
        self.dhcp(move |d| d.reload(&digest)).await
    }

    async fn stop_dhcp(&mut self) -> BackendResult<()> {
        self.dhcp(|d| d.stop()).await
    }

    async fn start_routing(&mut self, config: &str, digest: &str) -> BackendResult<()> {
        let (config, digest) = (config.to_string(), digest.to_string());
        self.routing(move |r| r.start(&config, &digest)).await
    }

    async fn reload_routing(&mut self, config: &str, digest: &str, commands: &[String]) -> BackendResult<()> {
        let (config, digest, commands) = (config.to_string(), digest.to_string(), commands.to_vec());
        self.routing(move |r| r.reload(&config, &digest, &commands)).await
    }

    async fn stop_routing(&mut self) -> BackendResult<()> {
        self.routing(|r| r.stop()).await
    }

    async fn routing_sessions(&mut self) -> BackendResult<Vec<brouter_engine::routing::Session>> {
        self.routing(|r| Ok(r.sessions())).await
    }

    async fn set_port_state(&mut self, port: &str, state: brouter_engine::PortState) -> BackendResult<()> {
        links::set_port_state(&self.handle, port, state).await
    }
}
