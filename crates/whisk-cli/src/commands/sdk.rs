//! `wsk sdk install bashauto|docker`.

use std::path::Path;

use clap::CommandFactory;

use crate::cli::{Cli, GlobalArgs, SdkCommand};
use crate::{messages, CliError, Ctx};

/// The file `sdk install bashauto` writes.
pub const BASH_COMPLETION_FILE: &str = "wsk_cli_bash_completion.sh";

pub fn run(cmd: SdkCommand, _root: &GlobalArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let SdkCommand::Install(args) = cmd;
    match args.component.to_ascii_lowercase().as_str() {
        "bashauto" => {
            let script = bash_completion();
            if args.stdout {
                ctx.print(&script)
            } else {
                write_completion(&ctx.cwd.join(BASH_COMPLETION_FILE), &script)?;
                ctx.print(&messages::bash_completion_installed(BASH_COMPLETION_FILE))
            }
        }
        // The skeleton tarball comes from the repository's sdk/ folder once it is embedded.
        "docker" => Err(CliError::General(
            "The docker SDK installation failed: the docker skeleton is not bundled with this build of wsk yet; copy sdk/docker-skeleton from the rwhisk repository".to_owned(),
        )),
        other => Err(CliError::Invalid(format!(
            "The SDK component argument '{other}' is invalid. Valid components are docker and bashauto"
        ))),
    }
}

/// The bash completion script for the whole command tree.
pub fn bash_completion() -> String {
    let mut buf = Vec::new();
    clap_complete::generate(
        clap_complete::Shell::Bash,
        &mut Cli::command(),
        "wsk",
        &mut buf,
    );
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
    fn completion_covers_commands() {
        let s = bash_completion();
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
