//! The `dlq` binary: parse, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser as _;

use dlq::bulk::Interrupt;
use dlq::cli::Cli;
use dlq::commands::Ctx;
use dlq::exit::{self, code_for, Exit};
use dlq::output::{is_broken_pipe, Printer};
use dlq::pager::Pager;
use dlq::secrets::scrub;

/// Bulk paths allocate a little per message on several threads; mimalloc
/// spends about a third less CPU on it than the system allocator, which
/// leaves more of the host to a broker running beside dlq.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version as clap prints them; errors are one line.
        Err(e)
            if !e.use_stderr()
                || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            e.exit()
        }
        Err(e) => {
            eprintln!("{}", exit::clap_line(&e.render().to_string()));
            return Exit::Usage.into();
        }
    };
    dlq::tls::install_provider();
    let printer = Printer::new(&cli.global);
    let verbose = cli.global.verbose;
    let ctx = Ctx {
        global: cli.global.clone(),
        printer,
        interrupt: Interrupt::default(),
        front: std::sync::Arc::new(dlq::commands::front::Terminal),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dlq: error: cannot start the async runtime: {e}");
            return Exit::Broker.into();
        }
    };
    let pager = Pager::start(!cli.global.no_pager && dlq::pages(&cli.command));
    let result = runtime.block_on(dlq::run(cli, &ctx));
    // Client libraries may keep background tasks; do not wait for them.
    runtime.shutdown_background();
    pager.finish();
    match result {
        Ok(code) => code.into(),
        Err(err) if is_broken_pipe(&err) => Exit::Ok.into(),
        Err(err) => {
            let code = code_for(&err);
            if code == Exit::Interrupted {
                eprintln!("dlq: interrupted");
            } else {
                eprintln!("dlq: error: {}", scrub(&flat(&exit::one_line(&err))));
                if verbose > 0 {
                    for cause in exit::causes(&err) {
                        eprintln!("  caused by: {}", scrub(&flat(&cause)));
                    }
                }
            }
            code.into()
        }
    }
}

/// Errors from client libraries sometimes span lines; the contract is one.
fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
