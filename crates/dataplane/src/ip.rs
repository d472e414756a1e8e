//! The `ip` invocations every backend needs for the interface address and link.

use crate::error::BackendError;
use crate::exec::Runner;
use crate::model::InterfaceSpec;

const HINT: &str = "install iproute2 (apt-get install iproute2)";

/// Give the interface its address and bring it up, inside `runner`'s namespace.
///
/// `ip addr replace` is idempotent (unlike `add`, which fails with "File exists"), and
/// `ip link set … mtu … up` on an up link is a no-op, so this is safe on every pass.
pub(crate) async fn configure_link(
    runner: &Runner,
    spec: &InterfaceSpec,
) -> Result<(), BackendError> {
    let addr = spec.address.to_string();
    runner
        .run(
            "ip",
            &["addr", "replace", &addr, "dev", &spec.name],
            None,
            HINT,
        )
        .await?;
    let mtu = spec.mtu.map(|m| m.to_string());
    let mut args = vec!["link", "set", "dev", spec.name.as_str()];
    if let Some(m) = &mtu {
        args.extend(["mtu", m.as_str()]);
    }
    args.push("up");
    runner.run("ip", &args, None, HINT).await?;
    Ok(())
}

/// Whether a link exists (in the runner's namespace).
pub(crate) async fn link_exists(runner: &Runner, name: &str) -> Result<bool, BackendError> {
    match runner
        .run("ip", &["link", "show", "dev", name], None, HINT)
        .await
    {
        Ok(_) => Ok(true),
        Err(BackendError::Command { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Interface names the kernel accepts: 1–15 bytes, no '/', whitespace or ':'.
/// Checked up front because the name ends up in paths and shell scripts.
pub(crate) fn validate_ifname(name: &str) -> Result<(), BackendError> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(BackendError::InvalidInput {
            what: "interface name",
            detail: format!("{name:?}: use 1-15 characters from [A-Za-z0-9._-], e.g. wg0 or awg0"),
        })
    }
}
