#!/usr/bin/env python3
"""Generates trees of real, unique test images for ximup's tests, benchmarks and demo.

    gen_images.py OUTDIR --count N [--size-kib K] [--seed S] [--nested] [--weird-names]
                  [--non-images M] [--zero-byte]
    gen_images.py OUTDIR --demo

Files are real images that decoders accept: baseline JPEGs from the small encoder below (8-bit
YCbCr 4:4:4, standard Annex K Huffman tables), made unique and of the wanted size by COM (0xFFFE)
segments of random bytes inserted after SOI; and PNGs (zlib, random pixels, valid CRCs), padded to
the wanted size with a tEXt chunk. Every 5th file is a PNG, every 10th an RGBA one.
Same seed, same bytes. Standard library only. Prints a summary: files written, total bytes.

--demo writes the handful of small sample pictures kept in examples/images/ instead.
"""

import argparse
import math
import os
import random
import struct
import sys
import zlib

# ---------------------------------------------------------------------------------------------
# Minimal baseline JPEG encoder
# ---------------------------------------------------------------------------------------------

LUMA_QUANT = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
]
CHROMA_QUANT = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
] + [99] * 32

# Annex K.3 Huffman tables: (number of codes of each length 1..16, symbols in code order).
DC_LUMA = ([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0], list(range(12)))
DC_CHROMA = ([0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], list(range(12)))
AC_LUMA = ([0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D], [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61,
    0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52,
    0xD1, 0xF0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25,
    0x26, 0x27, 0x28, 0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45,
    0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64,
    0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83,
    0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
    0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6,
    0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3,
    0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8,
    0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
])
AC_CHROMA = ([0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77], [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61,
    0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33,
    0x52, 0xF0, 0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18,
    0x19, 0x1A, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44,
    0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63,
    0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A,
    0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97,
    0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4,
    0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA,
    0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7,
    0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
])


def _zigzag():
    """zigzag[k] = row-major index of the k-th coefficient in zigzag order."""
    order = []
    for s in range(15):
        rows = range(min(s, 7), max(0, s - 7) - 1, -1) if s % 2 == 0 else range(max(0, s - 7), min(s, 7) + 1)
        order.extend(r * 8 + (s - r) for r in rows)
    return order


ZIGZAG = _zigzag()
COS = [[math.cos((2 * x + 1) * u * math.pi / 16) * (math.sqrt(0.5) if u == 0 else 1.0) for x in range(8)]
       for u in range(8)]


def _check_tables():
    every_ac = {0x00, 0xF0} | {(r << 4) | s for r in range(16) for s in range(1, 11)}
    for bits, values in (DC_LUMA, DC_CHROMA, AC_LUMA, AC_CHROMA):
        assert sum(bits) == len(values) == len(set(values))
    assert set(AC_LUMA[1]) == every_ac and set(AC_CHROMA[1]) == every_ac
    assert sorted(ZIGZAG) == list(range(64))


def _huffman_codes(table):
    """symbol -> (code, length) for a table given as (bits, values), canonical order."""
    bits, values = table
    codes, code, k = {}, 0, 0
    for length in range(1, 17):
        for _ in range(bits[length - 1]):
            codes[values[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return codes


def _scaled_quant(base, quality):
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, (q * scale + 50) // 100)) for q in base]


class _BitWriter:
    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def write(self, code, length):
        self.acc = (self.acc << length) | code
        self.n += length
        while self.n >= 8:
            self.n -= 8
            byte = (self.acc >> self.n) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:
                self.out.append(0x00)  # byte stuffing
        self.acc &= (1 << self.n) - 1

    def flush(self):
        if self.n:
            self.write((1 << (8 - self.n)) - 1, 8 - self.n)  # pad with 1 bits
        return bytes(self.out)


def _fdct_quantize(block, quant):
    """8x8 forward DCT of level-shifted samples, quantized, in zigzag order."""
    tmp = [0.0] * 64
    for y in range(8):
        row = block[y * 8:y * 8 + 8]
        for u in range(8):
            c = COS[u]
            tmp[y * 8 + u] = sum(row[x] * c[x] for x in range(8))
    coeffs = [0.0] * 64
    for u in range(8):
        col = [tmp[y * 8 + u] for y in range(8)]
        for v in range(8):
            c = COS[v]
            coeffs[v * 8 + u] = sum(col[y] * c[y] for y in range(8)) / 4.0
    return [int(round(coeffs[z] / quant[z])) for z in ZIGZAG]


def _category(value):
    value = abs(value)
    return value.bit_length()


def _encode_block(writer, zz, previous_dc, dc_codes, ac_codes):
    diff = zz[0] - previous_dc
    size = _category(diff)
    writer.write(*dc_codes[size])
    if size:
        writer.write(diff if diff > 0 else diff + (1 << size) - 1, size)
    run = 0
    for k in range(1, 64):
        value = zz[k]
        if value == 0:
            run += 1
            continue
        while run > 15:
            writer.write(*ac_codes[0xF0])  # ZRL: 16 zeros
            run -= 16
        size = _category(value)
        writer.write(*ac_codes[(run << 4) | size])
        writer.write(value if value > 0 else value + (1 << size) - 1, size)
        run = 0
    if run:
        writer.write(*ac_codes[0x00])  # EOB
    return zz[0]


def _segment(marker, payload):
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def encode_jpeg(width, height, rgb, quality=85):
    """Baseline JPEG of `rgb` (bytes, width*height*3), YCbCr 4:4:4, with a JFIF header."""
    _check_tables()
    lq = _scaled_quant(LUMA_QUANT, quality)
    cq = _scaled_quant(CHROMA_QUANT, quality)
    planes = ([0.0] * (width * height), [0.0] * (width * height), [0.0] * (width * height))
    for i in range(width * height):
        r, g, b = rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]
        planes[0][i] = 0.299 * r + 0.587 * g + 0.114 * b - 128
        planes[1][i] = -0.168736 * r - 0.331264 * g + 0.5 * b
        planes[2][i] = 0.5 * r - 0.418688 * g - 0.081312 * b
    tables = ((lq, _huffman_codes(DC_LUMA), _huffman_codes(AC_LUMA)),
              (cq, _huffman_codes(DC_CHROMA), _huffman_codes(AC_CHROMA)),
              (cq, _huffman_codes(DC_CHROMA), _huffman_codes(AC_CHROMA)))
    writer = _BitWriter()
    dc = [0, 0, 0]
    for by in range(0, height, 8):
        for bx in range(0, width, 8):
            for c in range(3):
                plane = planes[c]
                block = [plane[min(by + y, height - 1) * width + min(bx + x, width - 1)]  # edge pad
                         for y in range(8) for x in range(8)]
                quant, dc_codes, ac_codes = tables[c]
                dc[c] = _encode_block(writer, _fdct_quantize(block, quant), dc[c], dc_codes, ac_codes)
    scan = writer.flush()

    out = bytearray(b"\xFF\xD8")
    out += _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    out += _segment(0xDB, bytes([0x00] + [lq[z] for z in ZIGZAG] + [0x01] + [cq[z] for z in ZIGZAG]))
    out += _segment(0xC0, struct.pack(">BHHB", 8, height, width, 3) + bytes([1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1]))
    for cls_id, (bits, values) in ((0x00, DC_LUMA), (0x10, AC_LUMA), (0x01, DC_CHROMA), (0x11, AC_CHROMA)):
        out += _segment(0xC4, bytes([cls_id] + bits + values))
    out += _segment(0xDA, bytes([3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]))
    out += scan
    out += b"\xFF\xD9"
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# PNG
# ---------------------------------------------------------------------------------------------

def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(width, height, pixels, alpha=False, level=6, wbits=15):
    """PNG of `pixels` (RGB or RGBA bytes, row-major), filter 0 on every row."""
    channels = 4 if alpha else 3
    stride = width * channels
    raw = b"".join(b"\x00" + pixels[y * stride:(y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) +
            _png_chunk(b"IDAT", zlib.compress(raw, level, wbits)) + _png_chunk(b"IEND", b""))


def pad_png(png, target):
    """`png` grown to exactly `target` bytes with a tEXt chunk before IEND, when there is room."""
    room = target - len(png)
    if room < 12 + 9:  # chunk overhead + "Comment\0" + at least one byte
        return png
    text = b"Comment\x00" + (b"ximup test padding " * (room // 19 + 1))[:room - 12 - 8]
    return png[:-12] + _png_chunk(b"tEXt", text) + png[-12:]


# ---------------------------------------------------------------------------------------------
# Tree generation
# ---------------------------------------------------------------------------------------------

COM_MAX_SEGMENT = 4 + 65533  # marker, length, payload


class Generator:
    def __init__(self, outdir, seed, size_kib):
        self.outdir = os.fsencode(outdir)
        self.seed = seed
        self.rng = random.Random(seed)
        self.target = size_kib * 1024 if size_kib else None
        self.pool = self.rng.randbytes(1 << 20)  # random bytes sliced into COM payloads
        self.templates = [self._template(k) for k in range(8)]
        self.made_dirs = set()
        self.files = 0
        self.bytes = 0
        self.counts = {}

    def _template(self, k):
        """A tiny JPEG: a 16x16 two-colour gradient, different for each k."""
        c1 = [self.rng.randrange(256) for _ in range(3)]
        c2 = [self.rng.randrange(256) for _ in range(3)]
        rgb = bytearray()
        for y in range(16):
            for x in range(16):
                t = (x + y) / 30.0
                rgb += bytes(int(c1[i] * (1 - t) + c2[i] * t) for i in range(3))
        return encode_jpeg(16, 16, bytes(rgb), quality=75 + k)

    def _random(self, n):
        out = bytearray()
        while len(out) < n:
            start = self.rng.randrange(len(self.pool))
            out += self.pool[start:start + n - len(out)]
        return bytes(out)

    def jpeg(self, index):
        template = self.templates[index % len(self.templates)]
        tag = b"ximup-gen seed=%d file=%d " % (self.seed, index)
        need = (self.target - len(template)) if self.target else 4 + len(tag) + 8
        need = max(need, 4 + len(tag))
        segments = []
        while need > 0:
            size = min(need, COM_MAX_SEGMENT)
            if 0 < need - size < 4:
                size -= 4 - (need - size)  # leave room for the last segment's header
            payload = (tag if not segments else b"") + self._random(size - 4 - (0 if segments else len(tag)))
            segments.append(_segment(0xFE, payload))
            need -= size
        return template[:2] + b"".join(segments) + template[2:]

    def png(self, index):
        alpha = index % 10 == 9
        channels = 4 if alpha else 3
        if self.target:
            side = max(1, int(math.sqrt(max(1, self.target - 200) / channels)))
        else:
            side = 16
        # Random pixels do not compress: stored deflate blocks and a small window are far faster.
        data = encode_png(side, side, self.rng.randbytes(side * side * channels), alpha, level=0, wbits=9)
        return pad_png(data, self.target) if self.target else data

    def write(self, rel, data, kind):
        path = self.outdir + b"/" + rel
        parent = os.path.dirname(path)
        if parent not in self.made_dirs:
            os.makedirs(parent, exist_ok=True)
            self.made_dirs.add(parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        self.files += 1
        self.bytes += len(data)
        self.counts[kind] = self.counts.get(kind, 0) + 1


def nested_dir(index):
    """A folder for file `index`: most at depth 3, some at depth 1, 2 or 4."""
    parts = [b"set%d" % (index % 3), b"day%02d" % (index // 3 % 4), b"batch%d" % (index // 12 % 5)]
    if index % 11 == 0:
        parts = parts[:1]
    elif index % 13 == 0:
        parts = parts[:2]
    elif index % 7 == 0:
        parts.append(b"extra")
    return b"/".join(parts) + b"/"


WEIRD_NAMES = [
    b"with space.jpg", b"double\"quote.jpg", b"single'quote.jpg", b"back\\slash.jpg",
    b"new\nline.jpg", b"tab\there.jpg", "Žluťoučký kůň.jpg".encode(), "日本語の写真.png".encode(),
    b"emoji-\xf0\x9f\x98\x80.png", b"invalid-utf8-\xff\xfe.jpg", b"latin1-caf\xe9.jpg",
    b"-leading-dash.jpg", b".hidden.jpg", b"UPPER.JPG", b"dir with space/inner \"q\".jpg",
    b"bad-dir-\xc3\x28/x.png",
]


def generate(args):
    gen = Generator(args.outdir, args.seed, args.size_kib)
    os.makedirs(gen.outdir, exist_ok=True)
    for i in range(args.count):
        is_png = i % 5 == 4
        folder = nested_dir(i) if args.nested else b""
        name = b"img_%06d.%s" % (i, b"png" if is_png else b"jpg")
        gen.write(folder + name, gen.png(i) if is_png else gen.jpeg(i), "png" if is_png else "jpeg")
    if args.weird_names:
        for k, name in enumerate(WEIRD_NAMES):
            data = gen.png(args.count + k) if name.lower().endswith(b".png") else gen.jpeg(args.count + k)
            gen.write(name, data, "weird-name")
    for j in range(args.non_images):
        ext = (b"jpg", b"png", b"jpeg", b"webp")[j % 4]
        gen.write(b"not-an-image-%d.%s" % (j, ext), b"this is text, not an image (%d)\n" % j, "non-image")
    if args.zero_byte:
        gen.write(b"empty.jpg", b"", "empty")
    return gen


# ---------------------------------------------------------------------------------------------
# Demo pictures for examples/images
# ---------------------------------------------------------------------------------------------

def _picture(width, height, shade):
    rgb = bytearray()
    for y in range(height):
        for x in range(width):
            rgb += bytes(max(0, min(255, int(v))) for v in shade(x / width, y / height))
    return bytes(rgb)


def _sunset(u, v):
    sun = math.hypot(u - 0.7, v - 0.55) < 0.12
    if v > 0.7:  # sea
        return (20 + 40 * u, 40 + 30 * v, 90 + 60 * (1 - v))
    if sun:
        return (255, 220, 120)
    return (250 - 60 * v, 120 + 80 * (1 - v), 60 + 100 * v)


def _cat(u, v):
    face = math.hypot(u - 0.5, (v - 0.55) * 1.2) < 0.33
    ear = any(0.08 < v < 0.4 and abs(u - cx) < (v - 0.08) * 0.45 for cx in (0.3, 0.7))
    eye = math.hypot(u - 0.4, v - 0.5) < 0.05 or math.hypot(u - 0.6, v - 0.5) < 0.05
    if eye:
        return (40, 160, 60)
    if face or ear:
        return (230, 150, 60)
    return (200, 220, 235)


def _dog(u, v):
    head = math.hypot(u - 0.5, v - 0.5) < 0.3
    ear = math.hypot(u - 0.25, v - 0.45) < 0.12 or math.hypot(u - 0.75, v - 0.45) < 0.12
    nose = math.hypot(u - 0.5, v - 0.6) < 0.05
    if nose:
        return (20, 20, 20)
    if ear:
        return (90, 60, 30)
    if head:
        return (180, 130, 80)
    return (120, 190, 90)


def _shoe(u, v):
    sole = 0.72 < v < 0.8 and 0.12 < u < 0.9
    heel = 0.15 < u < 0.5 and 0.35 < v <= 0.72
    toe = 0.5 <= u < 0.9 and v > 0.45 + 0.27 * (u - 0.5) / 0.4 and v <= 0.72
    lace = 0.45 < u < 0.6 and any(abs(v - t) < 0.02 for t in (0.5, 0.56, 0.62))
    if sole:
        return (240, 240, 240)
    if lace and (heel or toe):
        return (250, 250, 250)
    if heel or toe:
        return (200, 40, 50)
    return (225, 230, 240)


def _mug(u, v):
    body = 0.3 < u < 0.65 and 0.3 < v < 0.8
    handle = 0.09 < math.hypot(u - 0.7, v - 0.55) < 0.14 and u > 0.65
    if body or handle:
        return (40, 90, 170)
    return (250, 250, 250)


def _badge_rgba(width, height):
    out = bytearray()
    for y in range(height):
        for x in range(width):
            d = math.hypot(x - width / 2 + 0.5, y - height / 2 + 0.5) / (width / 2)
            alpha = 255 if d < 0.85 else max(0, int(255 * (1 - (d - 0.85) / 0.1))) if d < 0.95 else 0
            ring = 0.6 < d < 0.7
            out += bytes((250, 190, 30, alpha) if ring else (30, 110, 200, alpha))
    return bytes(out)


def generate_demo(outdir):
    gen = Generator(outdir, 1, None)
    w, h = 160, 120
    gen.write(b"sunset.jpg", encode_jpeg(w, h, _picture(w, h, _sunset), quality=85), "jpeg")
    gen.write(b"animals/cat.jpg", encode_jpeg(96, 96, _picture(96, 96, _cat), quality=85), "jpeg")
    gen.write(b"animals/dog.jpg", encode_jpeg(96, 96, _picture(96, 96, _dog), quality=85), "jpeg")
    gen.write(b"products/shoe.jpg", encode_jpeg(128, 96, _picture(128, 96, _shoe), quality=85), "jpeg")
    gen.write(b"products/mug.png", encode_png(64, 64, _picture(64, 64, _mug), level=9), "png")
    gen.write(b"badge-alpha.png", encode_png(64, 64, _badge_rgba(64, 64), alpha=True, level=9), "png")
    return gen


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir")
    parser.add_argument("--count", type=int, default=0, help="number of images")
    parser.add_argument("--size-kib", type=int, default=0, help="size of each image (default: tiny)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--nested", action="store_true", help="spread files over nested folders")
    parser.add_argument("--weird-names", action="store_true",
                        help="add images with spaces, quotes, newlines, non-UTF-8 bytes in names")
    parser.add_argument("--non-images", type=int, default=0, metavar="M",
                        help="add M text files with image extensions")
    parser.add_argument("--zero-byte", action="store_true", help="add an empty empty.jpg")
    parser.add_argument("--demo", action="store_true", help="write the examples/images sample set")
    args = parser.parse_args(argv)
    if args.count < 0 or args.size_kib < 0 or args.non_images < 0:
        parser.error("counts and sizes must not be negative")
    gen = generate_demo(args.outdir) if args.demo else generate(args)
    kinds = ", ".join("%s %d" % kv for kv in sorted(gen.counts.items()))
    print("files written: %d" % gen.files)
    print("total bytes: %d" % gen.bytes)
    print("kinds: %s" % (kinds or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
