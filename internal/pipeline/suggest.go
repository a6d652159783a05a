package pipeline

import "fmt"

// Help for keys placed at the wrong level (typo suggestions are
// editdist.Nearest).

// misplacedKeyHint explains keys that belong elsewhere. standsFor lists
// the keys the misplaced one was meant to be, whose absence then needs no
// second message.
func misplacedKeyHint(kind, key string) (hint string, standsFor []string) {
	switch kind {
	case "block":
		switch key {
		case "jobs", "agent", "prologue", "epilogue", "env_vars", "secrets", "boosters":
			return fmt.Sprintf("%s belongs under \"task\"", key), nil
		case "when":
			return "use \"run: {when: ...}\" or \"skip: {when: ...}\"", nil
		}
	case "task":
		switch key {
		case "commands", "commands_file":
			return fmt.Sprintf("%s belongs to a job under \"jobs\"", key), nil
		case "name", "dependencies", "skip", "run", "execution_time_limit":
			return fmt.Sprintf("%s belongs to the block, not its task", key), nil
		}
	case "job":
		switch key {
		case "agent", "prologue", "epilogue", "secrets":
			return fmt.Sprintf("%s belongs to the task, not a job", key), nil
		}
	case "prologue":
		if key == "always" || key == "on_pass" || key == "on_fail" {
			return "a prologue takes \"commands\" or \"commands_file\" directly; always/on_pass/on_fail exist only in an epilogue",
				[]string{"commands", "commands_file"}
		}
	case "pipeline":
		if key == "jobs" || key == "task" {
			return fmt.Sprintf("%s belongs in a block under \"blocks\"", key), nil
		}
	}
	return "", nil
}
