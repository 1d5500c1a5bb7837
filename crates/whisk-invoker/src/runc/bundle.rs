//! The OCI runtime configuration (`config.json`) of a runc container: its namespaces,
//! mounts, limits, seccomp filter and environment, and the labels file beside it.

use std::collections::HashMap;

use serde_json::{json, Value};
use whisk_protocol::ENV_TOKEN;

use super::cgroup::cgroup_of;
use super::{RuncImage, ACTION_DIR, NOFILE};
use crate::factory::ContainerSpec;

/// `/proc` and `/sys` paths hidden from the container, as `runc spec` has them.
const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];

/// `/proc` paths the container may only read, as `runc spec` has them.
const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// System calls no action needs that widen the kernel surface open to it, refused with
/// `EPERM` (most need capabilities the container lacks anyway; this also holds for the ones
/// that do not: keyrings, user namespaces, BPF, perf, userfaultfd).
const DENIED_SYSCALLS: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "init_module",
    "iopl",
    "ioperm",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mount",
    "move_mount",
    "name_to_handle_at",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "quotactl",
    "reboot",
    "request_key",
    "setns",
    "swapoff",
    "swapon",
    "syslog",
    "umount2",
    "unshare",
    "userfaultfd",
];

/// `clone` flags that make namespaces: a `clone` with any of them is refused.
const CLONE_NAMESPACE_FLAGS: &[u64] = &[
    0x0002_0000, // CLONE_NEWNS
    0x0200_0000, // CLONE_NEWCGROUP
    0x0400_0000, // CLONE_NEWUTS
    0x0800_0000, // CLONE_NEWIPC
    0x1000_0000, // CLONE_NEWUSER
    0x2000_0000, // CLONE_NEWPID
    0x4000_0000, // CLONE_NEWNET
];

/// `EPERM`, and `ENOSYS` (for `clone3`, whose flags a filter cannot read: the C library
/// then falls back to `clone`).
const EPERM: u32 = 1;

const ENOSYS: u32 = 38;

/// The container's seccomp filter: everything allowed except [`DENIED_SYSCALLS`], `clone`
/// making namespaces and `clone3`.
fn seccomp() -> Value {
    let mut rules = vec![
        json!({ "names": DENIED_SYSCALLS, "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM }),
        json!({ "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS }),
    ];
    rules.extend(CLONE_NAMESPACE_FLAGS.iter().map(|flag| {
        json!({
            "names": ["clone"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": EPERM,
            "args": [{ "index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ" }],
        })
    }));
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        "syscalls": rules,
    })
}

/// `image`'s environment, then `spec`'s, then the token: a later entry replaces an earlier
/// one of the same name, in the earlier one's place.
fn environment(image: &RuncImage, spec: &ContainerSpec, token: &str) -> Vec<String> {
    let mut env: Vec<(String, String)> = Vec::new();
    let entries = image
        .env
        .iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (e.clone(), String::new()),
        })
        .chain(spec.env.iter().cloned())
        .chain([(ENV_TOKEN.to_owned(), token.to_owned())]);
    for (k, v) in entries {
        match env.iter_mut().find(|(key, _)| *key == k) {
            Some(slot) => slot.1 = v,
            None => env.push((k, v)),
        }
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// The OCI runtime configuration (`config.json`) of container `id` from `spec` and `image`,
/// with `token` for its proxy; see the module documentation for what it isolates.
pub fn bundle_config(id: &str, spec: &ContainerSpec, image: &RuncImage, token: &str) -> Value {
    let memory = i64::try_from(spec.memory_mb.saturating_mul(1024 * 1024)).unwrap_or(i64::MAX);
    let tmpfs_size = format!("size={}m", spec.memory_mb.max(1));
    let no_caps: Vec<String> = Vec::new();
    let hostname: String = id.chars().take(63).collect();
    let namespaces: Vec<Value> = ["pid", "network", "ipc", "uts", "mount", "cgroup"]
        .iter()
        .map(|t| json!({ "type": t }))
        .collect();
    json!({
        "ociVersion": "1.0.2",
        "root": { "path": image.rootfs, "readonly": true },
        "hostname": hostname,
        "annotations": spec.labels.iter().cloned().collect::<HashMap<String, String>>(),
        "process": {
            "terminal": false,
            "user": { "uid": image.uid, "gid": image.gid },
            "args": image.args,
            "env": environment(image, spec, token),
            "cwd": image.cwd,
            "noNewPrivileges": true,
            "capabilities": {
                "bounding": no_caps,
                "effective": no_caps,
                "permitted": no_caps,
                "inheritable": no_caps,
                "ambient": no_caps,
            },
            "rlimits": [
                { "type": "RLIMIT_NOFILE", "hard": NOFILE, "soft": NOFILE },
                { "type": "RLIMIT_CORE", "hard": 0, "soft": 0 },
            ],
        },
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] },
            { "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "nodev", "mode=1777", tmpfs_size] },
            { "destination": ACTION_DIR, "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "nodev", "mode=755", tmpfs_size,
                          format!("uid={}", image.uid), format!("gid={}", image.gid)] },
        ],
        "linux": {
            "cgroupsPath": cgroup_of(id),
            "resources": {
                "devices": [{ "allow": false, "access": "rwm" }],
                "memory": { "limit": memory, "swap": memory },
                "cpu": { "shares": spec.cpu_shares },
                "pids": { "limit": spec.pids_limit },
            },
            "namespaces": namespaces,
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
            "seccomp": seccomp(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            name: "rwhisk0_abc_hello".into(),
            kind: "blackbox".into(),
            image: "whisk/example-c".into(),
            memory_mb: 256,
            pids_limit: 64,
            cpu_shares: 128,
            env: vec![
                ("__OW_API_HOST".into(), "http://127.0.0.1:3233".into()),
                ("HOME".into(), "/home/override".into()),
            ],
            labels: vec![("rwhisk.invoker".into(), "s1-0".into())],
        }
    }

    fn image() -> RuncImage {
        RuncImage {
            id: "sha256:0123456789abcdef".into(),
            rootfs: "/data/runc/images/0123456789abcdef/rootfs".into(),
            args: vec!["/usr/local/bin/whisk-proxy".into()],
            env: vec!["PATH=/usr/bin:/bin".into(), "HOME=/tmp".into()],
            cwd: "/".into(),
            uid: 1000,
            gid: 1000,
            action_files: true,
        }
    }

    #[test]
    fn the_bundle_isolates_and_limits() {
        let c = bundle_config("rwhisk0_abc_hello", &spec(), &image(), "t0k");
        assert_eq!(c["root"]["readonly"], true);
        assert_eq!(
            c["root"]["path"],
            "/data/runc/images/0123456789abcdef/rootfs"
        );
        let p = &c["process"];
        assert_eq!(p["terminal"], false);
        assert_eq!(p["noNewPrivileges"], true);
        assert_eq!(p["user"], json!({"uid": 1000, "gid": 1000}));
        assert_eq!(p["args"], json!(["/usr/local/bin/whisk-proxy"]));
        for set in [
            "bounding",
            "effective",
            "permitted",
            "inheritable",
            "ambient",
        ] {
            assert_eq!(p["capabilities"][set], json!([]), "{set}");
        }
        assert!(p["rlimits"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024})));
        let l = &c["linux"];
        assert_eq!(l["cgroupsPath"], "/rwhisk/rwhisk0_abc_hello");
        let mb256 = 256 * 1024 * 1024;
        assert_eq!(
            l["resources"]["memory"],
            json!({"limit": mb256, "swap": mb256})
        );
        assert_eq!(l["resources"]["pids"]["limit"], 64);
        assert_eq!(l["resources"]["cpu"]["shares"], 128);
        assert_eq!(
            l["resources"]["devices"],
            json!([{"allow": false, "access": "rwm"}])
        );
        let namespaces: Vec<&str> = l["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            namespaces,
            ["pid", "network", "ipc", "uts", "mount", "cgroup"]
        );
        // A network namespace of our own, never a path to someone else's.
        assert!(l["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n.get("path").is_none()));
        assert!(l["maskedPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/kcore")));
        assert!(l["readonlyPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/sys")));
        assert_eq!(c["annotations"]["rwhisk.invoker"], "s1-0");
        let seccomp = &l["seccomp"];
        assert_eq!(seccomp["defaultAction"], "SCMP_ACT_ALLOW");
        let denied: Vec<&str> = seccomp["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "SCMP_ACT_ERRNO" && r.get("args").is_none())
            .flat_map(|r| r["names"].as_array().unwrap())
            .map(|n| n.as_str().unwrap())
            .collect();
        for call in ["unshare", "setns", "keyctl", "bpf", "mount", "clone3"] {
            assert!(denied.contains(&call), "{call} allowed");
        }
        let clone_rules = seccomp["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["names"] == json!(["clone"]))
            .count();
        assert_eq!(clone_rules, 7, "one per namespace flag");
    }

    #[test]
    fn only_tmp_and_action_are_writable_and_both_are_bounded() {
        let c = bundle_config("x", &spec(), &image(), "t0k");
        let mounts = c["mounts"].as_array().unwrap();
        let find = |dest: &str| {
            mounts
                .iter()
                .find(|m| m["destination"] == dest)
                .unwrap_or_else(|| panic!("no {dest} mount"))
        };
        for dest in ["/tmp", "/action"] {
            let m = find(dest);
            assert_eq!(m["type"], "tmpfs");
            assert!(
                m["options"]
                    .as_array()
                    .unwrap()
                    .contains(&json!("size=256m")),
                "{m}"
            );
        }
        assert!(find("/action")["options"]
            .as_array()
            .unwrap()
            .contains(&json!("uid=1000")));
        assert!(find("/sys")["options"]
            .as_array()
            .unwrap()
            .contains(&json!("ro")));
        // No bind mount of anything of the host's.
        assert!(mounts.iter().all(|m| m["type"] != "bind"), "{mounts:?}");
    }

    #[test]
    fn the_environment_is_the_images_then_the_specs_then_the_token() {
        let c = bundle_config("x", &spec(), &image(), "t0k");
        assert_eq!(
            c["process"]["env"],
            json!([
                "PATH=/usr/bin:/bin",
                "HOME=/home/override",
                "__OW_API_HOST=http://127.0.0.1:3233",
                format!("{ENV_TOKEN}=t0k"),
            ])
        );
    }
}
