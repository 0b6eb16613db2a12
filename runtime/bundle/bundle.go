// Package bundle loads an OCI bundle's config.json into runtime-spec types
// and validates it against what csrun supports.
//
// Validation is strict: a JSON field csrun does not know, a field csrun knows
// but does not implement, or a value it cannot honour is refused with a
// *FieldError naming the field (for example "linux.resources" or
// "mounts[3].type"). Nothing is silently ignored.
//
// The package reads no environment variables.
package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ErrUnsupported is wrapped by every FieldError about a field csrun does not
// implement (as opposed to one whose value is malformed).
var ErrUnsupported = errors.New("not supported by csrun")

// FieldError says which config.json field was refused and why.
type FieldError struct {
	Field  string // JSON path, e.g. "linux.namespaces[2].path"
	Reason string
	Err    error // ErrUnsupported, or nil for a malformed value
}

func (e *FieldError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("config.json: %s: %s: %s", e.Field, e.Reason, e.Err)
	}
	return fmt.Sprintf("config.json: %s: %s", e.Field, e.Reason)
}

func (e *FieldError) Unwrap() error { return e.Err }

func unsupported(field, reason string) error {
	return &FieldError{Field: field, Reason: reason, Err: ErrUnsupported}
}

func invalid(field, format string, a ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, a...)}
}

// Bundle is a loaded, validated bundle.
type Bundle struct {
	Dir    string // absolute bundle directory
	Rootfs string // absolute path of root.path
	Spec   *specs.Spec
}

// Load reads dir/config.json, decodes it strictly and validates it.
func Load(dir string) (*Bundle, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	data, err := os.ReadFile(filepath.Join(abs, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	spec, err := Parse(data)
	if err != nil {
		return nil, err
	}
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(abs, rootfs)
	}
	if st, err := os.Stat(rootfs); err != nil {
		return nil, &FieldError{Field: "root.path", Reason: err.Error()}
	} else if !st.IsDir() {
		return nil, invalid("root.path", "%s is not a directory", rootfs)
	}
	return &Bundle{Dir: abs, Rootfs: rootfs, Spec: spec}, nil
}

// Parse decodes config.json bytes, refusing unknown fields and trailing
// data, and validates the result.
func Parse(data []byte) (*specs.Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var spec specs.Spec
	if err := dec.Decode(&spec); err != nil {
		return nil, decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalid("(document)", "trailing data after the JSON object")
	}
	if err := Validate(&spec); err != nil {
		return nil, err
	}
	return &spec, nil
}

func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "(document)"
		}
		return &FieldError{Field: field, Reason: fmt.Sprintf("want %s, got JSON %s", te.Type, te.Value)}
	}
	if msg := err.Error(); strings.Contains(msg, "unknown field") {
		// encoding/json says: json: unknown field "foo"
		name := strings.Trim(msg[strings.Index(msg, "unknown field")+len("unknown field "):], `"`)
		if name == "" {
			name = `""`
		}
		return &FieldError{Field: name, Reason: "unknown field", Err: ErrUnsupported}
	}
	return &FieldError{Field: "(document)", Reason: "malformed JSON: " + err.Error()}
}
