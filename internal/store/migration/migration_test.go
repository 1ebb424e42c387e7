package migration

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	ok := fstest.MapFS{
		"m/002_more.up.sql":   {Data: []byte("CREATE TABLE b (x int);")},
		"m/002_more.down.sql": {Data: []byte("DROP TABLE b;")},
		"m/001_init.up.sql":   {Data: []byte("CREATE TABLE a (x int);")},
		"m/001_init.down.sql": {Data: []byte("DROP TABLE a;")},
	}
	ms, err := Load(ok, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Version != 1 || ms[0].Name != "init" || ms[1].Version != 2 || ms[1].Down != "DROP TABLE b;" {
		t.Fatalf("Load = %+v", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"bad name":      {"m/init.up.sql": {Data: []byte("x")}},
		"no down file":  {"m/001_init.up.sql": {Data: []byte("x")}},
		"bad direction": {"m/001_init.sideways.sql": {Data: []byte("x")}},
	} {
		if _, err := Load(fsys, "m"); err == nil || !strings.Contains(err.Error(), "migration:") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
