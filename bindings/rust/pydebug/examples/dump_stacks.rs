//! Prints every thread's Python stack of a running process: the Rust twin of
//! examples/dump_stacks.c.
//!
//!     usage: dump_stacks PID
use std::process::exit;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pid = match args.get(1).map(|a| a.parse::<i32>()) {
        Some(Ok(pid)) if args.len() == 2 => pid,
        _ => {
            eprintln!("usage: {} PID", args[0]);
            exit(2);
        }
    };
    let mut process = match pydebug::Process::attach(pid) {
        Ok(process) => process,
        Err(e) => {
            eprintln!("attach: {} ({})", e, e.name());
            exit(1);
        }
    };
    let stacks = match process.capture() {
        Ok(stacks) => stacks,
        Err(e) => {
            eprintln!("capture: {}", e);
            exit(1);
        }
    };
    println!("libpydebug {}", pydebug::version());
    println!("Python {}", process.python_version());
    for thread in stacks.threads() {
        println!("Thread {} ({}):", thread.ident(), thread.name().unwrap_or("unnamed".into()));
        for frame in thread.frames() {
            println!("  {} ({}:{})", frame.function(), frame.filename(), frame.line().unwrap_or(-1));
        }
        if let Some(e) = thread.error() {
            println!("  ... stopped: {}", e);
        }
    }
    // `stacks` is dropped before `process` here; the order does not matter to the library,
    // and the borrow checker would refuse to let a Thread or Frame outlive `stacks`.
}
