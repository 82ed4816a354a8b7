//! Standard output for people and pipes.
//!
//! `println!` panics when stdout is a closed pipe (`ccv-emu pay ... | head`). The `outln!` macro writes
//! through [`emit`] instead: a closed pipe ends the process quietly with status 0, as
//! `cat` or `grep` do, and any other write error is reported once on stderr.

use std::io::{ErrorKind, Write};

/// Writes formatted text to stdout; see the module documentation for what happens on errors.
pub fn emit(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if err.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {err}");
        std::process::exit(1);
    }
}

/// `println!` that does not panic on a closed pipe.
macro_rules! outln {
    () => { $crate::out::emit(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::out::emit(format_args!("{}\n", format_args!($($arg)*))) };
}
