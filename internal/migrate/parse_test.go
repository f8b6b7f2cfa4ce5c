package migrate

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func mapFS(names ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, n := range names {
		fsys["sql/"+n] = &fstest.MapFile{Data: []byte("-- " + n + "\nSELECT 1;")}
	}
	return fsys
}

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		files    []string
		versions []int
		names    []string
	}{
		{
			name:     "numeric order, not lexical",
			files:    []string{"10_ten.sql", "2_two.sql", "1_one.sql"},
			versions: []int{1, 2, 10},
			names:    []string{"1_one.sql", "2_two.sql", "10_ten.sql"},
		},
		{
			name:     "zero padded",
			files:    []string{"0003_c.sql", "0001_a.sql", "0002_b.sql"},
			versions: []int{1, 2, 3},
			names:    []string{"0001_a.sql", "0002_b.sql", "0003_c.sql"},
		},
		{
			name:     "non-sql files ignored",
			files:    []string{"0001_a.sql", "README.md", "0002_b.sql.bak", "notes.txt", "0003_c.SQL"},
			versions: []int{1},
			names:    []string{"0001_a.sql"},
		},
		{
			name:     "underscores after the number",
			files:    []string{"0001_create_users_table.sql"},
			versions: []int{1},
			names:    []string{"0001_create_users_table.sql"},
		},
		{
			name:  "empty folder",
			files: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := mapFS(tt.files...)
			if len(tt.files) == 0 {
				fsys["sql"] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
			}
			ms, err := parse(fsys, "sql")
			if err != nil {
				t.Fatalf("parse(%v) error: %v", tt.files, err)
			}
			var versions []int
			var names []string
			for _, m := range ms {
				versions = append(versions, m.Version)
				names = append(names, m.Name)
				if want := "-- " + m.Name + "\nSELECT 1;"; m.SQL != want {
					t.Errorf("parse(%v): %s SQL = %q; want %q", tt.files, m.Name, m.SQL, want)
				}
			}
			if !slices.Equal(versions, tt.versions) {
				t.Errorf("parse(%v) versions = %v; want %v", tt.files, versions, tt.versions)
			}
			if !slices.Equal(names, tt.names) {
				t.Errorf("parse(%v) names = %v; want %v", tt.files, names, tt.names)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		// wantIn are substrings the error must contain.
		wantIn []string
	}{
		{"no number", []string{"0001_a.sql", "extensions.sql"}, []string{"extensions.sql"}},
		{"no underscore", []string{"0001.sql"}, []string{"0001.sql"}},
		{"dash instead of underscore", []string{"0001-a.sql"}, []string{"0001-a.sql"}},
		{"name before number", []string{"a_0001.sql"}, []string{"a_0001.sql"}},
		{"leading underscore", []string{"_a.sql"}, []string{"_a.sql"}},
		{"zero version", []string{"0000_a.sql"}, []string{"0000_a.sql"}},
		{"negative version", []string{"-1_a.sql"}, []string{"-1_a.sql"}},
		{"duplicate version", []string{"0001_a.sql", "1_b.sql"}, []string{"0001_a.sql", "1_b.sql", "version 1"}},
		{"duplicate among others", []string{"0001_a.sql", "0002_b.sql", "0002_c.sql"}, []string{"0002_b.sql", "0002_c.sql"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := parse(mapFS(tt.files...), "sql")
			if err == nil {
				t.Fatalf("parse(%v) = %d migrations, nil error; want an error", tt.files, len(ms))
			}
			for _, w := range tt.wantIn {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("parse(%v) error %q; want it to mention %q", tt.files, err, w)
				}
			}
		})
	}
}

func TestParseMissingDir(t *testing.T) {
	if _, err := parse(fstest.MapFS{}, "sql"); err == nil {
		t.Error("parse of a missing folder = nil error; want an error")
	}
}

func TestAllEmbedded(t *testing.T) {
	ms, err := All()
	if err != nil {
		t.Fatalf("All() error: %v", err)
	}
	if len(ms) == 0 {
		t.Fatal("All() = no migrations; want the embedded sql/*.sql files")
	}
	if ms[0].Name != "0001_extensions.sql" || ms[0].Version != 1 {
		t.Errorf("All()[0] = %d %q; want 1 %q", ms[0].Version, ms[0].Name, "0001_extensions.sql")
	}
	if !strings.Contains(ms[0].SQL, "CREATE EXTENSION IF NOT EXISTS vector") {
		t.Errorf("All()[0].SQL = %q; want it to create the vector extension", ms[0].SQL)
	}
	for i := 1; i < len(ms); i++ {
		if ms[i].Version <= ms[i-1].Version {
			t.Errorf("All() versions not increasing: %s (%d) after %s (%d)", ms[i].Name, ms[i].Version, ms[i-1].Name, ms[i-1].Version)
		}
	}
	for _, m := range ms {
		if strings.TrimSpace(m.SQL) == "" {
			t.Errorf("All(): %s is empty", m.Name)
		}
	}
}
