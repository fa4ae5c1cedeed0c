package profile

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

func TestProfiles(t *testing.T) {
	dir := t.TempDir()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	f := Register(fs)
	cpu, heap := filepath.Join(dir, "cpu"), filepath.Join(dir, "heap")
	if err := fs.Parse([]string{"-cpuprofile", cpu}); err != nil {
		t.Fatal(err)
	}
	stop := f.Start()
	if err := WriteHeap(heap); err != nil {
		t.Fatal(err)
	}
	stop()
	for _, file := range []string{cpu, heap} {
		if fi, err := os.Stat(file); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v, %v", file, fi, err)
		}
	}
}
