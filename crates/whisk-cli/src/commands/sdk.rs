//! `wsk sdk install bashauto|docker`.

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
            "The directory '{}' already exists.  Delete it and retry.",
            DOCKER_SKELETON_DIR
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
            "The directory 'dockerSkeleton' already exists.  Delete it and retry."
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
