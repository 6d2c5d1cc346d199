//! A change that only touches elements is applied as element updates: `plan` shows one
//! element-update step (no table replacement), and afterwards only the changed elements
//! (and the fingerprint comments) differ — the tables, chains and rules keep their
//! handles, and untouched elements keep their counters. A drifted map element is put
//! back the same way, and the forward works again.

use brouter_integration::drift_lab::{DriftLab, CONFIG};
use brouter_integration::root_or_skip;

/// `nft -a list table <family> brouter` in the lab's dom0.
fn listing(lab: &DriftLab, family: &str) -> String {
    let out = lab
        .dom0()
        .exec("nft", &["-a", "list", "table", family, "brouter"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lines with a `# handle` (table, chains, rules, sets), the fingerprint comment cut
/// and rule counters' values left out (traffic moves them).
fn handled_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains("# handle"))
        .map(|l| match l.find("brouter ruleset ") {
            Some(at) => l[..at].to_string(),
            None => l.to_string(),
        })
        .map(|l| match (l.find("counter packets "), l.find(" bytes ")) {
            (Some(a), Some(b)) if b > a => {
                let end = b + 7 + l[b + 7..].find(' ').unwrap_or(0);
                format!("{}counter{}", &l[..a], &l[end..])
            }
            _ => l,
        })
        .collect()
}

/// The packet counts of the rules' counters (lines with a `# handle`), in listing order.
fn rule_packets(text: &str) -> Vec<u64> {
    text.lines()
        .filter(|l| l.contains("# handle"))
        .filter_map(|l| {
            let at = l.find("counter packets ")? + "counter packets ".len();
            l[at..].split(' ').next()?.parse().ok()
        })
        .collect()
}

/// `8080 counter packets N bytes M` as listed: the element's counter.
fn element_counter(text: &str, key: &str) -> Option<String> {
    let needle = format!("{key} counter packets ");
    let at = text.find(&needle)?;
    let rest = &text[at..];
    let bytes = rest.find(" bytes ")? + 7;
    let end = bytes + rest[bytes..].find(|c: char| !c.is_ascii_digit())?;
    Some(rest[..end].to_string())
}

/// `start` planned as exactly one element update (besides conntrack bookkeeping), never
/// a replacement; returns the plan's text.
fn assert_element_plan(lab: &DriftLab) -> String {
    let plan = lab.ok(&["plan"]);
    assert!(plan.contains("update firewall elements"), "{plan}");
    assert!(!plan.contains("replace firewall"), "{plan}");
    plan
}

#[test]
fn a_forward_added_changes_only_its_elements() {
    if !root_or_skip("a_forward_added_changes_only_its_elements") {
        return;
    }
    let lab = DriftLab::new("elemadd");
    assert!(lab.forward_works(), "the forward works after start");
    let before = listing(&lab, "inet");
    let bridge_before = listing(&lab, "bridge");
    // The forward's traffic counted on its own element.
    let counted = element_counter(&before, "8080").expect("tcp/8080 has an element counter");
    assert!(
        !counted.contains("packets 0 "),
        "the probe was counted: {counted}"
    );

    lab.set_config(&format!(
        "{CONFIG}\n[[forward]]\nproto = \"tcp\"\nport = 9090\nto = \"web:80\"\n"
    ));
    let plan = assert_element_plan(&lab);
    assert!(
        plan.contains("+9090"),
        "the new forward's elements are named: {plan}"
    );
    assert!(!plan.contains("-8080"), "the old forward is not touched: {plan}");
    lab.ok(&["start"]);

    let after = listing(&lab, "inet");
    assert_eq!(
        handled_lines(&before),
        handled_lines(&after),
        "table, chains, rules and sets keep their handles"
    );
    assert_eq!(
        handled_lines(&bridge_before),
        handled_lines(&listing(&lab, "bridge"))
    );
    assert!(
        after.contains(&counted),
        "the untouched element kept its counter ({counted}):\n{after}"
    );
    // The rules' counters go on from where they were (a replacement would reset them,
    // unless carried): the probe's rules had counted something, and nothing went down.
    let (was, is) = (rule_packets(&before), rule_packets(&after));
    assert!(
        was.iter().any(|&p| p > 0),
        "the probe was counted by a rule:\n{before}"
    );
    assert_eq!(was.len(), is.len(), "the same counted rules:\n{after}");
    assert!(
        was.iter().zip(&is).all(|(w, i)| i >= w),
        "no rule counter went back: {was:?} -> {is:?}"
    );
    assert!(after.contains("9090"), "{after}");
    let v = lab.status_json();
    assert_eq!(v["converged"], true, "{v:#}");
    assert!(lab.ok(&["start"]).contains("nothing to do"));
    assert!(lab.forward_works(), "the old forward still works");
}

#[test]
fn a_forward_changed_and_removed_is_an_element_update() {
    if !root_or_skip("a_forward_changed_and_removed_is_an_element_update") {
        return;
    }
    let lab = DriftLab::new("elemchg");
    let before = listing(&lab, "inet");
    // tcp/8080 now goes to web's port 81 (nothing listens): a changed map element.
    lab.set_config(&CONFIG.replace("to = \"web:80\"", "to = \"web:81\""));
    let plan = assert_element_plan(&lab);
    assert!(
        plan.contains("-8080 : 80") && plan.contains("+8080 : 81"),
        "{plan}"
    );
    lab.ok(&["start"]);
    assert!(!lab.forward_works(), "the forward follows the new port");
    assert_eq!(handled_lines(&before), handled_lines(&listing(&lab, "inet")));
    // Back to the original: the forward works again, still without a replacement.
    lab.set_config(CONFIG);
    assert_element_plan(&lab);
    lab.ok(&["start"]);
    assert!(lab.forward_works(), "the forward works again");
    assert_eq!(handled_lines(&before), handled_lines(&listing(&lab, "inet")));
    let v = lab.status_json();
    assert_eq!(v["converged"], true, "{v:#}");
}

#[test]
fn a_drifted_map_element_is_repaired_by_an_element_update() {
    if !root_or_skip("a_drifted_map_element_is_repaired_by_an_element_update") {
        return;
    }
    let lab = DriftLab::new("elemfix");
    let before = listing(&lab, "inet");
    lab.nft(&["delete", "element", "inet", "brouter", "tcp_fwd_addr", "{ 8080 }"]);
    lab.nft(&[
        "add",
        "element",
        "inet",
        "brouter",
        "tcp_fwd_addr",
        "{ 8080 : 10.98.98.77 }",
    ]);
    assert!(
        !lab.forward_works(),
        "the edited element sends the forward elsewhere"
    );
    let plan = assert_element_plan(&lab);
    assert!(
        plan.contains("-8080 : 10.98.98.77") && plan.contains("+8080 : 10.98.98.10"),
        "{plan}"
    );
    lab.assert_start_repairs();
    assert!(lab.forward_works(), "the forward works again");
    assert_eq!(
        handled_lines(&before),
        handled_lines(&listing(&lab, "inet")),
        "repaired in place: no handle changed"
    );
}

#[test]
fn a_flushed_forward_set_is_refilled_by_an_element_update() {
    if !root_or_skip("a_flushed_forward_set_is_refilled_by_an_element_update") {
        return;
    }
    let lab = DriftLab::new("elemflush");
    lab.nft(&["flush", "map", "inet", "brouter", "tcp_fwd_addr"]);
    assert!(!lab.forward_works(), "no DNAT without the map element");
    let plan = assert_element_plan(&lab);
    assert!(plan.contains("+8080 : 10.98.98.10"), "{plan}");
    lab.assert_start_repairs();
    assert!(lab.forward_works(), "the forward works again");
}

#[test]
fn a_udp_forward_added_flushes_only_its_own_flows_in_one_step() {
    if !root_or_skip("a_udp_forward_added_flushes_only_its_own_flows_in_one_step") {
        return;
    }
    let lab = DriftLab::new("elemudp");
    let udp = |port: u16| format!("\n[[forward]]\nproto = \"udp\"\nport = {port}\nto = \"web\"\n");
    let one = format!("{CONFIG}{}", udp(5000));
    lab.set_config(&one);
    lab.ok(&["start"]);
    lab.set_config(&format!("{one}{}{}", udp(5001), udp(5002)));
    let plan = assert_element_plan(&lab);
    let flushes: Vec<&str> = plan.lines().filter(|l| l.contains("forget tracked")).collect();
    assert_eq!(flushes.len(), 1, "one conntrack pass: {plan}");
    assert!(
        flushes[0].contains("2 forward(s)"),
        "only the two new forwards: {plan}"
    );
    lab.ok(&["start"]);
    let v = lab.status_json();
    assert_eq!(v["converged"], true, "{v:#}");
}

#[test]
fn a_host_moved_to_another_address_is_an_element_update() {
    if !root_or_skip("a_host_moved_to_another_address_is_an_element_update") {
        return;
    }
    let lab = DriftLab::new("elemhost");
    let before = listing(&lab, "inet");
    lab.set_config(&CONFIG.replace("\"10.98.98.10\"", "\"10.98.98.11\""));
    let plan = assert_element_plan(&lab);
    assert!(
        plan.contains("10.98.98.11"),
        "the forward's target moves with its host: {plan}"
    );
    lab.ok(&["start"]);
    assert_eq!(
        handled_lines(&before),
        handled_lines(&listing(&lab, "inet")),
        "table, chains, rules and sets keep their handles"
    );
    let after = listing(&lab, "inet");
    assert!(after.contains("10.98.98.11"), "{after}");
    let v = lab.status_json();
    assert_eq!(v["converged"], true, "{v:#}");
}
