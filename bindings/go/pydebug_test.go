package pydebug

// Tests of the binding against the library it links (run by tests/consumers). Ground
// truth comes from outside the binding: the installed header's PYDBG_ERROR_LIST (through
// $PYDEBUG_TEST_INCLUDE_DIR) and the operating system (a PID that has exited, a process
// that is not Python).

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	n := VersionNumber()
	if want := fmt.Sprintf("%d.%d.%d", n/10000, n/100%100, n%100); Version() != want {
		t.Fatalf("Version() = %q, VersionNumber() = %d", Version(), n)
	}
	if want := os.Getenv("PYDEBUG_TEST_EXPECT_VERSION"); want != "" && Version() != want {
		t.Fatalf("Version() = %q, want %q", Version(), want)
	}
}

func TestErrorTableMatchesHeader(t *testing.T) {
	include := os.Getenv("PYDEBUG_TEST_INCLUDE_DIR")
	if include == "" {
		t.Skip("PYDEBUG_TEST_INCLUDE_DIR is not set")
	}
	text, err := os.ReadFile(filepath.Join(include, "pydebug", "errors.h"))
	if err != nil {
		t.Fatal(err)
	}
	entries := regexp.MustCompile(`X\((\w+),\s*(-?\d+),\s*"([^"]*)"\)`).FindAllStringSubmatch(string(text), -1)
	if len(entries) <= 10 {
		t.Fatalf("only %d entries in PYDBG_ERROR_LIST", len(entries))
	}
	if len(entries) != len(codeNames) {
		t.Errorf("the header has %d codes, the binding %d", len(entries), len(codeNames))
	}
	for _, e := range entries {
		value, _ := strconv.Atoi(e[2])
		code := Code(value)
		if code.Name() != e[1] {
			t.Errorf("code %d: binding says %s, header %s", value, code.Name(), e[1])
		}
		if code.Error() != e[3] {
			t.Errorf("code %d: strerror %q, header %q", value, code.Error(), e[3])
		}
	}
}

func TestAttachExitedProcess(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	p, err := Attach(cmd.Process.Pid, nil)
	if err == nil {
		p.Close()
		t.Fatal("attached to a process that has exited")
	}
	var e *Error
	if !errors.Is(err, ENOPROC) || !errors.As(err, &e) || e.Message == "" {
		t.Fatalf("got %#v, want ENOPROC with a message", err)
	}
}

func TestAttachNonPython(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	p, err := Attach(cmd.Process.Pid, nil)
	if err == nil {
		p.Close()
		t.Fatal("attached to sleep(1) as if it were Python")
	}
	if !errors.Is(err, ENOTPYTHON) {
		t.Fatalf("got %v, want ENOTPYTHON", err)
	}
}

// The core file itself is checked in tests/consumers (dump_stacks --core); here, files
// that are not one.
func TestOpenCoreErrors(t *testing.T) {
	if p, err := OpenCore("/nonexistent/core", ""); err == nil || !errors.Is(err, ENOTFOUND) {
		if p != nil {
			p.Close()
		}
		t.Fatalf("missing core: got %v, want ENOTFOUND", err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage")
	if err := os.WriteFile(garbage, []byte("not an ELF core file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := OpenCore(garbage, "")
	var e *Error
	if err == nil || !errors.Is(err, EFORMAT) || !errors.As(err, &e) || e.Message == "" {
		if p != nil {
			p.Close()
		}
		t.Fatalf("garbage: got %v, want EFORMAT with a message", err)
	}
}

// Against the positions the target's interpreter gives each instruction of a function
// (tests/consumers/linetable_truth.py, run by the driver: $PYDEBUG_TEST_LINETABLE_TRUTH).
func TestLinetableLookupMatchesTheInterpreter(t *testing.T) {
	data, err := os.ReadFile(os.Getenv("PYDEBUG_TEST_LINETABLE_TRUTH"))
	if err != nil {
		t.Fatalf("the line table truth ($PYDEBUG_TEST_LINETABLE_TRUTH): %v", err)
	}
	var hexversion uint64
	var firstLine int
	var table []byte
	var positions [][5]int
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		fields := strings.Fields(line)
		switch fields[0] {
		case "hexversion":
			hexversion, err = strconv.ParseUint(fields[1], 10, 32)
		case "first_line":
			firstLine, err = strconv.Atoi(fields[1])
		case "table":
			if len(fields) > 1 {
				table, err = hex.DecodeString(fields[1])
			}
		case "position":
			var p [5]int
			for i := range p {
				if p[i], err = strconv.Atoi(fields[1+i]); err != nil {
					break
				}
			}
			positions = append(positions, p)
		}
		if err != nil {
			t.Fatalf("truth line %q: %v", line, err)
		}
	}
	format, err := LinetableFormatForVersion(uint32(hexversion))
	if err != nil {
		t.Fatal(err)
	}
	if len(positions) == 0 {
		t.Fatal("no positions in the truth file")
	}
	for _, p := range positions {
		got, err := LinetableLookup(format, table, firstLine, p[0])
		want := Position{p[1], p[2], p[3], p[4]}
		if err != nil || got != want {
			t.Errorf("offset %d: got %+v (%v), want %+v", p[0], got, err, want)
		}
	}
	if _, err := LinetableFormatForVersion(0x01000000); !errors.Is(err, EVERSION) {
		t.Errorf("Python 1.0: got %v, want EVERSION", err)
	}
	if _, err := LinetableLookup(99, nil, 1, 0); !errors.Is(err, EINVAL) {
		t.Errorf("format 99: got %v, want EINVAL", err)
	}
}
