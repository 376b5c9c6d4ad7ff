#!/usr/bin/env python3
"""cache_fixture.py - fills a Vial cache the way the streaming fetch agent
will (test_cache.sh), reading a locally packed image with its own parser of
the format (runtime/image_format.h), independent of vial's reader.

  root IMAGE                     the image's root hash (hex)
  hive IMAGE                     the name of its hive in CACHE/hives ("" if none)
  chunks IMAGE CACHE [N...]      writes chunk N (default: every chunk) to
                                 CACHE/chunks/xx/<62 hex>, the compressed
                                 frame exactly; prints "PATH STORED_LENGTH"
  mirror IMAGE CACHE URL [REQUESTS BYTES CHUNKS]
                                 CACHE/images/<root>.vial: full size, chunk
                                 data a hole; <root>.url; <root>.stats
  chunk-bytes IMAGE PATH...      the compressed size of the distinct chunks
                                 of those files
"""
import hashlib
import os
import struct
import sys

MAGIC = b"\x89VIAL\r\n\x1a"
SECTION_INDEX, SECTION_HIVE, SECTION_CHUNK_TABLE, SECTION_CHUNK_DATA = 2, 4, 6, 7
REGULAR, HARDLINK = 2, 4


class Image:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        d = self.data
        assert d[:8] == MAGIC, "not a Vial image"
        (self.count,) = struct.unpack_from("<I", d, 16)
        self.sections = {}
        for i in range(self.count):
            kind, _, offset, length = struct.unpack_from("<IIQQ", d, 64 + 56 * i)
            self.sections[kind] = (offset, length)
        self.root = d[64 + 56 * 14 : 64 + 56 * 14 + 32].hex()
        offset, length = self.sections[SECTION_CHUNK_TABLE]
        data_offset = self.sections[SECTION_CHUNK_DATA][0]
        self.chunks = []  # (hash hex, absolute offset, stored length)
        for i in range(length // 48):
            digest = d[offset + 48 * i : offset + 48 * i + 32]
            rel, stored, _ = struct.unpack_from("<QII", d, offset + 48 * i + 32)
            self.chunks.append((digest.hex(), data_offset + rel, stored))

    def entries(self):
        """{virtual path: (type, hard link target, chunk indexes)}"""
        d = self.data
        base = self.sections[SECTION_INDEX][0]
        head = struct.unpack_from("<IIIIII6Q", d, base)
        count, refs_at, strings_at = head[1], head[8], head[10]
        entries_at = head[6]
        paths, raw = [], []
        for i in range(count):
            e = struct.unpack_from("<IIHBBIIIqQIIIIII", d, base + entries_at + 64 * i)
            parent, name_at, name_length, kind = e[0], e[1], e[2], e[3]
            name = d[base + strings_at + name_at : base + strings_at + name_at + name_length].decode()
            paths.append("" if i == 0 else (paths[parent] + "/" + name).lstrip("/"))
            raw.append((kind, e[14], e[15]))
        result = {}
        for i, (kind, a, b) in enumerate(raw):
            if kind == HARDLINK:
                kind, a, b = raw[a]
            chunks = []
            if kind == REGULAR:
                for r in range(a, a + b):
                    (chunk,) = struct.unpack_from("<I", d, base + refs_at + 12 * r)
                    chunks.append(chunk)
            result["/" + paths[i]] = (kind, chunks)
        return result


def write_atomically(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temp = "%s.tmp-fixture-%d" % (path, os.getpid())
    with open(temp, "wb") as f:
        f.write(data)
    os.rename(temp, path)


def main(argv):
    command, image = argv[1], Image(argv[2])
    if command == "root":
        print(image.root)
    elif command == "hive":
        if SECTION_HIVE in image.sections:
            offset, length = image.sections[SECTION_HIVE]
            digest = hashlib.blake2b(image.data[offset : offset + length], digest_size=32)
            print(digest.hexdigest()[:32] + ".hive")
        else:
            print()
    elif command == "chunks":
        cache = argv[3]
        wanted = [int(n) for n in argv[4:]] or range(len(image.chunks))
        for n in wanted:
            digest, offset, stored = image.chunks[n]
            path = os.path.join(cache, "chunks", digest[:2], digest[2:])
            write_atomically(path, image.data[offset : offset + stored])
            print(path, stored)
    elif command == "mirror":
        cache, url = argv[3], argv[4]
        directory = os.path.join(cache, "images")
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, image.root + ".vial")
        start, length = image.sections[SECTION_CHUNK_DATA]
        with open(path, "wb") as f:
            f.write(image.data[:start])
            f.seek(start + length)
            f.write(image.data[start + length :])
            f.truncate(len(image.data))
        with open(os.path.join(directory, image.root + ".url"), "w") as f:
            f.write(url + "\n")
        if len(argv) > 5:
            with open(os.path.join(directory, image.root + ".stats"), "w") as f:
                f.write("requests=%s\nbytes=%s\nchunks=%s\n" % tuple(argv[5:8]))
        print(path)
    elif command == "chunk-bytes":
        entries = image.entries()
        chunks = set()
        for path in argv[3:]:
            kind, refs = entries[path]
            assert kind == REGULAR, path + " is not a regular file"
            chunks.update(refs)
        print(sum(image.chunks[c][2] for c in chunks))
    else:
        sys.exit("unknown command " + command)


if __name__ == "__main__":
    main(sys.argv)
