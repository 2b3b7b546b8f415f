package migrations

import (
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"testing"
)

func TestMigrationsAreNumberedPairs(t *testing.T) {
	// NNNN_name.up.sql or NNNN_name.down.sql, golang-migrate's form.
	fileName := regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.(up|down)\.sql$`)
	files, err := fs.ReadDir(FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	type pair struct{ up, down bool }
	byNumber := map[int]*pair{}
	names := map[int]string{}
	for _, f := range files {
		m := fileName.FindStringSubmatch(f.Name())
		if m == nil {
			t.Errorf("%s: want NNNN_name.up.sql or NNNN_name.down.sql", f.Name())
			continue
		}
		n, _ := strconv.Atoi(m[1])
		if prev, ok := names[n]; ok && prev != m[2] {
			t.Errorf("migration %04d has two names: %s and %s", n, prev, m[2])
		}
		names[n] = m[2]
		if byNumber[n] == nil {
			byNumber[n] = &pair{}
		}
		if m[3] == "up" {
			byNumber[n].up = true
		} else {
			byNumber[n].down = true
		}
		if b, err := fs.ReadFile(FS, f.Name()); err != nil || len(b) == 0 {
			t.Errorf("%s: empty or unreadable (%v)", f.Name(), err)
		}
	}
	if len(byNumber) == 0 {
		t.Fatal("no migrations embedded")
	}
	for n := 1; n <= len(byNumber); n++ {
		t.Run(fmt.Sprintf("%04d", n), func(t *testing.T) {
			p := byNumber[n]
			switch {
			case p == nil:
				t.Errorf("migration %04d missing: numbers must run from 0001 without gaps", n)
			case !p.up:
				t.Errorf("migration %04d has no up file", n)
			case !p.down:
				t.Errorf("migration %04d has no down file", n)
			}
		})
	}
}
