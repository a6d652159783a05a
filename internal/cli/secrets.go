package cli

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/batonci/baton/internal/jobenv"
	"github.com/batonci/baton/internal/jobspec"
)

// localSecret is a secret given to `baton run` on the command line or in a
// secrets file: environment variables and files, as a Semaphore secret.
type localSecret struct {
	Name  string
	Env   []jobspec.Var
	Files []secretFile
}

type secretFile struct {
	Path    string
	Content []byte
}

// localSecrets holds the secrets of one `baton run`, by name. Unnamed
// variables (`--secret VAR=VALUE`) are exported, masked, in every job.
type localSecrets struct {
	byName  map[string]*localSecret
	order   []string
	unnamed []jobspec.Var
}

func newLocalSecrets() *localSecrets { return &localSecrets{byName: map[string]*localSecret{}} }

func (s *localSecrets) get(name string) *localSecret {
	if sec, ok := s.byName[name]; ok {
		return sec
	}
	sec := &localSecret{Name: name}
	s.byName[name] = sec
	s.order = append(s.order, name)
	return sec
}

// addFlag parses "SECRET:VAR=VALUE" or "VAR=VALUE".
func (s *localSecrets) addFlag(arg string) error {
	kv, value, ok := strings.Cut(arg, "=")
	if !ok {
		return fmt.Errorf("--secret %q: want SECRET:VAR=VALUE or VAR=VALUE", arg)
	}
	secret, name, named := strings.Cut(kv, ":")
	if !named {
		name = secret
	}
	if !jobenv.Valid(name) {
		return fmt.Errorf("--secret %q: %q is not a valid environment variable name", arg, name)
	}
	if !named {
		s.unnamed = append(s.unnamed, jobspec.Var{Name: name, Value: value})
		return nil
	}
	sec := s.get(secret)
	sec.Env = append(sec.Env, jobspec.Var{Name: name, Value: value})
	return nil
}

// addFile reads a secrets file: YAML documents in Semaphore's secret format
// (kind: Secret, metadata.name, data.env_vars, data.files with base64
// content), or one mapping of secret name to {VAR: value}.
func (s *localSecrets) addFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--secrets-file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("--secrets-file %s: %w", path, err)
		}
		if doc == nil {
			continue
		}
		if kind, _ := doc["kind"].(string); kind != "" {
			if err := s.addSemaphoreSecret(doc); err != nil {
				return fmt.Errorf("--secrets-file %s: %w", path, err)
			}
			continue
		}
		for name, v := range doc {
			vars, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("--secrets-file %s: secret %q must map variable names to values", path, name)
			}
			sec := s.get(name)
			for k, val := range vars {
				if !jobenv.Valid(k) {
					return fmt.Errorf("--secrets-file %s: secret %q: %q is not a valid variable name", path, name, k)
				}
				sec.Env = append(sec.Env, jobspec.Var{Name: k, Value: fmt.Sprint(val)})
			}
		}
	}
}

func (s *localSecrets) addSemaphoreSecret(doc map[string]any) error {
	meta, _ := doc["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if name == "" {
		return errors.New("secret without metadata.name")
	}
	sec := s.get(name)
	data, _ := doc["data"].(map[string]any)
	envs, _ := data["env_vars"].([]any)
	for _, e := range envs {
		m, _ := e.(map[string]any)
		k, _ := m["name"].(string)
		if !jobenv.Valid(k) {
			return fmt.Errorf("secret %q: %q is not a valid variable name", name, k)
		}
		sec.Env = append(sec.Env, jobspec.Var{Name: k, Value: fmt.Sprint(m["value"])})
	}
	files, _ := data["files"].([]any)
	for _, f := range files {
		m, _ := f.(map[string]any)
		p, _ := m["path"].(string)
		content, _ := m["content"].(string)
		raw, err := base64.StdEncoding.DecodeString(content)
		if err != nil {
			return fmt.Errorf("secret %q: file %q: content is not base64: %w", name, p, err)
		}
		sec.Files = append(sec.Files, secretFile{Path: p, Content: raw})
	}
	return nil
}

// values returns every secret value, for masking.
func (s *localSecrets) values() []string {
	var out []string
	for _, v := range s.unnamed {
		out = append(out, v.Value)
	}
	for _, name := range s.order {
		for _, v := range s.byName[name].Env {
			out = append(out, v.Value)
		}
	}
	return out
}
