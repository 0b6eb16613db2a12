// Package jsonfile reads and writes coldstart's versioned JSON files (the
// result files, the bisect state): indented for people and diffs, written
// atomically, and read back only at the schema this coldstart knows.
//
// Environment: none.
package jsonfile

import (
	"encoding/json"
	"fmt"
	"os"

	"coldstart/internal/atomicfile"
)

// Versioned is a file's content that says its schema.
type Versioned interface {
	SchemaVersion() int
}

// Read decodes the file at path into v and checks that its schema is
// want; what names the kind of file in the errors ("result"). A file that
// cannot be read returns os.ReadFile's error as it is, so that callers can
// tell a missing file (os.ErrNotExist).
func Read(path string, v Versioned, want int, what string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s is not a coldstart %s file: %w", path, what, err)
	}
	if got := v.SchemaVersion(); got != want {
		return fmt.Errorf("%s has %s schema %d; this coldstart reads %d", path, what, got, want)
	}
	return nil
}

// Write stores v at path atomically, indented by one space, with a final
// newline; what names v in an encoding error ("results for linux-6.1").
func Write(path string, v any, what string) error {
	data, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	return atomicfile.WriteFile(path, append(data, '\n'), 0o644)
}
