// Package golden reads the golden captures (fingerprint/testdata/golden/
// *.txtar, written by scripts/capture-goldens.sh) for the tests of every
// package: the raw sections in hex, the expected values as "key value"
// lines, and the comment.
package golden

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

// File is one golden capture.
type File struct {
	Name    string // the file name without .txtar
	Comment string
	archive *txtar.Archive
}

// Read parses the golden file at path.
func Read(path string) (*File, error) {
	a, err := txtar.ParseFile(path)
	if err != nil {
		return nil, err
	}
	return &File{Name: strings.TrimSuffix(filepath.Base(path), ".txtar"), Comment: string(a.Comment), archive: a}, nil
}

// Load reads dir/name.txtar or fails the test.
func Load(tb testing.TB, dir, name string) *File {
	tb.Helper()
	f, err := Read(filepath.Join(dir, name+".txtar"))
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// Glob reads every golden file in dir.
func Glob(tb testing.TB, dir string) []*File {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.txtar"))
	if err != nil {
		tb.Fatal(err)
	}
	var out []*File
	for _, p := range paths {
		f, err := Read(p)
		if err != nil {
			tb.Fatalf("%s: %v", p, err)
		}
		out = append(out, f)
	}
	return out
}

// Section returns a section's text, and whether it exists.
func (f *File) Section(name string) ([]byte, bool) {
	for _, s := range f.archive.Files {
		if s.Name == name {
			return s.Data, true
		}
	}
	return nil, false
}

// Hex decodes a hex section (whitespace between digits ignored); nil when
// the section is absent.
func (f *File) Hex(name string) ([]byte, error) {
	data, ok := f.Section(name)
	if !ok {
		return nil, nil
	}
	b, err := hex.DecodeString(strings.Join(strings.Fields(string(data)), ""))
	if err != nil {
		return nil, fmt.Errorf("golden %s: section %s: %w", f.Name, name, err)
	}
	return b, nil
}

// MustHex is Hex that fails the test on a bad or missing section.
func (f *File) MustHex(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := f.Hex(name)
	if err != nil || b == nil {
		tb.Fatalf("golden %s: section %s: %v", f.Name, name, err)
	}
	return b
}

// Values reads a section of "key value" lines (the value runs to the end
// of the line); "source KEY TOOL" provenance lines are left out. nil when
// the section is absent.
func (f *File) Values(name string) map[string]string {
	data, ok := f.Section(name)
	if !ok {
		return nil
	}
	m := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "source ") {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		m[k] = v
	}
	return m
}

// UnstableKeys returns the keys the comment's "unstable-keys:" line lists:
// values that change between connections of the same client (extension
// shuffling, random padding), valid only for the captured hello.
func (f *File) UnstableKeys() map[string]bool {
	keys := map[string]bool{}
	for _, line := range strings.Split(f.Comment, "\n") {
		if rest, ok := strings.CutPrefix(line, "unstable-keys:"); ok {
			list, _, _ := strings.Cut(rest, "(")
			for _, k := range strings.Fields(list) {
				keys[k] = true
			}
		}
	}
	return keys
}
