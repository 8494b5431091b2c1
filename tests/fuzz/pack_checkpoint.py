#!/usr/bin/env python3
"""Packs a checkpoint directory into the input format of verify_fuzz (seed corpus maker).

usage: pack_checkpoint.py <checkpoint-dir> <out-file>

Each file becomes `<name> <length>[ <data bytes>]\\n<length bytes>`: config.json and the index keep
their text; a .safetensors file keeps only its header JSON and the size of its data area (the
fuzz target writes that many zero bytes after the header).
"""
import os
import struct
import sys


def pack(directory):
    out = b""
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read()
        if name.endswith(".safetensors"):
            (n,) = struct.unpack("<Q", data[:8])
            header = data[8 : 8 + n]
            out += b"%s %d %d\n" % (name.encode(), len(header), len(data) - 8 - n) + header
        elif name in ("config.json", "model.safetensors.index.json"):
            out += b"%s %d\n" % (name.encode(), len(data)) + data
    return out


if __name__ == "__main__":
    with open(sys.argv[2], "wb") as f:
        f.write(pack(sys.argv[1]))
