// Command dump_stacks prints every thread's Python stack of a running process, or of a
// core file of one: the Go twin of examples/dump_stacks.c.
//
//	usage: dump_stacks PID | --core CORE
package main

import (
	"fmt"
	"os"
	"strconv"

	"example.com/pydebug"
)

func main() {
	var process *pydebug.Process
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "--core":
		process, err = pydebug.OpenCore(os.Args[2], "")
	case len(os.Args) == 2:
		pid, bad := strconv.Atoi(os.Args[1])
		if bad != nil {
			fmt.Fprintf(os.Stderr, "dump_stacks: bad PID %q\n", os.Args[1])
			os.Exit(2)
		}
		process, err = pydebug.Attach(pid, nil)
	default:
		fmt.Fprintf(os.Stderr, "usage: %s PID | --core CORE\n", os.Args[0])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "open: %v\n", err)
		os.Exit(1)
	}
	defer process.Close()
	threads, err := process.Stacks(nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "capture: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("libpydebug %s\n", pydebug.Version())
	fmt.Printf("Python %s\n", process.PythonVersion())
	for _, t := range threads {
		name := t.Name
		if !t.HasName {
			name = "unnamed"
		}
		fmt.Printf("Thread %d (%s):\n", t.Ident, name)
		for _, f := range t.Frames {
			fmt.Printf("  %s (%s:%d)\n", f.Function, f.Filename, f.Line)
		}
		if t.Err != nil {
			fmt.Printf("  ... stopped: %v\n", t.Err)
		}
	}
}
