//! Tests of the wrapper against the library it links (run by tests/consumers). Ground
//! truth comes from outside the binding: the installed header's PYDBG_ERROR_LIST (through
//! $PYDEBUG_TEST_INCLUDE_DIR) and the operating system (a PID that has exited, a process
//! that is not Python).
use std::process::Command;

#[test]
fn version_is_the_expected_one() {
    let n = pydebug::version_number();
    assert_eq!(pydebug::version(), format!("{}.{}.{}", n / 10000, n / 100 % 100, n % 100));
    assert_eq!(n / 100, pydebug::sys::PYDBG_VERSION_NUMBER / 100, "library vs declarations");
    if let Ok(expected) = std::env::var("PYDEBUG_TEST_EXPECT_VERSION") {
        assert_eq!(pydebug::version(), expected);
    }
}

/// (name, code, description) of every X(NAME, code, "description") in errors.h.
fn header_errors(text: &str) -> Vec<(String, i32, String)> {
    let mut out = Vec::new();
    for chunk in text.split("X(").skip(1) {
        let mut parts = chunk.splitn(3, ',');
        let (name, code, rest) = match (parts.next(), parts.next(), parts.next()) {
            (Some(n), Some(c), Some(r)) => (n.trim(), c.trim(), r),
            _ => continue,
        };
        let code = match code.parse::<i32>() {
            Ok(code) => code,
            Err(_) => continue, // the macro's own parameter list, X(NAME, value, description)
        };
        let description = rest.split('"').nth(1).unwrap_or("").to_string();
        out.push((name.to_string(), code, description));
    }
    out
}

#[test]
fn error_table_matches_the_header() {
    let include = match std::env::var("PYDEBUG_TEST_INCLUDE_DIR") {
        Ok(dir) => dir,
        Err(_) => {
            eprintln!("PYDEBUG_TEST_INCLUDE_DIR is not set: skipped");
            return;
        }
    };
    let text = std::fs::read_to_string(format!("{}/pydebug/errors.h", include)).unwrap();
    let errors = header_errors(&text);
    assert!(errors.len() > 10, "{:?}", errors);
    let ours: Vec<(String, i32)> =
        pydebug::sys::PYDBG_ERRORS.iter().map(|(c, n)| (n.to_string(), *c)).collect();
    let theirs: Vec<(String, i32)> = errors.iter().map(|(n, c, _)| (n.clone(), *c)).collect();
    assert_eq!(ours, theirs);
    for (_, code, description) in &errors {
        assert_eq!(&pydebug::strerror(*code), description);
    }
}

#[test]
fn attach_to_an_exited_process_is_enoproc() {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id() as i32;
    child.wait().unwrap();
    let err = pydebug::Process::attach(pid).err().expect("attached to a dead process");
    assert_eq!(err.code(), pydebug::sys::PYDBG_ENOPROC);
    assert_eq!(err.name(), "ENOPROC");
    assert!(!err.message().is_empty());
}

#[test]
fn attach_to_a_non_python_process_is_enotpython() {
    let mut child = Command::new("sleep").arg("60").spawn().unwrap();
    let result = pydebug::Process::attach(child.id() as i32);
    child.kill().unwrap();
    child.wait().unwrap();
    let err = result.err().expect("attached to sleep(1) as if it were Python");
    assert_eq!(err.code(), pydebug::sys::PYDBG_ENOTPYTHON, "{}", err);
}

// The core file itself is checked in tests/consumers (dump_stacks --core); here, files
// that are not one.
#[test]
fn open_core_of_a_missing_or_garbage_file_fails() {
    let err = pydebug::Process::open_core("/nonexistent/core", None)
        .err()
        .expect("opened a core file that does not exist");
    assert_eq!(err.code(), pydebug::sys::PYDBG_ENOTFOUND, "{}", err);
    let garbage = std::env::temp_dir().join(format!("pydebug-garbage-{}", std::process::id()));
    std::fs::write(&garbage, b"not an ELF core file\n").unwrap();
    let result = pydebug::Process::open_core(&garbage, None);
    std::fs::remove_file(&garbage).unwrap();
    let err = result.err().expect("opened garbage as a core file");
    assert_eq!(err.code(), pydebug::sys::PYDBG_EFORMAT, "{}", err);
    assert!(!err.message().is_empty());
}
