//! Prints every thread's Python stack of a running process, or of a core file of one:
//! the Rust twin of examples/dump_stacks.c.
//!
//!     usage: dump_stacks PID | --core CORE
use std::process::exit;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opened = match (args.len(), args.get(1).map(String::as_str)) {
        (3, Some("--core")) => pydebug::Process::open_core(&args[2], None),
        (2, Some(pid)) => match pid.parse::<i32>() {
            Ok(pid) => pydebug::Process::attach(pid),
            Err(_) => {
                eprintln!("dump_stacks: bad PID {:?}", pid);
                exit(2);
            }
        },
        _ => {
            eprintln!("usage: {} PID | --core CORE", args[0]);
            exit(2);
        }
    };
    let mut process = match opened {
        Ok(process) => process,
        Err(e) => {
            eprintln!("open: {} ({})", e, e.name());
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
