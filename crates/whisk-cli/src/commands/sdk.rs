//! `wsk sdk install docker|bashauto|zshauto|fishauto`: the docker skeleton (OpenWhisk's
//! `blackbox.tar.gz`, unpacked) from the repository's `sdk/docker-skeleton`, built into the
//! binary, and shell completion scripts for the whole command tree.

use std::path::Path;

use clap::CommandFactory;

use crate::cli::{Cli, GlobalArgs, SdkCommand};
use crate::{messages, CliError, Ctx};

/// The file `sdk install bashauto` writes.
pub const BASH_COMPLETION_FILE: &str = "wsk_cli_bash_completion.sh";
/// The file `sdk install zshauto` writes (zsh looks for `_wsk` on `$fpath`).
pub const ZSH_COMPLETION_FILE: &str = "_wsk";
/// The file `sdk install fishauto` writes.
pub const FISH_COMPLETION_FILE: &str = "wsk.fish";
/// The directory `sdk install docker` creates, as unpacking OpenWhisk's blackbox tarball does.
pub const DOCKER_SKELETON_DIR: &str = "dockerSkeleton";
/// The tarball OpenWhisk's CLI downloads (and removes after unpacking); an existing one
/// stops the install, as there.
pub const DOCKER_SKELETON_TARBALL: &str = "blackbox.tar.gz";

/// The docker skeleton from the repository's `sdk/docker-skeleton`, built into the binary:
/// (file name, content, executable).
const DOCKER_SKELETON: &[(&str, &[u8], bool)] = &[
    (
        "Dockerfile",
        include_bytes!("../../../../sdk/docker-skeleton/Dockerfile"),
        false,
    ),
    (
        "README.md",
        include_bytes!("../../../../sdk/docker-skeleton/README.md"),
        false,
    ),
    (
        "buildAndPush.sh",
        include_bytes!("../../../../sdk/docker-skeleton/buildAndPush.sh"),
        true,
    ),
    (
        "example.c",
        include_bytes!("../../../../sdk/docker-skeleton/example.c"),
        false,
    ),
    (
        ".dockerignore",
        include_bytes!("../../../../sdk/docker-skeleton/.dockerignore"),
        false,
    ),
    (
        ".gitignore",
        include_bytes!("../../../../sdk/docker-skeleton/.gitignore"),
        false,
    ),
];

pub fn run(cmd: SdkCommand, _root: &GlobalArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let SdkCommand::Install(args) = cmd;
    match args.component.to_ascii_lowercase().as_str() {
        component @ ("bashauto" | "zshauto" | "fishauto") => {
            let (shell, file) = match component {
                "bashauto" => (clap_complete::Shell::Bash, BASH_COMPLETION_FILE),
                "zshauto" => (clap_complete::Shell::Zsh, ZSH_COMPLETION_FILE),
                _ => (clap_complete::Shell::Fish, FISH_COMPLETION_FILE),
            };
            let script = completion(shell);
            if args.stdout {
                ctx.print(&script)
            } else {
                write_completion(&ctx.cwd.join(file), &script)?;
                ctx.print(&match shell {
                    clap_complete::Shell::Bash => messages::bash_completion_installed(file),
                    _ => messages::completion_installed(component.trim_end_matches("auto"), file),
                })
            }
        }
        "docker" => {
            if ctx.cwd.join(DOCKER_SKELETON_TARBALL).exists() {
                return Err(CliError::General(format!(
                    "The file '{DOCKER_SKELETON_TARBALL}' already exists.  Delete it and retry."
                )));
            }
            install_docker_skeleton(&ctx.cwd.join(DOCKER_SKELETON_DIR))?;
            ctx.print("The docker skeleton is now installed at the current directory.\n")
        }
        other => Err(CliError::Invalid(format!(
            "The SDK component argument '{other}' is invalid. Valid components are docker, bashauto, zshauto and fishauto"
        ))),
    }
}

/// Writes the skeleton's files into `dir`, which must not exist yet.
fn install_docker_skeleton(dir: &Path) -> Result<(), CliError> {
    if dir.exists() {
        return Err(CliError::General(format!(
            "The docker SDK installation failed: The directory '{DOCKER_SKELETON_DIR}' already exists.  Delete it and retry."
        )));
    }
    let failed =
        |e: std::io::Error| CliError::General(format!("The docker SDK installation failed: {e}"));
    std::fs::create_dir_all(dir).map_err(failed)?;
    for (name, content, executable) in DOCKER_SKELETON {
        let path = dir.join(name);
        std::fs::write(&path, content).map_err(failed)?;
        #[cfg(unix)]
        if *executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(failed)?;
        }
        #[cfg(not(unix))]
        let _ = executable;
    }
    Ok(())
}

/// The completion script of `shell` for the whole command tree.
pub fn completion(shell: clap_complete::Shell) -> String {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "wsk", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

fn write_completion(path: &Path, script: &str) -> Result<(), CliError> {
    std::fs::write(path, script)
        .map_err(|e| CliError::General(format!("Unable to generate '{}': {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_skeleton_is_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join(DOCKER_SKELETON_DIR);
        install_docker_skeleton(&target).unwrap();
        for name in ["Dockerfile", "README.md", "buildAndPush.sh", "example.c"] {
            assert!(target.join(name).is_file(), "{name}");
        }
        let dockerfile = std::fs::read_to_string(target.join("Dockerfile")).unwrap();
        assert!(
            dockerfile.contains("FROM openwhisk/dockerskeleton"),
            "{dockerfile}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(target.join("buildAndPush.sh"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o111, 0o111);
        }
        let e = install_docker_skeleton(&target).unwrap_err();
        assert_eq!(
            e.to_string(),
            "The docker SDK installation failed: The directory 'dockerSkeleton' already exists.  Delete it and retry."
        );
    }

    /// Asks the generated bash completion what it offers after `words` (the last one being
    /// completed), by running the real bash.
    fn bash_complete(script: &std::path::Path, words: &[&str]) -> Vec<String> {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let cword = words.len() - 1;
        let cmd = format!(
            "source '{}'; COMP_WORDS=({}); COMP_CWORD={cword}; _wsk wsk '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display(),
            quoted.join(" "),
            words[cword],
            words[cword - 1],
        );
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(cmd)
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn bash_completes_subcommands_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join(BASH_COMPLETION_FILE);
        write_completion(&script, &completion(clap_complete::Shell::Bash)).unwrap();
        assert_eq!(
            bash_complete(&script, &["wsk", "act"]),
            vec!["action", "activation"]
        );
        assert_eq!(
            bash_complete(&script, &["wsk", "action", "inv"]),
            vec!["invoke"]
        );
        assert_eq!(
            bash_complete(&script, &["wsk", "action", "create", "--we"]),
            vec!["--web", "--web-secure"]
        );
        assert_eq!(
            bash_complete(&script, &["wsk", "-i", "trigger", "create", "--feed-"]),
            vec!["--feed-param"]
        );
        assert_eq!(
            bash_complete(&script, &["wsk", "activation", "-i", "po"]),
            vec!["poll"]
        );
    }

    #[test]
    fn completion_covers_commands() {
        assert!(completion(clap_complete::Shell::Zsh).contains("#compdef wsk"));
        assert!(completion(clap_complete::Shell::Fish).contains("complete -c wsk"));
        let s = completion(clap_complete::Shell::Bash);
        assert!(s.contains("complete -F"), "not a bash completion script");
        for word in [
            "action",
            "activation",
            "property",
            "invoke",
            "--param",
            "--insecure",
        ] {
            assert!(s.contains(word), "missing {word}");
        }
    }
}
