package toolsource

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"

	"github.com/batonci/baton/internal/toolcache"
)

// Request asks for a language version or a tool.
type Request struct {
	// Kind is "lang" (Name is a language), "npm" or "go" (Name is an npm
	// package or a Go package path).
	Kind    string
	Name    string
	Version string
}

// Result is what a job gets: the directories to put on its PATH.
type Result struct {
	Name, Version string
	Bin           []string
	// Installed says the entry was installed for this request (it was
	// not in the cache).
	Installed        bool
	Source, Verified string
}

// Languages lists the languages with a source, for messages.
var Languages = []string{"go", "node"}

// Provider provides tools from an agent's cache, installing what is
// missing from the sources.
type Provider struct {
	Cache    *toolcache.Cache
	Go       *Go
	Node     *Node
	NPM      *NPM
	GoTool   *GoTool
	OS, Arch string
}

// Provide returns req's entry, from the cache when a matching version is
// there (no network), else resolved and installed. The entry is held
// until release is called.
func (p *Provider) Provide(ctx context.Context, req Request, progress io.Writer) (Result, func(), error) {
	switch req.Kind {
	case "lang":
		switch req.Name {
		case "go":
			return p.provide(ctx, "go", req.Version,
				func() (string, error) { return p.Go.Resolve(ctx, req.Version, p.OS, p.Arch) },
				func(v string) toolcache.Installer { return p.Go.Installer(v, p.OS, p.Arch, progress) }, "")
		case "node":
			return p.provide(ctx, "node", req.Version,
				func() (string, error) { return p.Node.Resolve(ctx, req.Version, p.OS, p.Arch) },
				func(v string) toolcache.Installer { return p.Node.Installer(v, p.OS, p.Arch, progress) }, "")
		}
		return Result{}, func() {}, &UnknownError{What: "language with a source", Name: req.Name, Available: Languages}
	case "npm":
		if err := CheckNPMName(req.Name); err != nil {
			return Result{}, func() {}, err
		}
		nodeBin, release := p.newest("node")
		defer release()
		r, rel, err := p.provide(ctx, "npm:"+req.Name, req.Version,
			func() (string, error) { return p.NPM.Resolve(ctx, req.Name, req.Version) },
			func(v string) toolcache.Installer { return p.NPM.Installer(req.Name, v, nodeBin, progress) }, nodeBin)
		return r, rel, err
	case "go":
		goBin, release := p.newest("go")
		defer release()
		return p.provide(ctx, "go:"+req.Name, req.Version,
			func() (string, error) { return p.GoTool.Resolve(ctx, req.Name, req.Version) },
			func(v string) toolcache.Installer { return p.GoTool.Installer(req.Name, v, goBin, progress) }, "")
	}
	return Result{}, func() {}, &Refused{Msg: fmt.Sprintf("unknown kind of tool %q: want lang, npm or go", req.Kind)}
}

// newest returns the bin directory of the newest cached version of lang
// when the machine has no such command ("" when it has, or none is
// cached), held until release.
func (p *Provider) newest(lang string) (string, func()) {
	if _, err := exec.LookPath(lang); err == nil {
		return "", func() {}
	}
	vs := p.Cache.Versions(lang, p.OS, p.Arch)
	v := Highest("", vs)
	if v == "" {
		return "", func() {}
	}
	k := toolcache.Key{Name: lang, Version: v, OS: p.OS, Arch: p.Arch}
	release := p.Cache.Hold(k)
	e, ok := p.Cache.Lookup(k)
	if !ok || len(e.Bin) == 0 {
		release()
		return "", func() {}
	}
	return e.BinDirs()[0], release
}

// provide is Provide for one cache name: a cached version matching want,
// else resolve's version installed.
func (p *Provider) provide(ctx context.Context, name, want string, resolve func() (string, error), installer func(string) toolcache.Installer, extraBin string) (Result, func(), error) {
	if p.Cache == nil {
		return Result{}, func() {}, fmt.Errorf("this agent has no tool cache")
	}
	want = strings.TrimSpace(want)
	if strings.ContainsAny(want, " /\\\x00") || len(want) > 64 {
		return Result{}, func() {}, &Refused{Msg: fmt.Sprintf("%q is not a version", want)}
	}
	v := ""
	if want != "" && want != "latest" {
		v = Highest(want, p.Cache.Versions(name, p.OS, p.Arch))
	}
	if v == "" {
		var err error
		if v, err = resolve(); err != nil {
			return Result{}, func() {}, err
		}
	}
	k := toolcache.Key{Name: name, Version: v, OS: p.OS, Arch: p.Arch}
	e, installed, release, err := p.Cache.Ensure(ctx, k, installer(v))
	if err != nil {
		return Result{}, func() {}, err
	}
	bin := e.BinDirs()
	if extraBin != "" && !slices.Contains(bin, extraBin) {
		bin = append(bin, extraBin)
	}
	return Result{Name: name, Version: v, Bin: bin, Installed: installed, Source: e.Source, Verified: e.Verified}, release, nil
}
