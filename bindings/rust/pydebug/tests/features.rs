//! Tests of the sampler, the traceback parser and snapshots against Python processes that
//! say what they are doing: tests/consumers/target.py ($PYDEBUG_TEST_TARGET, run by
//! $PYDEBUG_TEST_TARGET_PYTHON) records its threads (in its line format: this crate uses
//! std only) and counts what it grows; a failing script records its own traceback with
//! the traceback module.
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use pydebug::{DiffBy, DiffOptions, Relation, SamplerOptions, Snapshot, SnapshotOptions};
use pydebug::{ThreadState, Traceback, TracebackFormat, TracebackKind, TracebackParser};

extern "C" {
    // libc's, which std links: a signal to the target without a crate.
    fn kill(pid: i32, sig: i32) -> i32;
}
const SIGUSR1: i32 = 10; // Linux

/// The Python that runs targets and scripts, and target.py; None to skip outside the
/// consumer tests.
fn target_python() -> Option<(String, String)> {
    match (std::env::var("PYDEBUG_TEST_TARGET_PYTHON"), std::env::var("PYDEBUG_TEST_TARGET")) {
        (Ok(python), Ok(script)) => Some((python, script)),
        _ => {
            assert!(
                std::env::var("PYDEBUG_TEST_INCLUDE_DIR").is_err(),
                "run_consumer.py did not say which target to run"
            );
            eprintln!("PYDEBUG_TEST_TARGET(_PYTHON) is not set: skipped");
            None
        }
    }
}

/// A directory of the test's own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "pydebug-rust-{}-{}-{}",
            label,
            std::process::id(),
            n
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct TruthFrame {
    function: String,
    line: i32,
    first_line: i32,
    file: String,
}

#[derive(Debug)]
struct TruthThread {
    ident: u64,
    name: Option<String>,
    frames: Vec<TruthFrame>,
}

/// A target.py of the test's own, killed when dropped. Nothing waits for it meanwhile: the
/// test process is its tracer while a snapshot pauses it, and a wait of another thread
/// would take the ptrace stops the library waits for.
struct Target {
    child: Child,
    dir: TempDir,
    python_version: String,
    growth_class: String,
    growth_step: i64,
    threads: Vec<TruthThread>,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Target {
    fn start() -> Option<Target> {
        let (python, script) = target_python()?;
        let dir = TempDir::new("target");
        let truth = dir.0.join("truth.json");
        let child = Command::new(&python)
            .arg(&script)
            .arg(&truth)
            .args(["--lifetime", "120"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut target = Target {
            child,
            dir,
            python_version: String::new(),
            growth_class: String::new(),
            growth_step: 0,
            threads: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        // truth.json.txt is complete once truth.json exists.
        while !truth.exists() {
            let stat = fs::read_to_string(format!("/proc/{}/stat", target.pid())).unwrap();
            assert!(!stat.contains(") Z "), "the target exited before recording its threads");
            assert!(Instant::now() < deadline, "the target did not record its threads");
            sleep(Duration::from_millis(20));
        }
        let text = fs::read_to_string(target.dir.0.join("truth.json.txt")).unwrap();
        for line in text.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            let words: Vec<&str> = line.split(' ').collect();
            match (fields[0], words[0]) {
                ("thread", _) => target.threads.push(TruthThread {
                    ident: fields[1].parse().unwrap(),
                    name: fields.get(2).map(|s| s.to_string()),
                    frames: Vec::new(),
                }),
                ("frame", _) => target.threads.last_mut().unwrap().frames.push(TruthFrame {
                    function: fields[1].to_string(),
                    line: fields[2].parse().unwrap(),
                    first_line: fields[3].parse().unwrap(),
                    file: fields[4].to_string(),
                }),
                (_, "python") => target.python_version = words[1].to_string(),
                (_, "growth") => {
                    target.growth_class = words[1].to_string();
                    target.growth_step = words[2].parse().unwrap();
                }
                (_, "pid") => assert_eq!(words[1].parse::<i32>().unwrap(), target.pid()),
                _ => panic!("unexpected truth line {:?}", line),
            }
        }
        assert!(target.threads.len() >= 4, "{:?}", target.threads);
        Some(target)
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Has the target grow (SIGUSR1); returns the count of objects it reports.
    fn grow(&self, sequence: i64) -> i64 {
        assert_eq!(unsafe { kill(self.pid(), SIGUSR1) }, 0);
        let path = self.dir.0.join("truth.json.grown");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(text) = fs::read_to_string(&path) {
                let numbers: Vec<i64> =
                    text.split_whitespace().filter_map(|w| w.parse().ok()).collect();
                if numbers.len() == 2 && numbers[0] == sequence {
                    return numbers[1];
                }
            }
            sleep(Duration::from_millis(20));
        }
        panic!("the target did not grow");
    }
}

#[test]
fn sampler_flags_match_the_header() {
    let include = match std::env::var("PYDEBUG_TEST_INCLUDE_DIR") {
        Ok(dir) => dir,
        Err(_) => return eprintln!("PYDEBUG_TEST_INCLUDE_DIR is not set: skipped"),
    };
    let text = fs::read_to_string(format!("{}/pydebug/sample.h", include)).unwrap();
    let ours = [
        ("THREAD_STATE", pydebug::sys::PYDBG_SAMPLER_THREAD_STATE),
        ("GIL_ONLY", pydebug::sys::PYDBG_SAMPLER_GIL_ONLY),
        ("RUNNING_ONLY", pydebug::sys::PYDBG_SAMPLER_RUNNING_ONLY),
        ("PAUSE", pydebug::sys::PYDBG_SAMPLER_PAUSE),
        ("GIL", pydebug::sys::PYDBG_SAMPLER_GIL),
    ];
    let mut found = 0;
    for chunk in text.split("PYDBG_SAMPLER_").skip(1) {
        // "NAME = 1u << N," declarations; mentions in comments have no "= 1u <<".
        let (name, rest) = chunk
            .split_at(chunk.find(|c: char| !c.is_ascii_alphanumeric() && c != '_').unwrap_or(0));
        let rest = rest.trim_start();
        if let Some(shift) = rest.strip_prefix("= 1u << ") {
            let digits: String = shift.chars().take_while(|c| c.is_ascii_digit()).collect();
            let value = 1u32 << digits.parse::<u32>().unwrap();
            let ours = ours.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
            assert_eq!(ours, Some(value), "PYDBG_SAMPLER_{}", name);
            found += 1;
        }
    }
    assert!(found >= 4, "only {} sampler flags in sample.h", found);
}

#[test]
fn samples_match_the_target() {
    let target = match Target::start() {
        Some(target) => target,
        None => return,
    };
    let mut process = pydebug::Process::attach(target.pid()).unwrap();
    let options = SamplerOptions { gil: true, thread_state: true, ..SamplerOptions::default() };
    let mut sampler = process.sampler(options).unwrap();
    const SAMPLES: u64 = 40;
    let mut torn = 0u64;
    for round in 0..SAMPLES {
        let sample = sampler.sample().unwrap();
        let holders = sample.threads().filter(|t| t.holds_gil() == Some(true)).count();
        assert!(holders <= 1, "sample {}: {} threads hold the GIL", round, holders);
        for want in &target.threads {
            let got = sample
                .threads()
                .find(|t| t.ident() == want.ident)
                .unwrap_or_else(|| panic!("sample {}: thread {} missing", round, want.ident));
            assert_eq!(got.name().map(|n| n.into_owned()), want.name);
            if let Some(e) = got.error() {
                assert_eq!(e.code(), pydebug::sys::PYDBG_ECORRUPT, "{}", e);
                assert_eq!(got.frame_count(), 0);
                torn += 1;
                continue;
            }
            let have: Vec<TruthFrame> = got
                .frames()
                .map(|f| {
                    let info = sample.code_info(f.code).expect("a code key of this sampler");
                    TruthFrame {
                        function: info.function.into_owned(),
                        line: f.line.unwrap_or(-1),
                        first_line: info.first_line,
                        file: info.filename.into_owned(),
                    }
                })
                .collect();
            assert_eq!(have, want.frames, "thread {}", want.ident);
            // Every thread of the target is blocked in acquire(): asleep in the kernel.
            assert_eq!(got.state(), ThreadState::Idle, "thread {}", want.ident);
            assert!(!got.truncated());
            assert!(got.holds_gil().is_some(), "the gil option reads the holder");
            let tid = got.native_id().expect("a native id");
            assert!(Path::new(&format!("/proc/{}/task/{}", target.pid(), tid)).exists());
        }
    }
    let threads = target.threads.len() as u64;
    assert_eq!(sampler.sample_count(), SAMPLES);
    assert_eq!(sampler.torn_count(), torn);
    assert!(sampler.thread_sample_count() >= SAMPLES * threads);
    assert!(sampler.read_calls() > 0);
    assert!(torn <= SAMPLES * threads / 10, "{} torn stacks of blocked threads", torn);
    assert!(sampler.code_info(0).is_none());
}

/// Records its own traceback with the traceback module, then dies of it: the chain in
/// printed order, each exception's line as format_exception_only() prints it, how it
/// follows the previous one, and its frames as extract_tb() gives them. Run with "json",
/// it reads a JSON traceback document on stdin and writes it out in the same format.
const FAILING_SCRIPT: &str = r#"
import json
import sys
import traceback


def write(f, relation, kind, message, frames):
    f.write("exception\t%s\t%s: %s\n" % (relation, kind, message))
    for filename, line, function in frames:
        f.write("frame\t%s\t%d\t%s\n" % (filename, line, function))


def record(path, exc):
    chain = []
    while exc is not None and len(chain) < 20:
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    chain.reverse()
    with open(path, "w") as f:
        for i, e in enumerate(chain):
            relation = "none" if i == 0 else ("cause" if e.__cause__ is chain[i - 1]
                                              else "context")
            kind, _, message = traceback.format_exception_only(
                type(e), e)[-1].rstrip("\n").partition(": ")
            write(f, relation, kind, message, [(fs.filename, fs.lineno, fs.name)
                                               for fs in traceback.extract_tb(e.__traceback__)])


def hook(kind, value, tb):
    record(sys.argv[1], value)
    sys.__excepthook__(kind, value, tb)


sys.excepthook = hook


class Settings:
    def get(self, key):
        return {"timeout": 3}[key]


def parse_config(text):
    try:
        return Settings().get(text)
    except KeyError as e:
        raise LookupError("no setting %r in the configuration" % text) from e


def report(name):
    try:
        parse_config(name)
    except LookupError:
        return int("errors: %s" % name)


if sys.argv[1] == "json":
    for e in json.load(sys.stdin)["exceptions"]:
        write(sys.stdout, e["relation"] or "none", e["type"], e["message"],
              [(f["filename"], f["line"], f["function"]) for f in e["frames"]])
else:
    report("retries")
"#;

#[derive(Debug, PartialEq, Eq)]
struct ScriptException {
    relation: Relation,
    kind: String,
    message: String,
    frames: Vec<(String, i32, String)>,
}

fn read_record(text: &str) -> Vec<ScriptException> {
    let mut chain: Vec<ScriptException> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f[0] == "exception" {
            let (kind, message) = f[2].split_once(": ").unwrap_or((f[2], ""));
            let relation = match f[1] {
                "cause" => Relation::Cause,
                "context" => Relation::Context,
                _ => Relation::None,
            };
            chain.push(ScriptException {
                relation,
                kind: kind.to_string(),
                message: message.to_string(),
                frames: Vec::new(),
            });
        } else {
            let frame = (f[1].to_string(), f[2].parse().unwrap(), f[3].to_string());
            chain.last_mut().unwrap().frames.push(frame);
        }
    }
    chain
}

struct Failure {
    _dir: TempDir,
    python: String,
    script: PathBuf,
    stderr: String,
    record: String,
}

fn run_failing_script() -> Option<Failure> {
    let (python, _) = target_python()?;
    let dir = TempDir::new("tb");
    let script = dir.0.join("failing.py");
    let record = dir.0.join("record.txt");
    fs::write(&script, FAILING_SCRIPT).unwrap();
    let out = Command::new(&python)
        .arg(&script)
        .arg(&record)
        .env("PYTHONIOENCODING", "utf-8")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the failing script did not fail");
    let record = fs::read_to_string(&record).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    Some(Failure { _dir: dir, python, script, stderr, record })
}

fn as_recorded(tb: &Traceback) -> Vec<ScriptException> {
    assert_eq!(tb.kind(), TracebackKind::Exception);
    assert!(!tb.truncated());
    tb.exceptions()
        .map(|e| {
            assert!(e.has_traceback() && !e.is_group() && e.syntax().is_none());
            ScriptException {
                relation: e.relation(),
                kind: e.type_name().expect("a type").into_owned(),
                message: e.message().expect("a message").into_owned(),
                frames: e
                    .frames()
                    .map(|f| {
                        (
                            f.filename().into_owned(),
                            f.line().unwrap_or(-1),
                            f.function().into_owned(),
                        )
                    })
                    .collect(),
            }
        })
        .collect()
}

#[test]
fn traceback_matches_the_script() {
    let failure = match run_failing_script() {
        Some(failure) => failure,
        None => return,
    };
    let want = read_record(&failure.record);
    assert_eq!(want.len(), 3, "{}", failure.record);
    let tb = Traceback::parse(failure.stderr.as_bytes()).unwrap();
    assert_eq!(as_recorded(&tb), want);
    assert_eq!(tb.start_line(), 1);
    assert_eq!(tb.end_line(), failure.stderr.lines().count() as u64);
    let text = tb.format(TracebackFormat::Text).unwrap();
    assert_eq!(text.trim_end_matches('\n'), failure.stderr.trim_end_matches('\n'));
    // The JSON, read back by Python's json module (the script's "json" mode).
    let json = tb.format(TracebackFormat::Json).unwrap();
    let mut reader = Command::new(&failure.python)
        .arg(&failure.script)
        .arg("json")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    reader.stdin.take().unwrap().write_all(json.as_bytes()).unwrap();
    let out = reader.wait_with_output().unwrap();
    assert!(out.status.success(), "json.load failed on {}", json);
    assert_eq!(read_record(&String::from_utf8(out.stdout).unwrap()), want);
    let err = Traceback::parse(b"nothing to see here\n").err().expect("no traceback");
    assert_eq!(err.code(), pydebug::sys::PYDBG_ENOTFOUND);
    assert!(pydebug::traceback::parse_all(b"").unwrap().is_empty());
}

#[test]
fn traceback_parser_streams_prefixed_logs() {
    let failure = match run_failing_script() {
        Some(failure) => failure,
        None => return,
    };
    let want = read_record(&failure.record);
    let lines: Vec<&str> = failure.stderr.lines().collect();
    let mut log = Vec::new();
    let mut starts = Vec::new();
    for copy in 0..2 {
        log.push(format!("2024-05-01 12:00:0{} INFO service started", copy));
        starts.push(log.len() as u64 + 1);
        for line in &lines {
            log.push(format!("2024-05-01 12:00:0{} ERROR {}", copy, line));
        }
    }
    log.push("2024-05-01 12:00:09 INFO done".to_string());
    let text = log.join("\n") + "\n";
    let mut parser = TracebackParser::new().unwrap();
    let mut found = Vec::new();
    for piece in text.as_bytes().chunks(7) {
        parser.write_all(piece).unwrap();
        found.extend(parser.drain().unwrap());
    }
    parser.finish().unwrap();
    found.extend(parser.drain().unwrap());
    assert_eq!(parser.line_count(), log.len() as u64);
    let err = parser.feed(b"more\n").expect_err("fed after finish");
    assert_eq!(err.code(), pydebug::sys::PYDBG_ESTATE);
    drop(parser); // the tracebacks taken do not depend on it
    assert_eq!(found.len(), 2);
    for (copy, tb) in found.iter().enumerate() {
        assert_eq!(as_recorded(tb), want);
        assert_eq!(tb.start_line(), starts[copy]);
        assert_eq!(tb.end_line(), starts[copy] + lines.len() as u64 - 1);
        assert_eq!(tb.prefix(), format!("2024-05-01 12:00:0{} ERROR ", copy));
    }
}

#[test]
fn snapshot_diff_shows_the_growth() {
    let target = match Target::start() {
        Some(target) => target,
        None => return,
    };
    let mut process = pydebug::Process::attach(target.pid()).unwrap();
    let before = process.snapshot(SnapshotOptions::default()).unwrap();
    let count = target.grow(1);
    let after = process.snapshot(SnapshotOptions::default()).unwrap();
    drop(process); // snapshots do not borrow the process
    let want = pydebug::sys::PYDBG_SNAPSHOT_HAS_MAPPINGS
        | pydebug::sys::PYDBG_SNAPSHOT_HAS_CENSUS
        | pydebug::sys::PYDBG_SNAPSHOT_WAS_PAUSED;
    for snapshot in [&before, &after] {
        assert_eq!(snapshot.pid(), target.pid());
        assert_eq!(snapshot.python_version(), target.python_version);
        assert_eq!(snapshot.contents() & want, want, "{}", snapshot.census_note());
        assert!(snapshot.mappings().count() > 0);
    }
    assert!(after.time_ns() >= before.time_ns());
    let class = target.growth_class.as_str();
    assert!(before.types().all(|t| t.name != class));
    let grown: Vec<_> = after.types().filter(|t| t.name == class).collect();
    assert_eq!(grown.len(), 1, "{:?}", grown);
    assert_eq!(grown[0].tracked_count as i64, count);
    for tracked_only in [false, true] {
        let rows = before.diff(&after, DiffOptions { tracked_only, ..DiffOptions::default() });
        let rows = rows.unwrap();
        let row = rows.iter().find(|r| r.key == class).expect("a row of the grown class");
        assert_eq!((row.count_delta, row.count, row.old_count), (target.growth_step, count, 0));
        assert!(row.size > 0 && row.size_delta == row.size, "{:?}", row);
    }
    // Saved and loaded back, from a file and from bytes: nothing changed.
    let path = target.dir.0.join("after.pydsnap");
    after.save(&path).unwrap();
    let loaded = Snapshot::load(&path).unwrap();
    let copied = Snapshot::from_bytes(&fs::read(&path).unwrap()).unwrap();
    for other in [&loaded, &copied] {
        assert!(other.types().eq(after.types()));
        let rows = after.diff(other, DiffOptions::default()).unwrap();
        assert!(!rows.is_empty());
        assert!(rows.iter().all(|r| r.count_delta == 0 && r.size_delta == 0));
    }
    let by_mapping = DiffOptions { by: DiffBy::Mapping, ..DiffOptions::default() };
    assert!(!before.diff(&after, by_mapping).unwrap().is_empty());
    let err = Snapshot::from_bytes(b"not a snapshot").err().expect("garbage loaded");
    assert_eq!(err.code(), pydebug::sys::PYDBG_EFORMAT);
    assert!(!err.message().is_empty());
    let err = Snapshot::load("/nonexistent/x.pydsnap").err().expect("no file loaded");
    assert_eq!(err.code(), pydebug::sys::PYDBG_EIO);
}
