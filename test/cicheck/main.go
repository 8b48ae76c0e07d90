// Command cicheck runs "go test -json" and shows its result as go test
// shows it, keeping the event stream in a file; then, on that file, it
// checks that every required test ran and none was skipped. CI runs both
// (make test, then .ci/run), so a missing tool or privilege turns into a
// failure instead of a quiet SKIP on a green run.
//
//	cicheck run -log FILE -- go test -json ...
//	cicheck required -list .ci/required-tests FILE
//
// The list has one entry per line, "PACKAGE TEST": PACKAGE relative to the
// module (test/e2e), TEST a top-level test name or a path.Match pattern of
// them ("TestInterop*", "*" for every test of the package). '#' starts a
// comment. A required test fails the check when
// it, or one of its subtests, was skipped, or when it did not run at all.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runCmd(os.Args[2:])
	case "required":
		err = requiredCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cicheck:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: cicheck run -log FILE -- go test -json ...\n       cicheck required -list LIST FILE")
	os.Exit(2)
}

// event is one line of "go test -json" (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output and build-fail events
	Test       string
	Output     string
}

func runCmd(args []string) error {
	if len(args) < 4 || args[0] != "-log" || args[2] != "--" {
		usage()
	}
	logFile, command := args[1], args[3:]
	f, err := os.Create(logFile)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdin, cmd.Stderr = os.Stdin, os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	r := newRenderer(os.Stdout)
	rerr := r.read(io.TeeReader(out, f))
	werr := cmd.Wait()
	r.summary()
	if werr != nil {
		return fmt.Errorf("%s: %w", strings.Join(command, " "), werr)
	}
	return rerr
}

// renderer prints a test event stream as go test prints it without -v:
// package result lines, and the whole output of failed tests.
type renderer struct {
	w       io.Writer
	outputs map[string]*strings.Builder // by package and test, until it ends
	skipped []string                    // "package test: reason"
}

func newRenderer(w io.Writer) *renderer {
	return &renderer{w: w, outputs: map[string]*strings.Builder{}}
}

func (r *renderer) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// Not an event (go test writes some errors as text).
			fmt.Fprintln(r.w, sc.Text())
			continue
		}
		r.event(e)
	}
	return sc.Err()
}

func (r *renderer) event(e event) {
	key := e.Package + " " + e.Test
	switch {
	case e.Action == "build-output":
		fmt.Fprint(r.w, e.Output)
	case e.Test == "":
		// Package lines ("ok …", "FAIL …", the shuffle seed, panics
		// outside a test): all of them when the package failed, with
		// the output of tests that never ended (a timeout, a crash);
		// the result line only when it passed.
		b := r.outputs[key]
		switch e.Action {
		case "output":
			if b == nil {
				b = &strings.Builder{}
				r.outputs[key] = b
			}
			b.WriteString(e.Output)
		case "fail":
			delete(r.outputs, key)
			r.flush(e.Package)
			r.print(b)
		case "pass", "skip":
			delete(r.outputs, key)
			if b == nil {
				break
			}
			for _, l := range strings.SplitAfter(b.String(), "\n") {
				if strings.HasPrefix(l, "ok ") || strings.HasPrefix(l, "?") {
					fmt.Fprint(r.w, l)
				}
			}
		}
	case e.Action == "output":
		b := r.outputs[key]
		if b == nil {
			b = &strings.Builder{}
			r.outputs[key] = b
		}
		b.WriteString(e.Output)
	case e.Action == "fail":
		r.print(r.outputs[key])
		delete(r.outputs, key)
	case e.Action == "skip":
		r.skipped = append(r.skipped, e.Package+" "+e.Test+": "+skipReason(r.outputs[key]))
		delete(r.outputs, key)
	case e.Action == "pass":
		delete(r.outputs, key)
	}
}

// print writes a test's output without the lines -v adds ("=== RUN" …).
func (r *renderer) print(b *strings.Builder) {
	if b == nil {
		return
	}
	for _, l := range strings.SplitAfter(b.String(), "\n") {
		if !strings.HasPrefix(l, "=== ") {
			fmt.Fprint(r.w, l)
		}
	}
}

// flush prints the output of every unfinished test of pkg.
func (r *renderer) flush(pkg string) {
	var keys []string
	for k := range r.outputs {
		if strings.HasPrefix(k, pkg+" ") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.print(r.outputs[k])
		delete(r.outputs, k)
	}
}

// skipReason is the message a skipped test logged, or "".
func skipReason(b *strings.Builder) string {
	if b == nil {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(b.String(), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- SKIP") {
			continue
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, " ")
}

func (r *renderer) summary() {
	if len(r.skipped) == 0 {
		return
	}
	fmt.Fprintf(r.w, "\n%d skipped tests:\n", len(r.skipped))
	for _, s := range r.skipped {
		fmt.Fprintln(r.w, "  "+s)
	}
}

func requiredCmd(args []string) error {
	if len(args) != 3 || args[0] != "-list" {
		usage()
	}
	list, err := os.ReadFile(args[1])
	if err != nil {
		return err
	}
	reqs, err := parseRequired(string(list))
	if err != nil {
		return fmt.Errorf("%s: %w", args[1], err)
	}
	f, err := os.Open(args[2])
	if err != nil {
		return err
	}
	defer f.Close()
	results, err := readResults(f)
	if err != nil {
		return fmt.Errorf("%s: %w", args[2], err)
	}
	problems := check(reqs, results)
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d required tests skipped or missing (list: %s)", len(problems), args[1])
	}
	fmt.Printf("cicheck: every required test of %s ran\n", args[1])
	return nil
}

// requirement is one line of the list.
type requirement struct {
	pkg, test string // test: a path.Match pattern
}

func parseRequired(text string) ([]requirement, error) {
	var reqs []requirement
	for i, line := range strings.Split(text, "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		switch len(f) {
		case 0:
			continue
		case 2:
			if _, err := path.Match(f[1], ""); err != nil {
				return nil, fmt.Errorf("line %d: %q: %w", i+1, f[1], err)
			}
			reqs = append(reqs, requirement{pkg: f[0], test: f[1]})
		default:
			return nil, fmt.Errorf("line %d: want \"PACKAGE TEST\", got %q", i+1, line)
		}
	}
	if len(reqs) == 0 {
		return nil, errors.New("no required tests")
	}
	return reqs, nil
}

// results are the final actions (pass, fail, skip) by package and test.
type results map[string]map[string]string

func readResults(in io.Reader) (results, error) {
	res := results{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Test == "" {
			continue
		}
		switch e.Action {
		case "pass", "fail", "skip":
			if res[e.Package] == nil {
				res[e.Package] = map[string]string{}
			}
			res[e.Package][e.Test] = e.Action
		}
	}
	return res, sc.Err()
}

// check returns one line per required test that was skipped (or has a
// skipped subtest) or did not run.
func check(reqs []requirement, res results) []string {
	var problems []string
	for _, q := range reqs {
		tests := res.pkg(q.pkg)
		ran := false
		var skipped []string
		for name, action := range tests {
			top, _, _ := strings.Cut(name, "/")
			if ok, _ := path.Match(q.test, top); !ok {
				continue
			}
			ran = true
			if action == "skip" {
				skipped = append(skipped, name)
			}
		}
		sort.Strings(skipped)
		for _, name := range skipped {
			problems = append(problems, fmt.Sprintf("required test skipped: %s %s", q.pkg, name))
		}
		if !ran {
			problems = append(problems, fmt.Sprintf("required test has no result (not run or not finished): %s %s", q.pkg, q.test))
		}
	}
	return problems
}

// pkg returns the results of the package whose import path is rel or
// ends in "/"+rel.
func (res results) pkg(rel string) map[string]string {
	for path, tests := range res {
		if path == rel || strings.HasSuffix(path, "/"+rel) {
			return tests
		}
	}
	return nil
}
