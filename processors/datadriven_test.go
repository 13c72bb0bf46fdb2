package processors

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// directive is one step of a testdata file.
type directive struct {
	pos       string
	cmd       string
	args      []string
	input     string
	want      string
	wantLines [2]int // the expected output's lines in the file, [from, to)
}

// parseFile reads a testdata file. A comment line (#) or a blank line
// separates directives; the first line of a directive names it, its next
// lines up to "----" are its input, and the lines after, up to a blank
// line, are its expected output. "processors: a b" on the first line names
// the processors the file runs.
func parseFile(t *testing.T, path string) (procs []string, ds []*directive, lines []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		switch {
		case strings.HasPrefix(line, "processors:"):
			procs = strings.Fields(strings.TrimPrefix(line, "processors:"))
			continue
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		}
		f := strings.Fields(line)
		d := &directive{pos: fmt.Sprintf("%s:%d", filepath.Base(path), i+1), cmd: f[0], args: f[1:]}
		var input []string
		for i++; i < len(lines) && lines[i] != "----"; i++ {
			input = append(input, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("%s: no ---- after the directive", d.pos)
		}
		d.input = strings.Join(input, "\n")
		d.wantLines[0] = i + 1
		var want []string
		for i++; i < len(lines) && lines[i] != ""; i++ {
			want = append(want, lines[i])
		}
		d.wantLines[1] = i
		d.want = strings.Join(want, "\n")
		ds = append(ds, d)
	}
	if len(procs) == 0 {
		t.Fatalf("%s: the first line must say which processors run (processors: inventory orders)", path)
	}
	return procs, ds, lines
}

// runFiles runs every testdata file matching glob, each in its own tester.
func runFiles(t *testing.T, glob string) {
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata files %s (%v)", glob, err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			procs, ds, lines := parseFile(t, path)
			r := newRig(t, procs...)
			got := make([]string, len(ds))
			for i, d := range ds {
				got[i] = r.run(d)
				if !*rewrite && got[i] != d.want {
					t.Errorf("%s: %s %s\n%s\n---- got\n%s\n---- want\n%s", d.pos, d.cmd, strings.Join(d.args, " "), d.input, got[i], d.want)
				}
			}
			if *rewrite {
				writeBack(t, path, lines, ds, got)
			}
		})
	}
}

func writeBack(t *testing.T, path string, lines []string, ds []*directive, got []string) {
	var out []string
	next := 0
	for i, d := range ds {
		out = append(out, lines[next:d.wantLines[0]]...)
		if got[i] != "" {
			out = append(out, strings.Split(got[i], "\n")...)
		}
		next = d.wantLines[1]
	}
	out = append(out, lines[next:]...)
	if err := os.WriteFile(path, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
