// Command dump_stacks prints every thread's Python stack of a running process: the Go
// twin of examples/dump_stacks.c.
//
//	usage: dump_stacks PID
package main

import (
	"fmt"
	"os"
	"strconv"

	"example.com/pydebug"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintf(os.Stderr, "usage: %s PID\n", os.Args[0])
		os.Exit(2)
	}
	pid, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "dump_stacks: bad PID %q\n", os.Args[1])
		os.Exit(2)
	}
	process, err := pydebug.Attach(pid, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "attach: %v\n", err)
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
