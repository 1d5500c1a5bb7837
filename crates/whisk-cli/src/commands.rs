//! One module per command group; [`dispatch`] routes a parsed command line to it.

mod action;
mod activation;
mod api;
mod entity;
mod namespace;
mod package;
mod property;
mod rule;
mod sdk;
mod trigger;
mod web;

use crate::cli::{Cli, Command};
use crate::{CliError, Ctx};

/// Runs the command. The global flags of the root, the group and the command are merged,
/// the innermost winning.
///
/// # Errors
/// Whatever the command reports.
pub async fn dispatch(cli: Cli, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let root = cli.global;
    match cli.command {
        Command::Action(g) => action::run(g.command, &root.merge(&g.global), ctx).await,
        Command::Api(g) => api::run(g.command, &root.merge(&g.global), ctx).await,
        Command::Activation(g) => activation::run(g.command, &root.merge(&g.global), ctx).await,
        Command::Namespace(g) => namespace::run(g.command, &root.merge(&g.global), ctx).await,
        Command::Package(g) => package::run(g.command, &root.merge(&g.global), ctx).await,
        Command::Rule(g) => rule::run(g.command, &root.merge(&g.global), ctx).await,
        Command::Trigger(g) => trigger::run(g.command, &root.merge(&g.global), ctx).await,
        Command::Property(g) => property::run(g.command, &root.merge(&g.global), ctx).await,
        Command::Sdk(g) => sdk::run(g.command, &root.merge(&g.global), ctx),
        Command::List(a) => namespace::get(&a, &root, ctx).await,
    }
}
