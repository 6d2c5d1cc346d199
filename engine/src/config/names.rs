//! Name rules the kernel and nftables impose, checked before anything is touched.

/// Linux interface names: 1–15 bytes (IFNAMSIZ - 1), no `/`, no whitespace, no `:`,
/// and not `.` or `..`. Returns what is wrong, for the error message.
pub fn check_interface_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.len() > 15 {
        return Err(format!("is {} bytes long, Linux allows at most 15", name.len()));
    }
    if name == "." || name == ".." {
        return Err("is not a valid interface name".into());
    }
    if let Some(c) = name.chars().find(|c| *c == '/' || *c == ':' || c.is_whitespace()) {
        return Err(format!(
            "contains {c:?}, which Linux does not allow in interface names"
        ));
    }
    if !name.is_ascii() {
        return Err("contains non-ASCII characters".into());
    }
    Ok(())
}

/// Zone (network) names end up in nftables set elements, log prefixes and `ifalias`:
/// a letter, then letters, digits, `_` or `-`, at most 32 bytes.
pub fn check_zone_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.len() > 32 {
        return Err(format!("is {} bytes long, at most 32 are allowed", name.len()));
    }
    let mut chars = name.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return Err("must start with a letter".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!("contains {c:?}; use letters, digits, '_' or '-'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_follow_linux_rules() {
        assert!(check_interface_name("xenbr0").is_ok());
        assert!(check_interface_name("vif12.0").is_ok());
        assert!(check_interface_name("123456789012345").is_ok());
        assert!(check_interface_name("1234567890123456").is_err());
        assert!(check_interface_name("").is_err());
        assert!(check_interface_name("br/0").is_err());
        assert!(check_interface_name("br 0").is_err());
        assert!(check_interface_name("eth0:1").is_err());
        assert!(check_interface_name("..").is_err());
    }

    #[test]
    fn zone_names_are_identifiers() {
        assert!(check_zone_name("dmz").is_ok());
        assert!(check_zone_name("hosting-2").is_ok());
        assert!(check_zone_name("2dmz").is_err());
        assert!(check_zone_name("dm z").is_err());
    }
}
