//! `wsk namespace list`.

use crate::cli::{GlobalArgs, NamespaceCommand};
use crate::{client, CliError, Ctx};

pub async fn run(
    cmd: NamespaceCommand,
    root: &GlobalArgs,
    ctx: &mut Ctx<'_>,
) -> Result<(), CliError> {
    let NamespaceCommand::List(args) = cmd;
    let props = ctx.properties(&root.merge(&args.global));
    let context = "Unable to obtain the list of available namespaces";
    let c = client(&props, context)?;
    let names = c
        .namespaces()
        .await
        .map_err(|e| CliError::client(context, e))?;
    ctx.print(&namespace_list(&names))
}

/// `namespaces`, then one name per line.
pub fn namespace_list(names: &[String]) -> String {
    let mut s = String::from("namespaces\n");
    for n in names {
        s.push_str(n);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing() {
        assert_eq!(namespace_list(&["guest".to_owned()]), "namespaces\nguest\n");
        assert_eq!(namespace_list(&[]), "namespaces\n");
    }
}
