//! The command line, as clap derive types. Commands, flags and short letters follow
//! OpenWhisk's `wsk` (reference §9).
//!
//! Global flags may be given before the command (`wsk -i action list`) or after it
//! (`wsk action list -i`): [`GlobalArgs`] is flattened into the root and into each leaf
//! command, and the two are merged. `property get` and `property unset` take `--auth`,
//! `--apihost`, ... as switches naming a property, so they carry only [`BasicArgs`].

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

/// The OpenWhisk logo the Go CLI shows above its help.
pub const LOGO: &str = r"
        ____      ___                   _    _ _     _     _
       /\   \    / _ \ _ __   ___ _ __ | |  | | |__ (_)___| | __
  /\  /__\   \  | | | | '_ \ / _ \ '_ \| |  | | '_ \| / __| |/ /
 /  \____ \  /  | |_| | |_) |  __/ | | | |/\| | | | | \__ \   <
 \   \  /  \/    \___/| .__/ \___|_| |_|__/\__|_| |_|_|___/_|\_\
  \___\/ tm           |_|
";

/// OpenWhisk cloud computing command line interface.
#[derive(Debug, Parser)]
#[command(
    name = "wsk",
    version,
    before_help = LOGO,
    arg_required_else_help = true,
    after_help = "Examples:\n  wsk property set --apihost https://127.0.0.1:3443 --auth \"$(cat ~/.rwhisk/guest.key)\"\n  wsk -i action create hello --docker whisk/hello\n  wsk -i action invoke hello --param name World --result"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct GlobalArgs {
    /// bypass certificate checking
    #[arg(short = 'i', long)]
    pub insecure: bool,
    /// whisk API HOST
    #[arg(long, value_name = "HOST")]
    pub apihost: Option<String>,
    /// authorization KEY
    #[arg(short = 'u', long, value_name = "KEY")]
    pub auth: Option<String>,
    /// whisk API VERSION
    #[arg(long, value_name = "VERSION")]
    pub apiversion: Option<String>,
    /// client cert
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// client key
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// verbose output
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// debug level output
    #[arg(short = 'd', long)]
    pub debug: bool,
}

impl GlobalArgs {
    /// `self` (the root's flags) overridden by `leaf` (the command's own).
    #[must_use]
    pub fn merge(&self, leaf: &GlobalArgs) -> GlobalArgs {
        GlobalArgs {
            insecure: self.insecure || leaf.insecure,
            apihost: leaf.apihost.clone().or_else(|| self.apihost.clone()),
            auth: leaf.auth.clone().or_else(|| self.auth.clone()),
            apiversion: leaf.apiversion.clone().or_else(|| self.apiversion.clone()),
            cert: leaf.cert.clone().or_else(|| self.cert.clone()),
            key: leaf.key.clone().or_else(|| self.key.clone()),
            verbose: self.verbose || leaf.verbose,
            debug: self.debug || leaf.debug,
        }
    }
}

/// The global flags that do not clash with `property get/unset` switches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct BasicArgs {
    /// bypass certificate checking
    #[arg(short = 'i', long)]
    pub insecure: bool,
    /// verbose output
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// debug level output
    #[arg(short = 'd', long)]
    pub debug: bool,
}

impl From<&BasicArgs> for GlobalArgs {
    fn from(b: &BasicArgs) -> Self {
        GlobalArgs {
            insecure: b.insecure,
            verbose: b.verbose,
            debug: b.debug,
            ..GlobalArgs::default()
        }
    }
}

/// A command group with the global flags it accepts between its name and the
/// subcommand (`wsk action -i list`).
#[derive(Debug, Args)]
pub struct Group<C: Subcommand> {
    /// Global flags given after the group's name.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command of the group.
    #[command(subcommand)]
    pub command: C,
}

/// The command groups.
// Parsed once per process; boxing the variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// work with actions
    #[command(
        arg_required_else_help = true,
        after_help = "Examples:\n  wsk action create hello hello.js\n  wsk action invoke hello -p name World --result\n  wsk action list"
    )]
    Action(Group<ActionCommand>),
    /// work with activations
    #[command(
        arg_required_else_help = true,
        after_help = "Examples:\n  wsk activation list --limit 5\n  wsk activation get --last\n  wsk activation logs --last --strip"
    )]
    Activation(Group<ActivationCommand>),
    /// work with APIs
    #[command(
        arg_required_else_help = true,
        after_help = "Examples:\n  wsk api create /shop /books/{isbn} get books --response-type http\n  wsk api list --full\n  wsk api get /shop --format yaml\n  wsk api delete /shop /books/{isbn} get"
    )]
    Api(Group<ApiCommand>),
    /// work with namespaces
    #[command(
        arg_required_else_help = true,
        after_help = "Examples:\n  wsk namespace list\n  wsk namespace get"
    )]
    Namespace(Group<NamespaceCommand>),
    /// work with packages
    #[command(
        arg_required_else_help = true,
        after_help = "Examples:\n  wsk package create demo --shared yes\n  wsk package bind /whisk.system/alarms myalarms\n  wsk package list /whisk.system"
    )]
    Package(Group<PackageCommand>),
    /// work with rules
    #[command(
        arg_required_else_help = true,
        after_help = "Examples:\n  wsk rule create every-tick tick hello\n  wsk rule disable every-tick\n  wsk rule list"
    )]
    Rule(Group<RuleCommand>),
    /// work with triggers
    #[command(
        arg_required_else_help = true,
        after_help = "Examples:\n  wsk trigger create tick\n  wsk trigger fire tick -p reason test\n  wsk trigger list"
    )]
    Trigger(Group<TriggerCommand>),
    /// work with the sdk
    #[command(
        arg_required_else_help = true,
        after_help = "Examples:\n  wsk sdk install docker\n  wsk sdk install bashauto"
    )]
    Sdk(Group<SdkCommand>),
    /// work with whisk properties
    #[command(
        arg_required_else_help = true,
        after_help = "Examples:\n  wsk property set --apihost http://127.0.0.1:3233 --auth \"$(cat ~/.rwhisk/guest.key)\"\n  wsk property get --auth"
    )]
    Property(Group<PropertyCommand>),
    /// list entities in the current namespace
    #[command(after_help = "Examples:\n  wsk list\n  wsk list --name-sort")]
    List(NamespaceGetArgs),
}

// === api ===

/// `wsk api ...`
#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// create a new API
    #[command(
        override_usage = "wsk api create ([BASE_PATH] API_PATH API_VERB ACTION] | --config-file CFG_FILE) [flags]",
        after_help = "Examples:\n  wsk api create /hello /world get hello                 # GET <url>/hello/world runs the web action hello\n  wsk api create /shop /books/{isbn} get books --response-type http   # books gets isbn\n  wsk api create /orders post orders --apiname Orders    # base path /\n  wsk api create --config-file shop-swagger.json          # a whole API from swagger JSON (as `wsk api get` prints it)"
    )]
    Create(ApiCreateArgs),
    /// get API details
    #[command(
        after_help = "Examples:\n  wsk api get /shop                 # the swagger document\n  wsk api get Shop --format yaml    # by API name, as YAML\n  wsk api get /shop --full          # with the URL and namespace"
    )]
    Get(ApiGetArgs),
    /// delete an API
    #[command(
        after_help = "Examples:\n  wsk api delete /shop                     # the whole API\n  wsk api delete /shop /books/{isbn}       # one path\n  wsk api delete /shop /books/{isbn} get   # one verb of one path"
    )]
    Delete(ApiDeleteArgs),
    /// list APIs
    #[command(
        after_help = "Examples:\n  wsk api list\n  wsk api list /shop /books get\n  wsk api list --full --name-sort"
    )]
    List(ApiListArgs),
}

/// `wsk api create`
#[derive(Debug, Clone, Args)]
pub struct ApiCreateArgs {
    /// [BASE_PATH] API_PATH API_VERB ACTION
    #[arg(num_args = 0..=4, value_name = "ARGS")]
    pub args: Vec<String>,
    /// Friendly name of the API; ignored when CFG_FILE is specified (default BASE_PATH)
    #[arg(short = 'n', long, value_name = "API_NAME")]
    pub apiname: Option<String>,
    /// `CFG_FILE` containing API configuration in swagger JSON format
    #[arg(short = 'c', long = "config-file", value_name = "CFG_FILE")]
    pub config_file: Option<PathBuf>,
    /// Set the web action response `TYPE`. Possible values are html, http, json, text, svg
    #[arg(long = "response-type", value_name = "TYPE", default_value = "json")]
    pub response_type: String,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// `wsk api get`
#[derive(Debug, Clone, Args)]
pub struct ApiGetArgs {
    /// BASE_PATH | API_NAME
    pub name: String,
    /// display full API configuration details
    #[arg(short = 'f', long)]
    pub full: bool,
    /// Specify the API output `TYPE`, either json or yaml
    #[arg(long, value_name = "TYPE", default_value = "json")]
    pub format: String,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// `wsk api delete`
#[derive(Debug, Clone, Args)]
pub struct ApiDeleteArgs {
    /// BASE_PATH | API_NAME [API_PATH [API_VERB]]
    #[arg(num_args = 1..=3, required = true, value_name = "ARGS")]
    pub args: Vec<String>,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// `wsk api list`
#[derive(Debug, Clone, Args)]
pub struct ApiListArgs {
    /// [BASE_PATH | API_NAME] [API_PATH [API_VERB]]
    #[arg(num_args = 0..=3, value_name = "ARGS")]
    pub args: Vec<String>,
    /// exclude the first `SKIP` number of actions from the result
    #[arg(short = 's', long, default_value_t = 0)]
    pub skip: u32,
    /// only return `LIMIT` number of actions from the collection
    #[arg(short = 'l', long, default_value_t = 30)]
    pub limit: u32,
    /// sorts a list alphabetically by order of [BASE_PATH | API_NAME], API_PATH, then API_VERB; only applicable within the limit/skip returned entity block
    #[arg(short = 'n', long = "name-sort")]
    pub name_sort: bool,
    /// display full description of each API
    #[arg(short = 'f', long)]
    pub full: bool,
    #[command(flatten)]
    pub global: GlobalArgs,
}

// === action ===

/// `wsk action ...`
#[derive(Debug, Subcommand)]
pub enum ActionCommand {
    /// create a new action
    #[command(
        after_help = "Examples:\n  wsk action create hello --docker whisk/hello\n  wsk action create hello hello.js -p name World\n  wsk action create hello hello.zip --kind python:default --main main\n  wsk action create script run.sh --native              # a shell script on the docker skeleton\n  wsk action create both --sequence hello,/guest/pkg/bye\n  wsk action create page page.js --web true --web-secure my-secret\n  wsk action create hello2 hello --copy"
    )]
    Create(ActionCreateArgs),
    /// update an existing action, or create an action if it does not exist
    #[command(
        after_help = "Examples:\n  wsk action update hello --docker whisk/hello:v2\n  wsk action update hello -t 30000 -m 512\n  wsk action update hello --web raw\n  wsk action update hello --del-annotation description"
    )]
    Update(ActionUpdateArgs),
    /// invoke action
    #[command(
        after_help = "Examples:\n  wsk action invoke hello --param name World            # ok: invoked /_/hello with id ...\n  wsk action invoke hello --param name World --result   # waits, prints the result\n  wsk action invoke hello -P params.json --blocking     # waits, prints the record"
    )]
    Invoke(ActionInvokeArgs),
    /// get action
    #[command(
        after_help = "Examples:\n  wsk action get hello\n  wsk action get hello exec\n  wsk action get hello --url\n  wsk action get hello --summary\n  wsk action get hello --save            # writes hello.js (or .py, .zip, ...)\n  wsk action get hello --save-as code.js"
    )]
    Get(ActionGetArgs),
    /// delete action
    #[command(after_help = "Example:\n  wsk action delete hello")]
    Delete(ActionDeleteArgs),
    /// list all actions in a namespace or actions contained in a package
    #[command(
        after_help = "Examples:\n  wsk action list\n  wsk action list mypkg\n  wsk action list /guest --limit 100 --name-sort"
    )]
    List(ActionListArgs),
}

/// What `action create` and `action update` share.
#[derive(Debug, Clone, Default, Args)]
pub struct ActionSpec {
    /// ACTION_NAME: `name`, `pkg/name` or `/namespace/[pkg/]name`
    pub name: String,
    /// ACTION: a code file (`hello.js`, `hello.py`, `app.zip`), or with --sequence a
    /// comma-separated list of actions
    pub artifact: Option<String>,
    /// use provided docker image (a path on DockerHub) to run the action
    #[arg(long, value_name = "IMAGE")]
    pub docker: Option<String>,
    /// treat ACTION as native action (zip file provides a compatible executable to run)
    #[arg(long)]
    pub native: bool,
    /// treat ACTION as comma separated sequence of actions to invoke
    #[arg(long)]
    pub sequence: bool,
    /// the KIND of the action runtime (example: swift:default, nodejs:default)
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// the name of the action entry point (function or fully-qualified method name when applicable)
    #[arg(long, value_name = "MAIN")]
    pub main: Option<String>,
    /// the timeout LIMIT in milliseconds after which the action is terminated
    #[arg(short = 't', long, value_name = "LIMIT")]
    pub timeout: Option<u64>,
    /// the maximum memory LIMIT in MB for the action
    #[arg(short = 'm', long, value_name = "LIMIT")]
    pub memory: Option<u64>,
    /// the maximum log size LIMIT in MB for the action
    #[arg(short = 'l', long, value_name = "LIMIT")]
    pub logsize: Option<u64>,
    /// the maximum intra-container concurrent activation LIMIT for the action
    #[arg(short = 'c', long, value_name = "LIMIT")]
    pub concurrency: Option<u64>,
    /// annotation values in KEY VALUE format
    #[arg(short = 'a', long = "annotation", num_args = 2, value_names = ["KEY", "VALUE"], action = ArgAction::Append, allow_hyphen_values = true)]
    pub annotation: Vec<String>,
    /// FILE containing annotation values in JSON format
    #[arg(short = 'A', long = "annotation-file", value_name = "FILE")]
    pub annotation_file: Option<PathBuf>,
    /// parameter values in KEY VALUE format
    #[arg(short = 'p', long = "param", num_args = 2, value_names = ["KEY", "VALUE"], action = ArgAction::Append, allow_hyphen_values = true)]
    pub param: Vec<String>,
    /// FILE containing parameter values in JSON format
    #[arg(short = 'P', long = "param-file", value_name = "FILE")]
    pub param_file: Option<PathBuf>,
    /// treat ACTION as a web action, a raw HTTP web action, or as a standard action;
    /// yes | true = web action, raw = raw HTTP web action, no | false = standard action
    #[arg(long, value_name = "VALUE")]
    pub web: Option<String>,
    /// secure the web action, where SECRET is true, false, or any string; only valid when
    /// the ACTION is a web action
    #[arg(long = "web-secure", value_name = "SECRET")]
    pub web_secure: Option<String>,
    /// treat ACTION as the name of an existing action
    #[arg(long)]
    pub copy: bool,
}

/// `wsk action create`
#[derive(Debug, Clone, Args)]
pub struct ActionCreateArgs {
    #[command(flatten)]
    pub spec: ActionSpec,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// `wsk action update`
#[derive(Debug, Clone, Args)]
pub struct ActionUpdateArgs {
    #[command(flatten)]
    pub spec: ActionSpec,
    /// the list of annotations to be deleted from the action, e.g. --del-annotation key1 --del-annotation key2
    #[arg(long = "del-annotation", value_name = "KEY")]
    pub del_annotation: Vec<String>,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// `wsk action invoke`
#[derive(Debug, Clone, Args)]
pub struct ActionInvokeArgs {
    /// ACTION_NAME
    pub name: String,
    /// parameter values in KEY VALUE format
    #[arg(short = 'p', long = "param", num_args = 2, value_names = ["KEY", "VALUE"], action = ArgAction::Append, allow_hyphen_values = true)]
    pub param: Vec<String>,
    /// FILE containing parameter values in JSON format
    #[arg(short = 'P', long = "param-file", value_name = "FILE")]
    pub param_file: Option<PathBuf>,
    /// blocking invoke
    #[arg(short = 'b', long)]
    pub blocking: bool,
    /// blocking invoke; show only activation result (unless there is a failure)
    #[arg(short = 'r', long)]
    pub result: bool,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// `wsk action get`
#[derive(Debug, Clone, Args)]
pub struct ActionGetArgs {
    /// ACTION_NAME
    pub name: String,
    /// FIELD_FILTER: show only this field of the action (e.g. exec, limits)
    pub field: Option<String>,
    /// summarize action details; parameters with prefix "*" are bound, "**" are bound and
    /// finalized
    #[arg(short = 's', long)]
    pub summary: bool,
    /// get action url
    #[arg(short = 'r', long)]
    pub url: bool,
    /// save action code to file corresponding with action name
    #[arg(long)]
    pub save: bool,
    /// file to save action code to
    #[arg(long = "save-as", value_name = "FILENAME")]
    pub save_as: Option<String>,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// `wsk action delete`
#[derive(Debug, Clone, Args)]
pub struct ActionDeleteArgs {
    /// ACTION_NAME
    pub name: String,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// `wsk action list`
#[derive(Debug, Clone, Args)]
pub struct ActionListArgs {
    /// NAMESPACE (`/ns`) or PACKAGE_NAME
    pub within: Option<String>,
    /// exclude the first SKIP number of actions from the result
    #[arg(short = 's', long, value_name = "SKIP", default_value_t = 0)]
    pub skip: u32,
    /// only return LIMIT number of actions from the collection
    #[arg(short = 'l', long, value_name = "LIMIT", default_value_t = 30)]
    pub limit: u32,
    /// sorts a list alphabetically by entity name; only applicable within the limit/skip returned entity block
    #[arg(short = 'n', long = "name-sort")]
    pub name_sort: bool,
    #[command(flatten)]
    pub global: GlobalArgs,
}

// === activation ===

/// `wsk activation ...`
#[derive(Debug, Subcommand)]
pub enum ActivationCommand {
    /// list activations
    #[command(
        after_help = "Examples:\n  wsk activation list\n  wsk activation list hello --limit 5\n  wsk activation list --since 1700000000000 --full"
    )]
    List(ActivationListArgs),
    /// get activation
    #[command(
        after_help = "Examples:\n  wsk activation get 6ba2c0fd6f4348b8a2c0fd6f4388b864\n  wsk activation get 6ba2c0fd6f4348b8a2c0fd6f4388b864 response\n  wsk activation get --last logs\n  wsk activation get --last --summary"
    )]
    Get(ActivationGetArgs),
    /// get the logs of an activation
    #[command(
        after_help = "Examples:\n  wsk activation logs 6ba2c0fd6f4348b8a2c0fd6f4388b864\n  wsk activation logs --last --strip"
    )]
    Logs(ActivationLogsArgs),
    /// get the result of an activation
    #[command(
        after_help = "Examples:\n  wsk activation result 6ba2c0fd6f4348b8a2c0fd6f4388b864\n  wsk activation result --last"
    )]
    Result(ActivationResultArgs),
    /// poll continuously for log messages from currently running actions
    #[command(
        after_help = "Examples:\n  wsk activation poll\n  wsk activation poll hello --since-minutes 5 --exit 60"
    )]
    Poll(ActivationPollArgs),
}

/// `wsk activation poll`
#[derive(Debug, Clone, Args)]
pub struct ActivationPollArgs {
    /// NAME of an action whose activations to show
    pub name: Option<String>,
    /// stop polling after SECONDS seconds (0: never)
    #[arg(short = 'e', long, value_name = "SECONDS", default_value_t = 0)]
    pub exit: u64,
    /// start polling for activations SECONDS seconds ago
    #[arg(long = "since-seconds", value_name = "SECONDS", default_value_t = 0)]
    pub since_seconds: u64,
    /// start polling for activations MINUTES minutes ago
    #[arg(long = "since-minutes", value_name = "MINUTES", default_value_t = 0)]
    pub since_minutes: u64,
    /// start polling for activations HOURS hours ago
    #[arg(long = "since-hours", value_name = "HOURS", default_value_t = 0)]
    pub since_hours: u64,
    /// start polling for activations DAYS days ago
    #[arg(long = "since-days", value_name = "DAYS", default_value_t = 0)]
    pub since_days: u64,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// `wsk activation list`
#[derive(Debug, Clone, Args)]
pub struct ActivationListArgs {
    /// NAME of an action (`name`, `pkg/name`, `/ns/[pkg/]name`) whose activations to list
    pub name: Option<String>,
    /// exclude the first SKIP number of activations from the result
    #[arg(short = 's', long, value_name = "SKIP", default_value_t = 0)]
    pub skip: u32,
    /// only return LIMIT number of activations from the collection with a maximum LIMIT of 200 activations
    #[arg(short = 'l', long, value_name = "LIMIT", default_value_t = 30)]
    pub limit: u32,
    /// include full activation description
    #[arg(short = 'f', long)]
    pub full: bool,
    /// return activations with timestamps earlier than UPTO; measured in milliseconds since Th, 01, Jan 1970
    #[arg(long, value_name = "UPTO")]
    pub upto: Option<i64>,
    /// return activations with timestamps later than SINCE; measured in milliseconds since Th, 01, Jan 1970
    #[arg(long, value_name = "SINCE")]
    pub since: Option<i64>,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// `wsk activation get`
#[derive(Debug, Clone, Args)]
pub struct ActivationGetArgs {
    /// ACTIVATION_ID (omit with --last), then an optional FIELD_FILTER such as `response`
    #[arg(num_args = 0..=2, value_name = "ACTIVATION_ID [FIELD_FILTER]")]
    pub args: Vec<String>,
    /// summarize activation details
    #[arg(short = 's', long)]
    pub summary: bool,
    /// retrieves the last activation
    #[arg(short = 'l', long)]
    pub last: bool,
    /// emit only the logs, stripped of time stamps and stream identifier
    #[arg(short = 'g', long)]
    pub logs: bool,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// `wsk activation logs`
#[derive(Debug, Clone, Args)]
pub struct ActivationLogsArgs {
    /// ACTIVATION_ID (omit with --last)
    pub id: Option<String>,
    /// retrieves the last activation
    #[arg(short = 'l', long)]
    pub last: bool,
    /// strip timestamp and stream information
    #[arg(short = 'r', long)]
    pub strip: bool,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// `wsk activation result`
#[derive(Debug, Clone, Args)]
pub struct ActivationResultArgs {
    /// ACTIVATION_ID (omit with --last)
    pub id: Option<String>,
    /// retrieves the last activation
    #[arg(short = 'l', long)]
    pub last: bool,
    #[command(flatten)]
    pub global: GlobalArgs,
}

// === trigger, rule, package ===

/// `-p/-P/-a/-A`, shared by entity commands.
#[derive(Debug, Clone, Default, Args)]
pub struct KeyValueArgs {
    /// annotation values in KEY VALUE format
    #[arg(short = 'a', long = "annotation", num_args = 2, value_names = ["KEY", "VALUE"], action = ArgAction::Append, allow_hyphen_values = true)]
    pub annotation: Vec<String>,
    /// FILE containing annotation values in JSON format
    #[arg(short = 'A', long = "annotation-file", value_name = "FILE")]
    pub annotation_file: Option<PathBuf>,
    /// parameter values in KEY VALUE format
    #[arg(short = 'p', long = "param", num_args = 2, value_names = ["KEY", "VALUE"], action = ArgAction::Append, allow_hyphen_values = true)]
    pub param: Vec<String>,
    /// FILE containing parameter values in JSON format
    #[arg(short = 'P', long = "param-file", value_name = "FILE")]
    pub param_file: Option<PathBuf>,
}

/// A command that takes one entity name.
#[derive(Debug, Clone, Args)]
pub struct NameArgs {
    /// the entity's NAME
    pub name: String,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// A `get` that may show one field.
#[derive(Debug, Clone, Args)]
pub struct GetArgs {
    /// the entity's NAME
    pub name: String,
    /// FIELD_FILTER: show only this field
    pub field: Option<String>,
    /// summarize the entity's details; parameters with prefix "*" are bound
    #[arg(short = 's', long)]
    pub summary: bool,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// A `list` with paging.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// NAMESPACE to list (`/ns`)
    pub namespace: Option<String>,
    /// exclude the first SKIP number of entities from the result
    #[arg(short = 's', long, value_name = "SKIP", default_value_t = 0)]
    pub skip: u32,
    /// only return LIMIT number of entities from the collection
    #[arg(short = 'l', long, value_name = "LIMIT", default_value_t = 30)]
    pub limit: u32,
    /// sorts a list alphabetically by entity name; only applicable within the limit/skip returned entity block
    #[arg(short = 'n', long = "name-sort")]
    pub name_sort: bool,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// `wsk trigger ...`
#[derive(Debug, Subcommand)]
pub enum TriggerCommand {
    /// create new trigger
    #[command(
        after_help = "Examples:\n  wsk trigger create tick\n  wsk trigger create every-minute --feed /whisk.system/alarms/alarm -p cron '* * * * *'\n  wsk trigger create nightly --feed /whisk.system/alarms/alarm -F cron '0 2 * * *' -T color blue"
    )]
    Create(TriggerPutArgs),
    /// update an existing trigger, or create a trigger if it does not exist
    #[command(after_help = "Example:\n  wsk trigger update tick -p color red")]
    Update(TriggerPutArgs),
    /// fire trigger event
    #[command(after_help = "Example:\n  wsk trigger fire tick -p reason test")]
    Fire(TriggerFireArgs),
    /// get trigger
    #[command(
        after_help = "Examples:\n  wsk trigger get tick\n  wsk trigger get tick parameters\n  wsk trigger get tick --summary"
    )]
    Get(GetArgs),
    /// delete trigger
    #[command(after_help = "Example:\n  wsk trigger delete tick")]
    Delete(NameArgs),
    /// list all triggers
    #[command(after_help = "Example:\n  wsk trigger list")]
    List(ListArgs),
}

/// `wsk trigger create|update`
#[derive(Debug, Clone, Args)]
pub struct TriggerPutArgs {
    /// TRIGGER_NAME
    pub name: String,
    /// trigger feed ACTION_NAME (e.g. /whisk.system/alarms/alarm)
    #[arg(short = 'f', long, value_name = "ACTION_NAME")]
    pub feed: Option<String>,
    /// feed parameter values in KEY VALUE format
    #[arg(short = 'F', long = "feed-param", num_args = 2, value_names = ["KEY", "VALUE"], action = ArgAction::Append, allow_hyphen_values = true)]
    pub feed_param: Vec<String>,
    /// trigger parameter values in KEY VALUE format
    #[arg(short = 'T', long = "trigger-param", num_args = 2, value_names = ["KEY", "VALUE"], action = ArgAction::Append, allow_hyphen_values = true)]
    pub trigger_param: Vec<String>,
    #[command(flatten)]
    pub kv: KeyValueArgs,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// `wsk trigger fire`
#[derive(Debug, Clone, Args)]
pub struct TriggerFireArgs {
    /// TRIGGER_NAME
    pub name: String,
    /// parameter values in KEY VALUE format
    #[arg(short = 'p', long = "param", num_args = 2, value_names = ["KEY", "VALUE"], action = ArgAction::Append, allow_hyphen_values = true)]
    pub param: Vec<String>,
    /// FILE containing parameter values in JSON format
    #[arg(short = 'P', long = "param-file", value_name = "FILE")]
    pub param_file: Option<PathBuf>,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// `wsk rule ...`
#[derive(Debug, Subcommand)]
pub enum RuleCommand {
    /// create new rule
    #[command(after_help = "Example:\n  wsk rule create every-tick tick hello")]
    Create(RulePutArgs),
    /// update an existing rule, or create a rule if it does not exist
    #[command(after_help = "Example:\n  wsk rule update every-tick tick goodbye")]
    Update(RulePutArgs),
    /// enable rule
    #[command(after_help = "Example:\n  wsk rule enable every-tick")]
    Enable(NameArgs),
    /// disable rule
    #[command(after_help = "Example:\n  wsk rule disable every-tick")]
    Disable(NameArgs),
    /// get rule status
    #[command(after_help = "Example:\n  wsk rule status every-tick")]
    Status(NameArgs),
    /// get rule
    #[command(
        after_help = "Examples:\n  wsk rule get every-tick\n  wsk rule get every-tick --summary"
    )]
    Get(GetArgs),
    /// delete rule
    #[command(
        after_help = "Examples:\n  wsk rule delete every-tick\n  wsk rule delete every-tick --disable"
    )]
    Delete(RuleDeleteArgs),
    /// list all rules
    #[command(after_help = "Example:\n  wsk rule list")]
    List(ListArgs),
}

/// `wsk rule create|update`
#[derive(Debug, Clone, Args)]
pub struct RulePutArgs {
    /// RULE_NAME
    pub name: String,
    /// TRIGGER_NAME
    pub trigger: String,
    /// ACTION_NAME
    pub action: String,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// `wsk rule delete`
#[derive(Debug, Clone, Args)]
pub struct RuleDeleteArgs {
    /// RULE_NAME
    pub name: String,
    /// automatically disable rule before deleting it
    #[arg(long)]
    pub disable: bool,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// `wsk package ...`
#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// bind parameters to a package
    #[command(
        after_help = "Example:\n  wsk package bind /whisk.system/alarms myalarms -p cron '* * * * *'"
    )]
    Bind(PackageBindArgs),
    /// create a new package
    #[command(
        after_help = "Examples:\n  wsk package create demo\n  wsk package create shared-demo --shared yes -p greeting hi"
    )]
    Create(PackagePutArgs),
    /// update an existing package, or create a package if it does not exist
    #[command(after_help = "Example:\n  wsk package update demo -p greeting hello")]
    Update(PackagePutArgs),
    /// get package
    #[command(
        after_help = "Examples:\n  wsk package get demo\n  wsk package get /whisk.system/alarms --summary"
    )]
    Get(GetArgs),
    /// delete package
    #[command(after_help = "Example:\n  wsk package delete demo")]
    Delete(NameArgs),
    /// list all packages
    #[command(after_help = "Examples:\n  wsk package list\n  wsk package list /whisk.system")]
    List(ListArgs),
}

/// `wsk package create|update`
#[derive(Debug, Clone, Args)]
pub struct PackagePutArgs {
    /// PACKAGE_NAME
    pub name: String,
    /// package visibility SCOPE; yes = shared, no = private
    #[arg(long, value_name = "SCOPE")]
    pub shared: Option<String>,
    #[command(flatten)]
    pub kv: KeyValueArgs,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// `wsk package bind`
#[derive(Debug, Clone, Args)]
pub struct PackageBindArgs {
    /// PACKAGE_NAME to bind to (e.g. /whisk.system/alarms)
    pub package: String,
    /// BINDING_NAME
    pub name: String,
    /// overwrite bind
    #[arg(short = 'o', long)]
    pub overwrite: bool,
    #[command(flatten)]
    pub kv: KeyValueArgs,
    #[command(flatten)]
    pub global: GlobalArgs,
}

// === namespace ===

/// `wsk namespace ...`
#[derive(Debug, Subcommand)]
pub enum NamespaceCommand {
    /// list available namespaces
    #[command(after_help = "Example:\n  wsk namespace list")]
    List(NamespaceListArgs),
    /// get triggers, actions, and rules in the registry for namespace
    #[command(after_help = "Examples:\n  wsk namespace get\n  wsk namespace get --name-sort")]
    Get(NamespaceGetArgs),
}

/// `wsk namespace get` and `wsk list`
#[derive(Debug, Clone, Args)]
pub struct NamespaceGetArgs {
    /// NAMESPACE (`/ns`; the default namespace when omitted)
    pub namespace: Option<String>,
    /// sorts a list alphabetically by entity name; only applicable within the limit/skip returned entity block
    #[arg(short = 'n', long = "name-sort")]
    pub name_sort: bool,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// `wsk namespace list`
#[derive(Debug, Clone, Args)]
pub struct NamespaceListArgs {
    #[command(flatten)]
    pub global: GlobalArgs,
}

// === property ===

/// `wsk property ...`
#[derive(Debug, Subcommand)]
pub enum PropertyCommand {
    /// set property
    #[command(
        after_help = "Examples:\n  wsk property set --apihost https://127.0.0.1:3443 --auth \"$(cat ~/.rwhisk/guest.key)\"\n  wsk property set --namespace guest\n\nValues are kept in ~/.wskprops, or in the file named by WSK_CONFIG_FILE."
    )]
    Set(PropertySetArgs),
    /// unset property
    #[command(after_help = "Example:\n  wsk property unset --auth --namespace")]
    Unset(PropertyUnsetArgs),
    /// get property
    #[command(
        after_help = "Examples:\n  wsk -i property get\n  wsk property get --auth\n  wsk property get --apihost -o raw"
    )]
    Get(PropertyGetArgs),
}

/// `wsk property set`: `--auth`, `--apihost`, `--apiversion`, `--cert`, `--key` are the
/// global flags.
#[derive(Debug, Clone, Args)]
pub struct PropertySetArgs {
    /// whisk NAMESPACE
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Switches naming properties, shared by `get` and `unset`.
#[derive(Debug, Clone, Default, Args)]
pub struct PropertySelect {
    /// client cert
    #[arg(long)]
    pub cert: bool,
    /// client key
    #[arg(long)]
    pub key: bool,
    /// authorization key
    #[arg(long)]
    pub auth: bool,
    /// whisk API host
    #[arg(long)]
    pub apihost: bool,
    /// whisk API version
    #[arg(long)]
    pub apiversion: bool,
    /// whisk namespace
    #[arg(long)]
    pub namespace: bool,
}

/// `wsk property unset`
#[derive(Debug, Clone, Args)]
pub struct PropertyUnsetArgs {
    #[command(flatten)]
    pub select: PropertySelect,
    #[command(flatten)]
    pub basic: BasicArgs,
}

/// `wsk property get`
#[derive(Debug, Clone, Args)]
pub struct PropertyGetArgs {
    #[command(flatten)]
    pub select: PropertySelect,
    /// whisk CLI version
    #[arg(long)]
    pub cliversion: bool,
    /// whisk API build version
    #[arg(long)]
    pub apibuild: bool,
    /// whisk API build number
    #[arg(long)]
    pub apibuildno: bool,
    /// all properties
    #[arg(long)]
    pub all: bool,
    /// Output format in std|raw
    #[arg(short = 'o', long, value_name = "FORMAT", default_value = "std")]
    pub output: String,
    #[command(flatten)]
    pub basic: BasicArgs,
}

// === sdk ===

/// `wsk sdk ...`
#[derive(Debug, Subcommand)]
pub enum SdkCommand {
    /// install SDK artifacts, where valid COMPONENT values are docker, bashauto, zshauto and fishauto
    #[command(
        after_help = "Examples:\n  wsk sdk install bashauto && source wsk_cli_bash_completion.sh\n  wsk sdk install bashauto --stdout > /etc/bash_completion.d/wsk\n  wsk sdk install docker && cd dockerSkeleton && ./buildAndPush.sh whisk/hello"
    )]
    Install(SdkInstallArgs),
}

/// `wsk sdk install`
#[derive(Debug, Clone, Args)]
pub struct SdkInstallArgs {
    /// COMPONENT: docker, bashauto, zshauto or fishauto
    pub component: String,
    /// prints the command completion script to stdout
    #[arg(short = 's', long)]
    pub stdout: bool,
    #[command(flatten)]
    pub global: GlobalArgs,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn seed_command_lines() {
        let cli = parse(&[
            "wsk", "-i", "action", "invoke", "--param", "key", "value", "--result", "whisk_c",
        ]);
        assert!(cli.global.insecure);
        let Command::Action(Group {
            command: ActionCommand::Invoke(a),
            ..
        }) = cli.command
        else {
            panic!()
        };
        assert_eq!(a.name, "whisk_c");
        assert_eq!(a.param, vec!["key", "value"]);
        assert!(a.result);

        let cli = parse(&[
            "wsk",
            "-i",
            "action",
            "create",
            "--docker",
            "chanwit/whisk_c",
            "whisk_c",
        ]);
        let Command::Action(Group {
            command: ActionCommand::Create(c),
            ..
        }) = cli.command
        else {
            panic!()
        };
        assert_eq!(c.spec.docker.as_deref(), Some("chanwit/whisk_c"));
        assert_eq!(c.spec.name, "whisk_c");

        let cli = parse(&[
            "wsk",
            "-i",
            "activation",
            "get",
            "6ba2c0fd6f4348b8a2c0fd6f4388b864",
            "response",
        ]);
        let Command::Activation(Group {
            command: ActivationCommand::Get(g),
            ..
        }) = cli.command
        else {
            panic!()
        };
        assert_eq!(g.args, vec!["6ba2c0fd6f4348b8a2c0fd6f4388b864", "response"]);

        let cli = parse(&["wsk", "-i", "property", "get"]);
        assert!(cli.global.insecure);
        let cli = parse(&["wsk", "property", "get", "--auth"]);
        let Command::Property(Group {
            command: PropertyCommand::Get(g),
            ..
        }) = cli.command
        else {
            panic!()
        };
        assert!(g.select.auth);
        assert_eq!(g.output, "std");
    }

    #[test]
    fn global_flags_anywhere() {
        let cli = parse(&["wsk", "action", "list", "-i", "--apihost", "h", "-u", "a:b"]);
        let Command::Action(Group {
            command: ActionCommand::List(l),
            global,
        }) = cli.command
        else {
            panic!()
        };
        let g = cli.global.merge(&global).merge(&l.global);
        assert!(g.insecure);
        assert_eq!(g.apihost.as_deref(), Some("h"));
        assert_eq!(g.auth.as_deref(), Some("a:b"));
        assert_eq!(l.limit, 30);

        // Between the group and the command, as `wsk action -i list`.
        let cli = parse(&["wsk", "action", "-i", "--apihost", "g", "list", "-v"]);
        let Command::Action(Group {
            command: ActionCommand::List(l),
            global,
        }) = cli.command
        else {
            panic!()
        };
        let g = cli.global.merge(&global).merge(&l.global);
        assert!(g.insecure && g.verbose);
        assert_eq!(g.apihost.as_deref(), Some("g"));

        let cli = parse(&[
            "wsk",
            "--apihost",
            "root",
            "property",
            "set",
            "--apihost",
            "leaf",
            "--namespace",
            "guest",
        ]);
        let Command::Property(Group {
            command: PropertyCommand::Set(s),
            global,
        }) = cli.command
        else {
            panic!()
        };
        assert_eq!(
            cli.global
                .merge(&global)
                .merge(&s.global)
                .apihost
                .as_deref(),
            Some("leaf")
        );
        assert_eq!(s.namespace.as_deref(), Some("guest"));

        let cli = parse(&["wsk", "list", "-n", "-i"]);
        let Command::List(l) = cli.command else {
            panic!()
        };
        assert!(l.name_sort && l.global.insecure);
    }

    #[test]
    fn repeated_params_and_negative_values() {
        let cli = parse(&[
            "wsk", "action", "invoke", "x", "-p", "a", "1", "-p", "n", "-5", "-P", "f.json", "-b",
        ]);
        let Command::Action(Group {
            command: ActionCommand::Invoke(a),
            ..
        }) = cli.command
        else {
            panic!()
        };
        assert_eq!(a.param, vec!["a", "1", "n", "-5"]);
        assert_eq!(
            a.param_file.as_deref(),
            Some(std::path::Path::new("f.json"))
        );
        assert!(a.blocking);
    }

    #[test]
    fn web_flags_and_trigger_params() {
        let cli = parse(&[
            "wsk",
            "action",
            "update",
            "page",
            "--web",
            "raw",
            "--web-secure",
            "s3cret",
        ]);
        let Command::Action(Group {
            command: ActionCommand::Update(u),
            ..
        }) = cli.command
        else {
            panic!()
        };
        assert_eq!(u.spec.web.as_deref(), Some("raw"));
        assert_eq!(u.spec.web_secure.as_deref(), Some("s3cret"));

        let cli = parse(&[
            "wsk",
            "trigger",
            "create",
            "t",
            "--feed",
            "f",
            "-F",
            "cron",
            "* * * * *",
            "-T",
            "a",
            "1",
        ]);
        let Command::Trigger(Group {
            command: TriggerCommand::Create(t),
            ..
        }) = cli.command
        else {
            panic!()
        };
        assert_eq!(t.feed_param, vec!["cron", "* * * * *"]);
        assert_eq!(t.trigger_param, vec!["a", "1"]);
    }

    /// Every command, group and root shows examples in its help.
    #[test]
    fn every_command_has_examples() {
        fn walk(cmd: &clap::Command, path: &str) {
            let path = format!("{path} {}", cmd.get_name());
            let help = cmd
                .get_after_help()
                .map(ToString::to_string)
                .unwrap_or_default();
            assert!(help.starts_with("Example"), "{path} has no examples");
            for sub in cmd.get_subcommands() {
                if sub.get_name() != "help" {
                    walk(sub, &path);
                }
            }
        }
        walk(&Cli::command(), "");
    }
}
