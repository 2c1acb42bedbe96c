"""Load a runs folder's TensorBoard Projector embeddings with TensorBoard's
own projector plugin and print what it serves as JSON, for the Go tests
(pipeline/experiment, pipeline/inspect).

    .venv/bin/python scripts/read_projector.py LOGDIR

The plugin is built as `tensorboard --logdir LOGDIR` builds it (an event
multiplexer over the folder, its data provider), then asked over its HTTP
routes, as the Projector's page asks: /runs, then per run /info (the
projector_config.pbtxt with shapes filled in), /tensor (float32 bytes),
/metadata (the TSV) and /sprite_image. For each embedding: its shape, the
rows and columns of the tensor it serves, the metadata's header and row
count, and the sprite's PNG size.
"""

import json
import struct
import sys
import types

sys.modules["tensorboard.compat.notf"] = types.ModuleType("tensorboard.compat.notf")

from tensorboard.backend.event_processing import data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from tensorboard.plugins.projector import projector_plugin
from werkzeug import test as wtest
from werkzeug import wrappers


def main(logdir):
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    ctx = base_plugin.TBContext(
        logdir=logdir,
        data_provider=data_provider.MultiplexerDataProvider(mux, logdir),
        multiplexer=mux,
    )
    plugin = projector_plugin.ProjectorPlugin(ctx)
    routes = plugin.get_plugin_apps()
    client = wtest.Client(_app(routes), wrappers.Response)

    def get(route, **args):
        r = client.get(route, query_string=args)
        if r.status_code != 200:
            raise SystemExit("%s %s: %d %s" % (route, args, r.status_code, r.get_data(as_text=True)))
        return r

    out = {}
    for run in json.loads(get("/runs").get_data(as_text=True)):
        info = json.loads(get("/info", run=run).get_data(as_text=True))
        embs = []
        for e in info.get("embeddings", []):
            name = e["tensorName"]
            shape = [int(v) for v in e["tensorShape"]]
            data = get("/tensor", run=run, name=name).get_data()
            values = len(data) // 4
            first = list(struct.unpack("<%df" % min(values, 4), data[: 4 * min(values, 4)]))
            meta = get("/metadata", run=run, name=name).get_data(as_text=True).splitlines()
            sprite = get("/sprite_image", run=run, name=name).get_data()
            w, h = struct.unpack(">II", sprite[16:24])
            embs.append({
                "name": name,
                "shape": shape,
                "values": values,
                "first": first,
                "metadata_header": meta[0].split("\t"),
                "metadata_rows": len(meta) - 1,
                "first_row": meta[1].split("\t") if len(meta) > 1 else [],
                "sprite": [w, h],
                "single_image_dim": [int(v) for v in e["sprite"]["singleImageDim"]],
            })
        out[run] = embs
    print(json.dumps(out, indent=1, sort_keys=True))


def _app(routes):
    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path not in routes:
            start_response("404 Not Found", [])
            return [b""]
        return routes[path](environ, start_response)

    return app


if __name__ == "__main__":
    main(sys.argv[1])
