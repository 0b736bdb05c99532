//! The `dlq` binary: parse, run, map the outcome to an exit code.

use std::os::raw::{c_int, c_long};
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

/// `mi_option_purge_delay` in the `mimalloc.h` of the mimalloc that
/// libmimalloc-sys 0.1.49 builds (3.3; the test below checks its default,
/// 1000 in its `options.c`).
const MI_OPTION_PURGE_DELAY: c_int = 15;

/// How long mimalloc keeps freed pages before it gives them back: a second
/// by default, far longer than a bulk run takes to empty and refill its
/// windows, so freed pages piled up (a NATS re-drive at 20 ms peaked at 41
/// to 53 MiB; 37 to 41 with 10 ms, as with 0 to 3, for about 0.2 s more
/// system time per 100,000 messages).
const PURGE_DELAY_MS: c_long = 10;

extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
    #[cfg(test)]
    fn mi_option_get(option: c_int) -> c_long;
}

/// Sets dlq's purge delay unless the user set MIMALLOC_PURGE_DELAY.
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option; mimalloc reads it at each purge.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
}

fn main() -> ExitCode {
    tune_allocator();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The option index names the purge delay: its default (1000 ms) is
    /// there, and setting it is read back; a user's MIMALLOC_PURGE_DELAY is
    /// left as mimalloc read it.
    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        // SAFETY: plain integer options.
        unsafe {
            if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
                let users = mi_option_get(MI_OPTION_PURGE_DELAY);
                tune_allocator();
                assert_eq!(mi_option_get(MI_OPTION_PURGE_DELAY), users);
                return;
            }
            assert_eq!(mi_option_get(MI_OPTION_PURGE_DELAY), 1000);
            tune_allocator();
            assert_eq!(mi_option_get(MI_OPTION_PURGE_DELAY), PURGE_DELAY_MS);
        }
    }
}
