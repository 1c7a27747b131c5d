package pydebug

// Tests of the sampler, the traceback parser and snapshots against Python processes that
// say what they are doing: tests/consumers/target.py ($PYDEBUG_TEST_TARGET, run by
// $PYDEBUG_TEST_TARGET_PYTHON) records its threads and counts what it grows, and a failing
// script records its own traceback with the traceback module.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

type truthFrame struct {
	Function  string `json:"function"`
	Line      int    `json:"line"`
	FirstLine int    `json:"first_line"`
	File      string `json:"file"`
}

type truthThread struct {
	Ident  uint64       `json:"ident"`
	Name   *string      `json:"name"`
	Frames []truthFrame `json:"frames"`
}

type truthRecord struct {
	PID           int           `json:"pid"`
	PythonVersion string        `json:"python_version"`
	Threads       []truthThread `json:"threads"`
}

// targetPython is the Python that runs targets and scripts, and target.py.
func targetPython(t *testing.T) (string, string) {
	python, script := os.Getenv("PYDEBUG_TEST_TARGET_PYTHON"), os.Getenv("PYDEBUG_TEST_TARGET")
	if python == "" || script == "" {
		if os.Getenv("PYDEBUG_TEST_INCLUDE_DIR") != "" {
			t.Fatal("run_consumer.py did not say which target to run")
		}
		t.Skip("PYDEBUG_TEST_TARGET(_PYTHON) is not set")
	}
	return python, script
}

type target struct {
	cmd   *exec.Cmd
	dir   string
	truth truthRecord
}

// startTarget starts a target.py of the test's own; it is killed when the test ends.
//
// Nothing waits for the target while the test runs: the test process is also its tracer
// while a snapshot pauses it, and a wait4() of another goroutine would take the ptrace
// stops that the library waits for (the kernel reports them to any thread of the tracer).
func startTarget(t *testing.T) *target {
	python, script := targetPython(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "truth.json")
	cmd := exec.Command(python, script, path, "--lifetime", "120")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL); _ = cmd.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if err == nil {
			tg := &target{cmd: cmd, dir: dir}
			if err := json.Unmarshal(data, &tg.truth); err != nil {
				t.Fatal(err)
			}
			return tg
		}
		// A zombie has exited; /proc/PID/stat's third field is its state.
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err != nil ||
			strings.Contains(string(stat), ") Z ") {
			t.Fatal("the target exited before recording its threads")
		}
		if time.Now().After(deadline) {
			t.Fatal("the target did not record its threads")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// grow has the target grow (SIGUSR1) and returns the ConsumerGrowth count it reports.
func (tg *target) grow(t *testing.T, sequence int) int64 {
	if err := tg.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(tg.dir, "truth.json.grown")
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if data, err := os.ReadFile(path); err == nil {
			var seq int
			var count int64
			if n, _ := fmt.Sscanf(string(data), "%d %d", &seq, &count); n == 2 && seq == sequence {
				return count
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the target did not grow")
	return 0
}

func TestSamplerFlagsMatchHeader(t *testing.T) {
	include := os.Getenv("PYDEBUG_TEST_INCLUDE_DIR")
	if include == "" {
		t.Skip("PYDEBUG_TEST_INCLUDE_DIR is not set")
	}
	text, err := os.ReadFile(filepath.Join(include, "pydebug", "sample.h"))
	if err != nil {
		t.Fatal(err)
	}
	ours := map[string]SamplerFlags{"THREAD_STATE": SamplerThreadState, "GIL_ONLY": SamplerGILOnly,
		"RUNNING_ONLY": SamplerRunningOnly, "PAUSE": SamplerPause, "GIL": SamplerGIL}
	found := regexp.MustCompile(`PYDBG_SAMPLER_(\w+)\s*=\s*1u\s*<<\s*(\d+)`).FindAllStringSubmatch(string(text), -1)
	if len(found) < 4 {
		t.Fatalf("only %d sampler flags in sample.h", len(found))
	}
	for _, f := range found {
		shift, _ := strconv.Atoi(f[2])
		if v, ok := ours[f[1]]; !ok || v != SamplerFlags(1)<<shift {
			t.Errorf("PYDBG_SAMPLER_%s = 1u << %d: the binding has %d (known: %v)", f[1], shift, v, ok)
		}
	}
}

func TestSamplerMatchesTarget(t *testing.T) {
	tg := startTarget(t)
	p, err := Attach(tg.cmd.Process.Pid, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, err := p.NewSampler(&SamplerOptions{Flags: SamplerGIL | SamplerThreadState})
	if err != nil {
		t.Fatal(err)
	}
	const samples = 40
	torn := 0
	for i := 0; i < samples; i++ {
		threads, err := s.Sample()
		if err != nil {
			t.Fatal(err)
		}
		byIdent := map[uint64]SampleThread{}
		holders := 0
		for _, th := range threads {
			byIdent[th.Ident] = th
			if th.HoldsGIL == 1 {
				holders++
			}
		}
		if holders > 1 {
			t.Errorf("sample %d: %d threads hold the GIL", i, holders)
		}
		for _, want := range tg.truth.Threads {
			got, ok := byIdent[want.Ident]
			if !ok {
				t.Fatalf("sample %d: thread %d missing", i, want.Ident)
			}
			if (want.Name == nil) == got.HasName || (want.Name != nil && *want.Name != got.Name) {
				t.Errorf("thread %d: name %q (%v), want %v", want.Ident, got.Name, got.HasName, want.Name)
			}
			if got.Err != nil {
				if !errors.Is(got.Err, ECORRUPT) || len(got.Frames) != 0 {
					t.Errorf("thread %d: error %v with %d frames", want.Ident, got.Err, len(got.Frames))
				}
				torn++
				continue
			}
			var have []truthFrame
			for _, f := range got.Frames {
				info, err := s.CodeInfo(f.Code)
				if err != nil {
					t.Fatal(err)
				}
				have = append(have, truthFrame{Function: info.Function, Line: f.Line,
					FirstLine: info.FirstLine, File: info.Filename})
			}
			if !reflect.DeepEqual(have, want.Frames) {
				t.Fatalf("thread %d: frames\n%v\nwant\n%v", want.Ident, have, want.Frames)
			}
			// Every thread of the target is blocked in acquire(): asleep in the kernel.
			if got.State != ThreadStateIdle || got.Truncated || (got.HoldsGIL != 0 && got.HoldsGIL != 1) {
				t.Errorf("thread %d: state %d, truncated %v, holds GIL %d", want.Ident, got.State,
					got.Truncated, got.HoldsGIL)
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d", tg.cmd.Process.Pid, got.NativeID)); err != nil {
				t.Errorf("thread %d: native id %d: %v", want.Ident, got.NativeID, err)
			}
		}
	}
	stats := s.Stats()
	if stats.Samples != samples || stats.Torn != uint64(torn) ||
		stats.ThreadSamples < uint64(samples*len(tg.truth.Threads)) || stats.ReadCalls == 0 {
		t.Errorf("stats %+v after %d samples, %d torn", stats, samples, torn)
	}
	if torn > samples*len(tg.truth.Threads)/10 {
		t.Errorf("%d torn thread stacks of blocked threads", torn)
	}
	if _, err := s.CodeInfo(0); !errors.Is(err, ENOTFOUND) {
		t.Errorf("CodeInfo(0): %v, want ENOTFOUND", err)
	}
	// Closing the process first: the sampler keeps the C handle until it is closed.
	p.Close()
	if _, err := p.NewSampler(nil); !errors.Is(err, ESTATE) {
		t.Errorf("NewSampler of a closed process: %v", err)
	}
	if _, err := s.Sample(); err != nil {
		t.Errorf("a sampler of a closed Process: %v", err)
	}
	s.Close()
	s.Close()
	if _, err := s.Sample(); !errors.Is(err, ESTATE) {
		t.Errorf("Sample after Close: %v", err)
	}
}

// failingScript records its own traceback with the traceback module, then dies of it: the
// chain in printed order, each exception's line as format_exception_only() prints it, how
// it follows the previous one, and its frames as extract_tb() gives them.
const failingScript = `
import sys
import traceback


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
            line = traceback.format_exception_only(type(e), e)[-1].rstrip("\n")
            f.write("exception\t%s\t%s\n" % (relation, line))
            for fs in traceback.extract_tb(e.__traceback__):
                f.write("frame\t%s\t%d\t%s\n" % (fs.filename, fs.lineno, fs.name))


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


report("retries")
`

type scriptException struct {
	Relation Relation
	Type     string
	Message  string
	Frames   [][3]string // filename, line, function
}

func runFailingScript(t *testing.T) (string, []scriptException) {
	python, _ := targetPython(t)
	dir := t.TempDir()
	script, record := filepath.Join(dir, "failing.py"), filepath.Join(dir, "record.txt")
	if err := os.WriteFile(script, []byte(failingScript), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, script, record)
	cmd.Env = append(os.Environ(), "PYTHONIOENCODING=utf-8", "NO_COLOR=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatal("the failing script did not fail")
	}
	data, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	relations := map[string]Relation{"none": RelationNone, "cause": RelationCause, "context": RelationContext}
	var chain []scriptException
	for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if f[0] == "exception" {
			kind, message, _ := strings.Cut(f[2], ": ")
			chain = append(chain, scriptException{Relation: relations[f[1]], Type: kind, Message: message})
		} else if len(chain) > 0 {
			chain[len(chain)-1].Frames = append(chain[len(chain)-1].Frames, [3]string{f[1], f[2], f[3]})
		}
	}
	if len(chain) != 3 {
		t.Fatalf("the script recorded %d exceptions: %q", len(chain), data)
	}
	return stderr.String(), chain
}

func checkTraceback(t *testing.T, tb *Traceback, want []scriptException) {
	t.Helper()
	if tb.Kind != KindException || tb.Truncated {
		t.Errorf("kind %v, truncated %v", tb.Kind, tb.Truncated)
	}
	var got []scriptException
	for _, e := range tb.Exceptions {
		se := scriptException{Relation: e.Relation, Type: e.Type, Message: e.Message}
		for _, f := range e.Frames {
			se.Frames = append(se.Frames, [3]string{f.Filename, strconv.Itoa(f.Line), f.Function})
		}
		got = append(got, se)
		if !e.HasType || !e.HasTraceback || e.IsGroup || e.Syntax != nil {
			t.Errorf("exception %q: has type %v, traceback %v, group %v, syntax %v", e.Type,
				e.HasType, e.HasTraceback, e.IsGroup, e.Syntax)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed\n%+v\nthe script says\n%+v", got, want)
	}
}

func TestTracebackMatchesScript(t *testing.T) {
	stderr, want := runFailingScript(t)
	tb, err := ParseTraceback([]byte(stderr))
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	checkTraceback(t, tb, want)
	if lines := uint64(strings.Count(stderr, "\n")); tb.StartLine != 1 || tb.EndLine != lines {
		t.Errorf("lines %d-%d, the text has %d", tb.StartLine, tb.EndLine, lines)
	}
	text, err := tb.Format(FormatText)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimRight(text, "\n") != strings.TrimRight(stderr, "\n") {
		t.Errorf("formatted\n%s\nCPython printed\n%s", text, stderr)
	}
	doc, err := tb.Format(FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Exceptions []struct {
			Type     string  `json:"type"`
			Message  string  `json:"message"`
			Relation *string `json:"relation"`
			Frames   []struct {
				Filename string `json:"filename"`
				Line     int    `json:"line"`
				Function string `json:"function"`
			} `json:"frames"`
		} `json:"exceptions"`
	}
	if err := json.Unmarshal([]byte(doc), &parsed); err != nil {
		t.Fatalf("%v: %s", err, doc)
	}
	if len(parsed.Exceptions) != len(want) {
		t.Fatalf("JSON has %d exceptions: %s", len(parsed.Exceptions), doc)
	}
	names := map[Relation]string{RelationCause: "cause", RelationContext: "context"}
	for i, e := range parsed.Exceptions {
		relation := ""
		if e.Relation != nil {
			relation = *e.Relation
		}
		if e.Type != want[i].Type || e.Message != want[i].Message || relation != names[want[i].Relation] ||
			len(e.Frames) != len(want[i].Frames) {
			t.Errorf("JSON exception %d: %+v, want %+v", i, e, want[i])
			continue
		}
		for j, f := range e.Frames {
			if [3]string{f.Filename, strconv.Itoa(f.Line), f.Function} != want[i].Frames[j] {
				t.Errorf("JSON frame %d of %d: %+v, want %v", j, i, f, want[i].Frames[j])
			}
		}
	}
	tb.Close()
	if _, err := tb.Format(FormatText); !errors.Is(err, ESTATE) {
		t.Errorf("Format after Close: %v", err)
	}
	if _, err := ParseTraceback([]byte("nothing to see\n")); !errors.Is(err, ENOTFOUND) {
		t.Errorf("ParseTraceback of no traceback: %v", err)
	}
}

func TestTracebackParserStreams(t *testing.T) {
	stderr, want := runFailingScript(t)
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	var log []string
	var starts []uint64
	for copy := 0; copy < 2; copy++ {
		log = append(log, fmt.Sprintf("2024-05-01 12:00:0%d INFO service started", copy))
		starts = append(starts, uint64(len(log)+1))
		for _, l := range lines {
			log = append(log, fmt.Sprintf("2024-05-01 12:00:0%d ERROR %s", copy, l))
		}
	}
	log = append(log, "2024-05-01 12:00:09 INFO done")
	text := []byte(strings.Join(log, "\n") + "\n")
	p, err := NewTracebackParser(0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var found []*Traceback
	take := func() {
		for {
			tb, err := p.Next()
			if err != nil {
				t.Fatal(err)
			}
			if tb == nil {
				return
			}
			found = append(found, tb)
		}
	}
	for i := 0; i < len(text); i += 7 {
		end := i + 7
		if end > len(text) {
			end = len(text)
		}
		if _, err := p.Write(text[i:end]); err != nil {
			t.Fatal(err)
		}
		take()
	}
	if err := p.Finish(); err != nil {
		t.Fatal(err)
	}
	take()
	if p.LineCount() != uint64(len(log)) {
		t.Errorf("%d lines counted, %d given", p.LineCount(), len(log))
	}
	if _, err := p.Write([]byte("more\n")); !errors.Is(err, ESTATE) {
		t.Errorf("Write after Finish: %v", err)
	}
	if len(found) != 2 {
		t.Fatalf("%d tracebacks found, want 2", len(found))
	}
	for i, tb := range found {
		checkTraceback(t, tb, want)
		if tb.StartLine != starts[i] || tb.EndLine != starts[i]+uint64(len(lines))-1 {
			t.Errorf("traceback %d: lines %d-%d, want from %d", i, tb.StartLine, tb.EndLine, starts[i])
		}
		if prefix := fmt.Sprintf("2024-05-01 12:00:0%d ERROR ", i); tb.Prefix != prefix {
			t.Errorf("traceback %d: prefix %q, want %q", i, tb.Prefix, prefix)
		}
		tb.Close()
	}
}

func TestSnapshotDiffShowsGrowth(t *testing.T) {
	tg := startTarget(t)
	p, err := Attach(tg.cmd.Process.Pid, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	before, err := p.Snapshot(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	count := tg.grow(t, 1)
	after, err := p.Snapshot(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	for _, s := range []*Snapshot{before, after} {
		info, err := s.Info()
		if err != nil {
			t.Fatal(err)
		}
		want := SnapshotHasMappings | SnapshotHasCensus | SnapshotWasPaused
		if info.PID != tg.cmd.Process.Pid || info.PythonVersion != tg.truth.PythonVersion ||
			info.Contents&want != want {
			t.Errorf("snapshot info %+v", info)
		}
		if m, err := s.Mappings(); err != nil || len(m) == 0 {
			t.Errorf("mappings: %d, %v", len(m), err)
		}
	}
	types, err := after.Types()
	if err != nil {
		t.Fatal(err)
	}
	var grown []TypeEntry
	for _, e := range types {
		if e.Name == "ConsumerGrowth" {
			grown = append(grown, e)
		}
	}
	if len(grown) != 1 || int64(grown[0].TrackedCount) != count {
		t.Errorf("census of ConsumerGrowth: %+v, the target counts %d", grown, count)
	}
	for _, trackedOnly := range []bool{false, true} {
		rows, err := Diff(before, after, &DiffOptions{TrackedOnly: trackedOnly})
		if err != nil {
			t.Fatal(err)
		}
		var row *DiffRow
		for i := range rows {
			if rows[i].Key == "ConsumerGrowth" {
				row = &rows[i]
			}
		}
		if row == nil || row.CountDelta != 1000 || row.Count != count || row.OldCount != 0 ||
			row.Size <= 0 || row.SizeDelta != row.Size {
			t.Errorf("tracked only %v: diff row %+v, the target grew 1000 to %d", trackedOnly, row, count)
		}
	}
	// Saved and loaded back, from a file and from bytes: nothing changed.
	path := filepath.Join(t.TempDir(), "after.pydsnap")
	if err := after.Save(path); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	defer loaded.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copied, err := LoadSnapshotBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	defer copied.Close()
	for _, other := range []*Snapshot{loaded, copied} {
		otherTypes, _ := other.Types()
		if !reflect.DeepEqual(otherTypes, types) {
			t.Errorf("the loaded census differs")
		}
		rows, err := Diff(after, other, nil)
		if err != nil || len(rows) == 0 {
			t.Fatalf("diff with the loaded copy: %d rows, %v", len(rows), err)
		}
		for _, r := range rows {
			if r.CountDelta != 0 || r.SizeDelta != 0 {
				t.Errorf("the loaded copy differs: %+v", r)
			}
		}
	}
	if rows, err := Diff(before, after, &DiffOptions{By: DiffByMapping}); err != nil || len(rows) == 0 {
		t.Errorf("diff by mapping: %d rows, %v", len(rows), err)
	}
	if rows, err := Diff(after, after, nil); err != nil || len(rows) == 0 {
		t.Errorf("diff with itself: %d rows, %v", len(rows), err)
	}
	if _, err := LoadSnapshotBytes([]byte("not a snapshot")); !errors.Is(err, EFORMAT) {
		t.Errorf("LoadSnapshotBytes of garbage: %v", err)
	}
	if _, err := LoadSnapshot("/nonexistent/x.pydsnap"); !errors.Is(err, EIO) {
		t.Errorf("LoadSnapshot of no file: %v", err)
	}
	before.Close()
	if _, err := before.Types(); !errors.Is(err, ESTATE) {
		t.Errorf("Types after Close: %v", err)
	}
}
