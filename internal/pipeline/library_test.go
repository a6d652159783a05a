package pipeline

import (
	"io/fs"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

const libPipeline = `version: v1.0
name: P
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: B
    task:
      prologue:
        commands_file: "@ops/setup.sh"
      jobs:
        - name: J
          commands_file: "@ops/ci/build"
        - name: K
          commands_file: "@ops/ci/build"
`

func TestLibraryCommandsFile(t *testing.T) {
	repo := fstest.MapFS{".semaphore/semaphore.yml": {Data: []byte(libPipeline)}}
	ops := fstest.MapFS{"setup.sh": {Data: []byte("echo setup\n")}, "ci/build": {Data: []byte("make deps\n\n  make build\r\nmake test\n")}}
	p, diags := LoadWith(repo, ".semaphore/semaphore.yml", Options{Libraries: map[string]fs.FS{"ops": ops}})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	jobs := p.Blocks[0].Task.Jobs
	if got, want := jobs[0].Commands.Commands, []string{"make deps", "  make build", "make test"}; !slices.Equal(got, want) {
		t.Errorf("job commands = %q, want %q", got, want)
	}
	if got := p.Blocks[0].Task.Prologue.Commands; !slices.Equal(got, []string{"echo setup"}) {
		t.Errorf("prologue = %q", got)
	}
	want := []LibraryFile{{"ops", "setup.sh"}, {"ops", "ci/build"}}
	if diff := cmp.Diff(want, p.LibraryFiles); diff != "" {
		t.Errorf("LibraryFiles (-want +got):\n%s", diff)
	}
}

func TestLibraryCommandsFileErrors(t *testing.T) {
	ops := fstest.MapFS{"ci/build": {Data: []byte("make\n")}, "setup.sh": {Data: []byte("echo\n")}}
	for _, tc := range []struct {
		name, ref string
		libs      map[string]fs.FS
		hint      string
		want      string
	}{
		{"missing file", "@ops/ci/nope", map[string]fs.FS{"ops": ops},
			"", `.semaphore/semaphore.yml:15:26: cannot read commands_file "@ops/ci/nope" (ci/nope in library ops): file not found`},
		{"unknown library", "@tools/x", map[string]fs.FS{"ops": ops, "base": ops},
			"", `.semaphore/semaphore.yml:15:26: commands_file "@tools/x": there is no library "tools"; the libraries are base, ops`},
		{"no library", "@tools/x", map[string]fs.FS{}, "give one with --library NAME=DIR",
			`.semaphore/semaphore.yml:15:26: commands_file "@tools/x": there is no library "tools"; no library is available (give one with --library NAME=DIR)`},
		{"outside", "@ops/../x", map[string]fs.FS{"ops": ops},
			"", `.semaphore/semaphore.yml:15:26: commands_file "@ops/../x": a library file is written "@NAME/path/to/file"`},
		{"no path", "@ops", map[string]fs.FS{"ops": ops},
			"", `.semaphore/semaphore.yml:15:26: commands_file "@ops": a library file is written "@NAME/path/to/file"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := []byte(libPipeline[:len(libPipeline)-len("\"@ops/ci/build\"\n")] + `"` + tc.ref + "\"\n")
			repo := fstest.MapFS{".semaphore/semaphore.yml": {Data: src}}
			_, diags := LoadWith(repo, ".semaphore/semaphore.yml", Options{Libraries: tc.libs, LibraryHint: tc.hint})
			// The last diagnostic is the reference under test.
			if len(diags) == 0 || diags[len(diags)-1].String() != tc.want {
				t.Errorf("diagnostics = %v, want %s", diags, tc.want)
			}
		})
	}
}
