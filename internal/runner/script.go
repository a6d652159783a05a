package runner

import (
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"github.com/batonci/baton/internal/jobspec"
)

// shellQuote quotes s as one bash word. Bash strings cannot hold NUL bytes,
// so those are dropped (an environment variable cannot hold them either).
func shellQuote(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// validName reports whether name can be a bash variable name.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// exportScript returns the "Exporting NAME" lines to show for vars, and the
// bash source that exports them. Invalid names are reported and make the
// source fail, after the valid ones are exported.
func exportScript(vars []jobspec.Var) (output, script string) {
	var out, src strings.Builder
	bad := false
	for _, v := range vars {
		if !validName(v.Name) {
			fmt.Fprintf(&out, "Cannot export %q: not a valid variable name\n", v.Name)
			bad = true
			continue
		}
		fmt.Fprintf(&out, "Exporting %s\n", v.Name)
		fmt.Fprintf(&src, "export %s=%s\n", v.Name, shellQuote(v.Value))
	}
	if src.Len() == 0 && !bad {
		return out.String(), ""
	}
	// Keep a user's `set -x` from tracing the exports (and so printing
	// values) while leaving it on for the commands that follow.
	script = "{ __baton_xt=${-//[^x]/}; builtin set +x; } 2>/dev/null\n" + src.String() +
		"if [ -n \"$__baton_xt\" ]; then builtin unset __baton_xt; builtin set -x; else builtin unset __baton_xt; fi\n"
	if bad {
		script += "return 1\n"
	}
	return out.String(), script
}

// fileMode is the mode a File is written with.
func fileMode(f jobspec.File) os.FileMode {
	if m := f.Mode.Perm(); m != 0 {
		return m
	}
	return 0o644
}

// destination returns the bash word for where f goes: absolute paths as
// they are, others under $HOME.
func destination(path string) string {
	switch {
	case strings.HasPrefix(path, "/"):
		return shellQuote(path)
	case path == "~":
		return `"$HOME"`
	case strings.HasPrefix(path, "~/"):
		path = path[2:]
	}
	return `"$HOME"/` + shellQuote(path)
}

// injectScript returns bash source that writes files, printing one
// "Injecting PATH with file mode MODE" line for each, and failing at the
// first file that cannot be written. The content travels base64-encoded in
// a here-document, so any bytes arrive unchanged, whatever the executor.
func injectScript(files []jobspec.File) string {
	var b strings.Builder
	for _, f := range files {
		mode := fileMode(f)
		fmt.Fprintf(&b, "builtin printf 'Injecting %%s with file mode %%s\\n' %s %04o\n", shellQuote(f.Path), mode)
		fmt.Fprintf(&b, "__baton_dest=%s\n", destination(f.Path))
		fmt.Fprintf(&b, "mkdir -p -- \"$(dirname -- \"$__baton_dest\")\" && base64 -d > \"$__baton_dest\" <<'BATON_FILE_EOF' && chmod %04o \"$__baton_dest\" || { builtin printf 'Failed to inject %%s\\n' %s; builtin unset __baton_dest; return 1; }\n", mode, shellQuote(f.Path))
		enc := base64.StdEncoding.EncodeToString(f.Content)
		for len(enc) > 76 {
			b.WriteString(enc[:76])
			b.WriteByte('\n')
			enc = enc[76:]
		}
		b.WriteString(enc)
		b.WriteString("\nBATON_FILE_EOF\n")
	}
	b.WriteString("builtin unset __baton_dest\n")
	return b.String()
}
