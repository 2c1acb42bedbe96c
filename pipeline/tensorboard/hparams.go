package tensorboard

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	summarypb "github.com/galeone/tensorflow/tensorflow/go/core/framework/summary_go_proto"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// The HParams plugin's tags and name
// (tensorboard/plugins/hparams/metadata.py).
const (
	hparamsPlugin   = "hparams"
	sessionStartTag = "_hparams_/session_start_info"
	sessionEndTag   = "_hparams_/session_end_info"
)

// Session statuses (api.proto's Status).
const (
	statusSuccess = 1
	statusFailure = 2
)

// The messages below are encoded field by field with protowire, against
// tensorboard/plugins/hparams/plugin_data.proto (TensorBoard 2.18):
//
//	message HParamsPluginData {
//	  int32 version = 1;
//	  oneof data { Experiment experiment = 2;
//	               SessionStartInfo session_start_info = 3;
//	               SessionEndInfo session_end_info = 4; }
//	}
//	message SessionStartInfo {
//	  map<string, google.protobuf.Value> hparams = 1;
//	  string model_uri = 2; string monitor_url = 3;
//	  string group_name = 4; double start_time_secs = 5;
//	}
//	message SessionEndInfo { Status status = 1; double end_time_secs = 2; }
//
// version stays 0 (metadata.PLUGIN_DATA_VERSION), so it is not written.
// google.protobuf.Value comes from structpb.

// sessionStartInfo encodes HParamsPluginData{session_start_info} for
// hparams, in key order so the bytes do not depend on map order.
func sessionStartInfo(hparams map[string]string, startSecs float64) ([]byte, error) {
	keys := make([]string, 0, len(hparams))
	for k := range hparams {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var info []byte
	for _, k := range keys {
		v, err := proto.Marshal(hparamValue(hparams[k]))
		if err != nil {
			return nil, fmt.Errorf("tensorboard: hparam %s: %w", k, err)
		}
		var entry []byte
		entry = protowire.AppendTag(entry, 1, protowire.BytesType)
		entry = protowire.AppendString(entry, k)
		entry = protowire.AppendTag(entry, 2, protowire.BytesType)
		entry = protowire.AppendBytes(entry, v)
		info = protowire.AppendTag(info, 1, protowire.BytesType)
		info = protowire.AppendBytes(info, entry)
	}
	info = protowire.AppendTag(info, 5, protowire.Fixed64Type)
	info = protowire.AppendFixed64(info, math.Float64bits(startSecs))
	return pluginMetadata(3, info)
}

// sessionEndInfo encodes HParamsPluginData{session_end_info} with status.
func sessionEndInfo(status int, endSecs float64) ([]byte, error) {
	var info []byte
	info = protowire.AppendTag(info, 1, protowire.VarintType)
	info = protowire.AppendVarint(info, uint64(status))
	info = protowire.AppendTag(info, 2, protowire.Fixed64Type)
	info = protowire.AppendFixed64(info, math.Float64bits(endSecs))
	return pluginMetadata(4, info)
}

// pluginMetadata wraps an HParamsPluginData whose oneof field is field,
// holding msg, in a serialized SummaryMetadata for the hparams plugin.
func pluginMetadata(field protowire.Number, msg []byte) ([]byte, error) {
	var data []byte
	data = protowire.AppendTag(data, field, protowire.BytesType)
	data = protowire.AppendBytes(data, msg)
	b, err := proto.Marshal(&summarypb.SummaryMetadata{
		PluginData: &summarypb.SummaryMetadata_PluginData{PluginName: hparamsPlugin, Content: data},
	})
	if err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	return b, nil
}

// hparamValue types a config value as the HParams dashboard wants it: a
// number (sortable, with an interval domain), a bool, or a string (YAML's
// text for anything else: lists, null).
func hparamValue(s string) *structpb.Value {
	switch s {
	case "true":
		return structpb.NewBoolValue(true)
	case "false":
		return structpb.NewBoolValue(false)
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return structpb.NewNumberValue(f)
	}
	return structpb.NewStringValue(s)
}
