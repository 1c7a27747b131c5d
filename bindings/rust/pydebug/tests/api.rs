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

// Against the positions the target's interpreter gives each instruction of a function
// (tests/consumers/linetable_truth.py, run by the driver: $PYDEBUG_TEST_LINETABLE_TRUTH).
#[test]
fn linetable_lookup_matches_the_interpreter() {
    let path =
        std::env::var("PYDEBUG_TEST_LINETABLE_TRUTH").expect("$PYDEBUG_TEST_LINETABLE_TRUTH");
    let text = std::fs::read_to_string(path).unwrap();
    let (mut hexversion, mut first_line, mut table) = (0u32, 0i32, Vec::new());
    let mut positions: Vec<[i32; 5]> = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields[0] {
            "hexversion" => hexversion = fields[1].parse().unwrap(),
            "first_line" => first_line = fields[1].parse().unwrap(),
            "table" => {
                let hex = fields.get(1).copied().unwrap_or("");
                table = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect();
            }
            "position" => {
                let mut p = [0i32; 5];
                for (i, v) in fields[1..6].iter().enumerate() {
                    p[i] = v.parse().unwrap();
                }
                positions.push(p);
            }
            _ => panic!("unexpected truth line {:?}", line),
        }
    }
    let format = pydebug::linetable_format_for_version(hexversion).unwrap();
    assert!(!positions.is_empty());
    for p in &positions {
        let got = pydebug::linetable_lookup(format, &table, first_line, p[0]).unwrap();
        let want = pydebug::Position { line: p[1], end_line: p[2], column: p[3], end_column: p[4] };
        assert_eq!(got, want, "offset {}", p[0]);
    }
    let err = pydebug::linetable_format_for_version(0x0100_0000).err().expect("Python 1.0");
    assert_eq!(err.code(), pydebug::sys::PYDBG_EVERSION);
    let err = pydebug::linetable_lookup(99, &[], 1, 0).err().expect("format 99");
    assert_eq!(err.code(), pydebug::sys::PYDBG_EINVAL);
}
