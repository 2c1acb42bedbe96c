package tensorboard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	summarypb "github.com/galeone/tensorflow/tensorflow/go/core/framework/summary_go_proto"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// eventFilePrefix starts the name of every event file TensorFlow's summary
// writer creates (events.out.tfevents.<time>.<host>.<pid>.<id><suffix>).
const eventFilePrefix = "events.out.tfevents."

// lastSteps reads every event file in dir and returns, for each summary tag,
// the largest step written. A missing dir has none. A record cut short or
// failing its checksum ends its file's reading there, as TensorBoard's
// reader does: that is what a crash in the middle of a write leaves.
func lastSteps(dir string) (map[string]int64, error) {
	out := map[string]int64{}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasPrefix(e.Name(), eventFilePrefix) {
			continue
		}
		events, err := summaries(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		for _, ev := range events {
			for _, v := range ev.summary.Value {
				if last, ok := out[v.Tag]; !ok || ev.step > last {
					out[v.Tag] = ev.step
				}
			}
		}
	}
	return out, nil
}

// stepSummary is one summary event of an event file, at its step.
type stepSummary struct {
	step    int64
	summary *summarypb.Summary
}

// summaries reads the summary events of the event file at path, in order
// (other events, such as the file version, are left out), up to the first
// incomplete or corrupt record (see records).
func summaries(path string) ([]stepSummary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	var out []stepSummary
	for _, rec := range records(b) {
		step, summary := parseEvent(rec)
		if summary == nil {
			continue
		}
		s := &summarypb.Summary{}
		if err := proto.Unmarshal(summary, s); err != nil {
			return nil, fmt.Errorf("tensorboard: %s: a summary does not parse: %w (delete the file to rewrite it)", path, err)
		}
		out = append(out, stepSummary{step, s})
	}
	return out, nil
}

// records splits a TFRecord file into its records: each is a little-endian
// uint64 length, the masked CRC-32C of those 8 bytes, the data, and the
// masked CRC-32C of the data. It stops at the first incomplete or corrupt
// record.
func records(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 16 {
		n := binary.LittleEndian.Uint64(b)
		if maskedCRC(b[:8]) != binary.LittleEndian.Uint32(b[8:]) || n > uint64(len(b)-16) {
			break
		}
		data := b[12 : 12+n]
		if maskedCRC(data) != binary.LittleEndian.Uint32(b[12+n:]) {
			break
		}
		out = append(out, data)
		b = b[16+n:]
	}
	return out
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC is TFRecord's checksum: CRC-32C, rotated right by 15 bits plus
// a constant (tensorflow/core/lib/hash/crc32c.h, Mask).
func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return (c>>15 | c<<17) + 0xa282ead8
}

// parseEvent returns the step and the serialized Summary of an Event
// (tensorflow/core/util/event.proto: step = 2, summary = 5); summary is nil
// for events of other kinds (file_version, graphs).
func parseEvent(b []byte) (step int64, summary []byte) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return step, nil
		}
		b = b[n:]
		switch {
		case num == 2 && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return step, nil
			}
			step, n = int64(v), m
		case num == 5 && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return step, nil
			}
			summary, n = v, m
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return step, nil
			}
		}
		b = b[n:]
	}
	return step, summary
}
