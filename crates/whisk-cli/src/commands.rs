//! One module per command group; [`dispatch`] routes a parsed command line to it.

mod action;
mod activation;
mod entity;
mod namespace;
mod package;
mod property;
mod rule;
mod sdk;
mod trigger;

use crate::cli::{Cli, Command};
use crate::{CliError, Ctx};

/// Runs the command.
///
/// # Errors
/// Whatever the command reports.
pub async fn dispatch(cli: Cli, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let root = cli.global;
    match cli.command {
        Command::Action(c) => action::run(c, &root, ctx).await,
        Command::Activation(c) => activation::run(c, &root, ctx).await,
        Command::Namespace(c) => namespace::run(c, &root, ctx).await,
        Command::Package(c) => package::run(c, &root, ctx).await,
        Command::Rule(c) => rule::run(c, &root, ctx).await,
        Command::Trigger(c) => trigger::run(c, &root, ctx).await,
        Command::Property(c) => property::run(c, &root, ctx).await,
        Command::Sdk(c) => sdk::run(c, &root, ctx),
    }
}
