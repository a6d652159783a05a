package jobspec

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// wireJob is a Job as agents receive it and as the server stores it
// (jobs.spec): its JSON names are part of the agent protocol and of the
// stored rows, so renaming a field breaks agents and existing jobs.
const wireJob = `{
  "name": "test",
  "commands": ["checkout", "make test"],
  "epilogue_always": ["echo always"],
  "epilogue_on_pass": ["echo passed"],
  "epilogue_on_fail": ["echo failed"],
  "env": [{"name": "CI", "value": "true"}],
  "files": [{"path": ".ssh/key", "content": "c2VjcmV0", "mode": 384}],
  "secrets": ["secret"],
  "notices": ["secret \"x\" withheld"],
  "time_limit": 60000000000,
  "dir": "/home/job",
  "base_env": ["HOME=/home/job"],
  "init": "export X=1",
  "containers": [{"name": "main", "image": "debian:12", "command": "sleep 1", "entrypoint": "/bin/sh", "user": "1000", "env": ["A=1"]}],
  "mounts": [{"path": "/opt/baton", "read_only": true}],
  "pull_policy": "always",
  "pull_credentials": [{"registry": "registry.example", "username": "u", "password": "p"}],
  "id": "job-1",
  "debug": true,
  "keep_on_failure": 300000000000
}`

func TestJobWireFormat(t *testing.T) {
	want := Job{
		Name:            "test",
		Commands:        []string{"checkout", "make test"},
		EpilogueAlways:  []string{"echo always"},
		EpilogueOnPass:  []string{"echo passed"},
		EpilogueOnFail:  []string{"echo failed"},
		Env:             []Var{{Name: "CI", Value: "true"}},
		Files:           []File{{Path: ".ssh/key", Content: []byte("secret"), Mode: 0o600}},
		Secrets:         []string{"secret"},
		Notices:         []string{`secret "x" withheld`},
		TimeLimit:       time.Minute,
		Dir:             "/home/job",
		BaseEnv:         []string{"HOME=/home/job"},
		Init:            "export X=1",
		Containers:      []Container{{Name: "main", Image: "debian:12", Command: "sleep 1", Entrypoint: "/bin/sh", User: "1000", Env: []string{"A=1"}}},
		Mounts:          []Mount{{Path: "/opt/baton", ReadOnly: true}},
		PullPolicy:      "always",
		PullCredentials: []RegistryCredential{{Registry: "registry.example", Username: "u", Password: "p"}},
		ID:              "job-1",
		Debug:           true,
		KeepOnFailure:   5 * time.Minute,
	}
	var got Job
	dec := json.NewDecoder(bytes.NewReader([]byte(wireJob)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
	}
	enc, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(wireJob)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, compact.Bytes()) {
		t.Errorf("encoded\n%s\nwant\n%s", enc, compact.Bytes())
	}
	// Every field is in the sample, so a new field must be added to it.
	if n := reflect.TypeOf(Job{}).NumField(); n != 20 {
		t.Errorf("Job has %d fields; add the new ones to wireJob", n)
	}
}

func TestPseudo(t *testing.T) {
	for d, want := range map[string]bool{DirectiveExportEnv: true, DirectiveInjectFiles: true, "make test": false, "": false} {
		if Pseudo(d) != want {
			t.Errorf("Pseudo(%q) = %v", d, !want)
		}
	}
}
