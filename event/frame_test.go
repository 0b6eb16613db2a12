package event

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func stream(t *testing.T, evs ...*Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := NewEncoder(&buf)
	for _, e := range evs {
		require.NoError(t, enc.Encode(e))
	}
	return buf.Bytes()
}

var sampleEvents = []*Event{
	{Type: TypeHello, Hello: &Hello{Protocol: Version, Release: "6.1.0-56-cloud-amd64", NumCPU: 2, Clocksource: "tsc", ClockResNS: 1}},
	{Type: TypeScenario, Scenario: "netns"},
	{Type: TypeSamples, Scenario: "netns", Samples: []Sample{{Iter: 0, WallNS: 9000000, OpNS: 7000000, SysNS: 4000}}},
	{Type: TypeUnsupported, Unsupported: &Unsupported{Scenario: "userns", Option: "CONFIG_USER_NS", Reason: "no /proc/self/ns/user"}},
	{Type: TypeDone, Done: &Done{Sent: 4}},
}

func TestRoundTrip(t *testing.T) {
	d := NewDecoder(bytes.NewReader(stream(t, sampleEvents...)))
	for i, want := range sampleEvents {
		got, err := d.Next()
		require.NoError(t, err, "event %d", i)
		assert.Equal(t, want, got)
	}
	_, err := d.Next()
	assert.ErrorIs(t, err, io.EOF)
	assert.Zero(t, d.Damaged)
	assert.Zero(t, d.Missing)
}

func TestDecoderRejectsDamage(t *testing.T) {
	good := stream(t, sampleEvents...)
	lines := strings.SplitAfter(string(good), "\n")
	tests := []struct {
		name        string
		in          string
		wantTypes   []string
		wantDamaged int
		wantMissing int
		wantErr     error
	}{
		{
			name:      "console noise between events is skipped",
			in:        "garbage\r\n" + lines[0] + "\n\n" + lines[1],
			wantTypes: []string{TypeHello, TypeScenario}, wantDamaged: 1, wantErr: io.EOF,
		},
		{
			name:      "flipped byte fails the checksum",
			in:        lines[0] + strings.Replace(lines[1], "netns", "netnz", 1) + lines[2],
			wantTypes: []string{TypeHello, TypeSamples}, wantDamaged: 1, wantMissing: 1, wantErr: io.EOF,
		},
		{
			name:      "lost bytes fail the length",
			in:        lines[0] + strings.Replace(lines[2], "9000000", "900000", 1),
			wantTypes: []string{TypeHello}, wantDamaged: 1, wantErr: io.EOF,
		},
		{
			name:      "stream stops mid-event",
			in:        lines[0] + lines[1][:len(lines[1])/2],
			wantTypes: []string{TypeHello}, wantDamaged: 1, wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:      "replayed event is rejected",
			in:        lines[0] + lines[1] + lines[1] + lines[2],
			wantTypes: []string{TypeHello, TypeScenario, TypeSamples}, wantDamaged: 1, wantErr: io.EOF,
		},
		{
			name:      "gap is counted as missing",
			in:        lines[0] + lines[4],
			wantTypes: []string{TypeHello, TypeDone}, wantMissing: 3, wantErr: io.EOF,
		},
		{
			name:        "valid frame with an invalid event",
			in:          string(AppendFrame(nil, 0, []byte(`{"type":"samples","scenario":"netns"}`))),
			wantDamaged: 1, wantErr: io.EOF,
		},
		{
			name:        "unknown field is rejected",
			in:          string(AppendFrame(nil, 0, []byte(`{"type":"log","log":"x","extra":1}`))),
			wantDamaged: 1, wantErr: io.EOF,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(strings.NewReader(tt.in))
			var types []string
			var err error
			for {
				var e *Event
				e, err = d.Next()
				if err != nil {
					break
				}
				types = append(types, e.Type)
			}
			assert.Equal(t, tt.wantTypes, types)
			assert.ErrorIs(t, err, tt.wantErr)
			assert.Equal(t, tt.wantDamaged, d.Damaged, "damaged; last: %v", d.LastErr)
			assert.Equal(t, tt.wantMissing, d.Missing, "missing")
			if tt.wantDamaged > 0 {
				assert.True(t, errors.Is(d.LastErr, ErrDamaged), "LastErr %v", d.LastErr)
			}
		})
	}
}

func TestDecoderOversizedLine(t *testing.T) {
	in := strings.Repeat("x", MaxLine+10) + "\n" + string(stream(t, sampleEvents[0]))
	d := NewDecoder(strings.NewReader(in))
	e, err := d.Next()
	require.NoError(t, err)
	assert.Equal(t, TypeHello, e.Type)
	assert.Equal(t, 1, d.Damaged)
}

func TestEncodeRejectsInvalid(t *testing.T) {
	enc := NewEncoder(io.Discard)
	assert.Error(t, enc.Encode(&Event{Type: TypeSamples}))
	assert.Error(t, enc.Encode(&Event{Type: "bogus"}))
	assert.Equal(t, 0, enc.Sent())
}

func FuzzDecoder(f *testing.F) {
	var buf bytes.Buffer
	enc := NewEncoder(&buf)
	for _, e := range sampleEvents {
		_ = enc.Encode(e)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("cs1 0 2 00000000 {}\n"))
	f.Add([]byte("cs1 -1 x y z\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoder(bytes.NewReader(in))
		for i := 0; ; i++ {
			e, err := d.Next()
			if err != nil {
				return
			}
			if verr := e.Validate(); verr != nil {
				t.Fatalf("decoder returned an invalid event: %v", verr)
			}
			if i > len(in) {
				t.Fatal("more events than input bytes")
			}
		}
	})
}
