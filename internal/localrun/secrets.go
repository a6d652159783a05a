package localrun

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"

	"github.com/batonci/baton/internal/jobenv"
	"github.com/batonci/baton/internal/jobspec"
)

// secret is a secret given to a local run: environment variables and
// files, as a Semaphore secret.
type secret struct {
	name  string
	env   []jobspec.Var
	files []jobspec.File
}

// Secrets holds the secrets of one local run, by name. Variables of no
// secret are exported, masked, in every job. The zero value is empty.
type Secrets struct {
	byName  map[string]*secret
	order   []string
	unnamed []jobspec.Var
}

func (s *Secrets) get(name string) *secret {
	if sec, ok := s.byName[name]; ok {
		return sec
	}
	if s.byName == nil {
		s.byName = map[string]*secret{}
	}
	sec := &secret{name: name}
	s.byName[name] = sec
	s.order = append(s.order, name)
	return sec
}

// Add adds v to the secret named name.
func (s *Secrets) Add(name string, v jobspec.Var) {
	sec := s.get(name)
	sec.env = append(sec.env, v)
}

// AddGlobal adds v to every job, as a secret value.
func (s *Secrets) AddGlobal(v jobspec.Var) { s.unnamed = append(s.unnamed, v) }

// AddYAML reads secrets from YAML documents in Semaphore's secret format
// (kind: Secret, metadata.name, data.env_vars, data.files with base64
// content), or from one mapping of secret name to {VAR: value}.
func (s *Secrets) AddYAML(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if doc == nil {
			continue
		}
		if kind, _ := doc["kind"].(string); kind != "" {
			if err := s.addSemaphoreSecret(doc); err != nil {
				return err
			}
			continue
		}
		for name, v := range doc {
			vars, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("secret %q must map variable names to values", name)
			}
			sec := s.get(name)
			for k, val := range vars {
				if !jobenv.Valid(k) {
					return fmt.Errorf("secret %q: %q is not a valid variable name", name, k)
				}
				sec.env = append(sec.env, jobspec.Var{Name: k, Value: fmt.Sprint(val)})
			}
		}
	}
}

func (s *Secrets) addSemaphoreSecret(doc map[string]any) error {
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
		sec.env = append(sec.env, jobspec.Var{Name: k, Value: fmt.Sprint(m["value"])})
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
		sec.files = append(sec.files, jobspec.File{Path: p, Content: raw, Mode: 0o644})
	}
	return nil
}

// masks returns every secret value, variables and files, for masking.
func (s *Secrets) masks() []string {
	var out []string
	for _, v := range s.unnamed {
		out = append(out, v.Value)
	}
	for _, name := range s.order {
		for _, v := range s.byName[name].env {
			out = append(out, v.Value)
		}
	}
	for _, name := range s.order {
		for _, f := range s.byName[name].files {
			out = append(out, string(f.Content))
		}
	}
	return out
}

// lookup returns the variables of the secret named name.
func (s *Secrets) lookup(name string) ([]jobspec.Var, bool, error) {
	sec, ok := s.byName[name]
	if !ok {
		return nil, false, nil
	}
	return sec.env, true, nil
}
