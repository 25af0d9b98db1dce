package sandbox

// Checking a Cmd: its arguments, environment and the paths to try.

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

func checkEnv(input string, vars []string) error {
	for _, v := range vars {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" || strings.ContainsRune(v, 0) {
			return &ConfigError{Input: input, Err: fmt.Errorf("invalid variable %q (want KEY=value)", v)}
		}
	}
	return nil
}

// checkCmd validates cmd and returns its argv, environment and the paths to
// try for execve, in order.
func (c *config) checkCmd(cmd *Cmd) (argv, env, candidates []string, err error) {
	if cmd == nil || cmd.Path == "" {
		return nil, nil, nil, &ConfigError{Input: "Cmd.Path", Err: errors.New("empty")}
	}
	argv = cmd.Args
	if len(argv) == 0 {
		argv = []string{cmd.Path}
	}
	for _, a := range append([]string{cmd.Path, cmd.Dir}, argv...) {
		if strings.ContainsRune(a, 0) {
			return nil, nil, nil, &ConfigError{Input: "Cmd", Err: fmt.Errorf("%q has a NUL byte", a)}
		}
	}
	if err := checkEnv("Cmd.Env", cmd.Env); err != nil {
		return nil, nil, nil, err
	}
	// Only what the caller gives: secrets in the caller's environment
	// never reach the program (judge0#564). A nil Env is Docker's: a
	// PATH alone.
	base := cmd.Env
	if base == nil {
		base = []string{"PATH=" + DefaultPath}
	}
	env = append(append([]string(nil), base...), c.env...)
	for i, f := range cmd.ExtraFiles {
		if f == nil {
			return nil, nil, nil, &ConfigError{Input: fmt.Sprintf("Cmd.ExtraFiles[%d]", i), Err: errors.New("nil")}
		}
	}
	if c.workDir != "" && cmd.Dir != "" && cmd.Dir != c.workDir {
		return nil, nil, nil, &ConfigError{Input: "Cmd.Dir", Err: fmt.Errorf("%q conflicts with WithWorkDir's %q", cmd.Dir, c.workDir)}
	}
	if strings.Contains(cmd.Path, "/") {
		return argv, env, []string{cmd.Path}, nil
	}
	search := DefaultPath
	for _, v := range env {
		if p, ok := strings.CutPrefix(v, "PATH="); ok {
			search = p
		}
	}
	for _, dir := range strings.Split(search, ":") {
		if dir == "" {
			dir = "."
		}
		candidates = append(candidates, path.Join(dir, cmd.Path))
	}
	return argv, env, candidates, nil
}
