package ci

import (
	"fmt"
	"regexp"
	"strings"
)

// GlobalTool is a tool the organisation has every job get on its PATH
// (baton tools set): an npm package or a Go command, installed once per
// agent in its tool cache.
type GlobalTool struct {
	// Kind is "npm" or "go".
	Kind string `json:"kind"`
	// Name is the npm package ("serverless", "@scope/pkg") or the Go
	// package path of the command.
	Name string `json:"name"`
	// Version is a version prefix ("3"), an exact version, or "latest".
	Version string `json:"version"`
}

func (t GlobalTool) String() string { return t.Name + "@" + t.Version }

var (
	npmPackageName = regexp.MustCompile(`^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$`)
	goPackagePath  = regexp.MustCompile(`^[a-z0-9.-]+\.[a-z]+(/[A-Za-z0-9._~+-]+)+$`)
	toolVersion    = regexp.MustCompile(`^v?[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$`)
)

// ParseGlobalTool parses NAME@VERSION (VERSION defaults to latest); kind
// is "npm", "go" or "" (a name whose first path element has a dot is a
// Go command, other names are npm packages).
func ParseGlobalTool(spec, kind string) (GlobalTool, error) {
	name, version := spec, "latest"
	if i := strings.LastIndex(spec, "@"); i > 0 {
		name, version = spec[:i], spec[i+1:]
	}
	if kind == "" {
		kind = "npm"
		if strings.Contains(strings.Split(name, "/")[0], ".") {
			kind = "go"
		}
	}
	t := GlobalTool{Kind: kind, Name: name, Version: version}
	switch kind {
	case "npm":
		if !npmPackageName.MatchString(name) || len(name) > 214 {
			return t, fmt.Errorf("%q is not an npm package name", name)
		}
	case "go":
		if !goPackagePath.MatchString(name) || strings.Contains(name, "..") {
			return t, fmt.Errorf("%q is not a Go package path", name)
		}
	default:
		return t, fmt.Errorf("tool kind %q: want npm or go", kind)
	}
	if !toolVersion.MatchString(version) {
		return t, fmt.Errorf("%q is not a version (want a version such as 3, 1.22.5, v0.20.0 or latest)", version)
	}
	return t, nil
}
