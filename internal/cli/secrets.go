package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/batonci/baton/internal/jobenv"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/localrun"
)

// localSecrets reads the secrets of `baton run` from its --secrets-file
// and --secret flags, in that order.
func localSecrets(files, flags []string) (*localrun.Secrets, error) {
	s := &localrun.Secrets{}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--secrets-file: %w", err)
		}
		if err := s.AddYAML(data); err != nil {
			return nil, fmt.Errorf("--secrets-file %s: %w", path, err)
		}
	}
	for _, arg := range flags {
		if err := addSecretFlag(s, arg); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// addSecretFlag parses "SECRET:VAR=VALUE" or "VAR=VALUE".
func addSecretFlag(s *localrun.Secrets, arg string) error {
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
	v := jobspec.Var{Name: name, Value: value}
	if named {
		s.Add(secret, v)
	} else {
		s.AddGlobal(v)
	}
	return nil
}
