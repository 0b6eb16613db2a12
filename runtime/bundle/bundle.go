// Package bundle loads an OCI bundle's config.json into runtime-spec types
// and validates it against what csrun supports.
//
// Validation is strict: a JSON field csrun does not know, a field csrun knows
// but does not implement, or a value it cannot honour is refused with a
// *FieldError naming the field (for example "linux.resources" or
// "mounts[3].type"). Nothing is silently ignored: a linux.sysctl key must
// belong to a namespace the container owns (as runc checks), and a bind
// mount's options must be flags (a bind passes no filesystem data).
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
	var d document
	if err := dec.Decode(&d); err != nil {
		return nil, decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalid("(document)", "trailing data after the JSON object")
	}
	spec := d.spec()
	if err := Validate(spec); err != nil {
		return nil, err
	}
	return spec, nil
}

// document is config.json as Parse decodes it: runtime-spec's types for
// what csrun implements, raw JSON for the sections it refuses whatever
// they hold. encoding/json builds its reflection state for a type the
// first time it decodes one, for every type reachable from it; for
// specs.Spec that is about a hundred (resources, Windows, VM, ...), most
// of the 2.6 ms a first decode of runc's config with the default seccomp
// profile took, against 1.5 ms for document. csrun decodes one config
// per process, so the first decode is the only one. TestDocumentMirrorsSpec
// keeps the fields in step with runtime-spec.
type document struct {
	Version     string            `json:"ociVersion"`
	Process     *specs.Process    `json:"process,omitempty"`
	Root        *specs.Root       `json:"root,omitempty"`
	Hostname    string            `json:"hostname,omitempty"`
	Domainname  string            `json:"domainname,omitempty"`
	Mounts      []specs.Mount     `json:"mounts,omitempty"`
	Hooks       *specs.Hooks      `json:"hooks,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Linux       *linuxDocument    `json:"linux,omitempty"`
	Solaris     json.RawMessage   `json:"solaris,omitempty"`
	Windows     json.RawMessage   `json:"windows,omitempty"`
	VM          json.RawMessage   `json:"vm,omitempty"`
	ZOS         json.RawMessage   `json:"zos,omitempty"`
	FreeBSD     json.RawMessage   `json:"freebsd,omitempty"`
}

type linuxDocument struct {
	UIDMappings       []specs.LinuxIDMapping `json:"uidMappings,omitempty"`
	GIDMappings       []specs.LinuxIDMapping `json:"gidMappings,omitempty"`
	Sysctl            map[string]string      `json:"sysctl,omitempty"`
	Resources         *specs.LinuxResources  `json:"resources,omitempty"`
	CgroupsPath       string                 `json:"cgroupsPath,omitempty"`
	Namespaces        []specs.LinuxNamespace `json:"namespaces,omitempty"`
	Devices           []specs.LinuxDevice    `json:"devices,omitempty"`
	NetDevices        json.RawMessage        `json:"netDevices,omitempty"`
	Seccomp           *specs.LinuxSeccomp    `json:"seccomp,omitempty"`
	RootfsPropagation string                 `json:"rootfsPropagation,omitempty"`
	MaskedPaths       []string               `json:"maskedPaths,omitempty"`
	ReadonlyPaths     []string               `json:"readonlyPaths,omitempty"`
	MountLabel        string                 `json:"mountLabel,omitempty"`
	IntelRdt          json.RawMessage        `json:"intelRdt,omitempty"`
	MemoryPolicy      json.RawMessage        `json:"memoryPolicy,omitempty"`
	Personality       json.RawMessage        `json:"personality,omitempty"`
	TimeOffsets       json.RawMessage        `json:"timeOffsets,omitempty"`
}

// present says whether a refused section is in the document: JSON null
// counts as absent, as it does for runtime-spec's pointer fields.
func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// presentMap is present for the map sections, where Validate refuses only
// a non-empty map: {} counts as absent too.
func presentMap(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	if !present(raw) {
		return false
	}
	return json.Unmarshal(raw, &m) != nil || len(m) > 0
}

// spec returns the document as runtime-spec's type. A refused section that
// is present becomes an empty non-nil value, which Validate refuses with
// its usual message.
func (d *document) spec() *specs.Spec {
	s := &specs.Spec{
		Version: d.Version, Process: d.Process, Root: d.Root, Hostname: d.Hostname,
		Domainname: d.Domainname, Mounts: d.Mounts, Annotations: d.Annotations, Hooks: d.Hooks,
	}
	if present(d.Solaris) {
		s.Solaris = &specs.Solaris{}
	}
	if present(d.Windows) {
		s.Windows = &specs.Windows{}
	}
	if present(d.VM) {
		s.VM = &specs.VM{}
	}
	if present(d.ZOS) {
		s.ZOS = &specs.ZOS{}
	}
	if present(d.FreeBSD) {
		s.FreeBSD = &specs.FreeBSD{}
	}
	if l := d.Linux; l != nil {
		s.Linux = &specs.Linux{
			UIDMappings: l.UIDMappings, GIDMappings: l.GIDMappings, Sysctl: l.Sysctl,
			CgroupsPath: l.CgroupsPath, Namespaces: l.Namespaces, Devices: l.Devices,
			Seccomp: l.Seccomp, RootfsPropagation: l.RootfsPropagation, MaskedPaths: l.MaskedPaths,
			ReadonlyPaths: l.ReadonlyPaths, MountLabel: l.MountLabel, Resources: l.Resources,
		}
		if presentMap(l.NetDevices) {
			s.Linux.NetDevices = map[string]specs.LinuxNetDevice{"": {}}
		}
		if present(l.IntelRdt) {
			s.Linux.IntelRdt = &specs.LinuxIntelRdt{}
		}
		if present(l.MemoryPolicy) {
			s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{}
		}
		if present(l.Personality) {
			s.Linux.Personality = &specs.LinuxPersonality{}
		}
		if presentMap(l.TimeOffsets) {
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"": {}}
		}
	}
	return s
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
