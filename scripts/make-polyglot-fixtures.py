#!/usr/bin/env python3
"""Polyglot and structure fixtures for tests/fixtures/images (issues 14.7, 15.3).

Every file here is byte surgery on a fixture that make-image-fixtures.sh made
with a real encoder (ImageMagick, cwebp): foreign bytes (an HTML page with a
script) put where the format's structure must be, frames that leave the
declared screen or canvas, a chunk whose CRC no longer matches, and, as
accepted cases, the same HTML appended after a complete image. It needs only
python3 and the committed fixtures, so it runs where the encoders are missing:

    python3 scripts/make-polyglot-fixtures.py    # rewrite these files and their manifest entries

make-image-fixtures.sh runs it last. The manifest entries it owns (the files
it writes) are replaced, every other entry is kept in place; output is
byte-identical from run to run.

What the sniffer must say about each is in its entry: "sniff" {"ok": false}
for a file that is an image only in its first bytes (refused with
image_invalid and a reason), {"ok": true, ...} for a complete image with bytes
after it (what follows the end of the walk is not read; see
src/core/media/image.h, "How far the walk goes").
"""
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'tests', 'fixtures', 'images')
MANIFEST = os.path.join(OUT, 'manifest.json')
HTML = b'<html><script>alert(document.domain)</script></html>\n'


def read(name):
    with open(os.path.join(OUT, name), 'rb') as f:
        return f.read()


def write(name, data):
    assert len(data) < 20480, name
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(data)


def png_chunk(kind, payload, crc=None):
    if crc is None:
        crc = zlib.crc32(kind + payload)
    return struct.pack('>I', len(payload)) + kind + payload + struct.pack('>I', crc)


def gif_blocks(data):
    """Offsets of the blocks of a GIF after its colour table: [(kind, start, end)]."""
    pos = 13
    if data[10] & 0x80:
        pos += 3 << ((data[10] & 7) + 1)
    blocks = []
    while data[pos] != 0x3B:
        start = pos
        if data[pos] == 0x21:
            pos += 2
        else:
            assert data[pos] == 0x2C
            flags = data[pos + 9]
            pos += 10
            if flags & 0x80:
                pos += 3 << ((flags & 7) + 1)
            pos += 1  # LZW minimum code size
        while data[pos] != 0:
            pos += 1 + data[pos]
        pos += 1
        blocks.append((data[start], start, pos))
    return blocks, pos


def jpeg_marker(data, marker):
    return data.index(bytes([0xFF, marker]))


def riff_size(data):
    """A RIFF whose size field says the file's length."""
    return data[:4] + struct.pack('<I', len(data) - 8) + data[8:]


entries = []


def ok(name, data, mime, w, h, about):
    write(name, data)
    info = {'ok': True, 'mimeType': mime, 'width': w, 'height': h}
    entries.append({'file': name, 'declared': mime, 'about': about, 'sniff': info, 'expect': info})


def bad(name, data, declared, contains, about):
    write(name, data)
    entries.append({'file': name, 'declared': declared, 'about': about, 'sniff': {'ok': False},
                    'expect': {'ok': False, 'code': 'image_invalid', 'messageContains': contains}})


# --- GIF ---------------------------------------------------------------------
gif87 = read('gif87a_10x6.gif')
gif89 = read('gif89a_6x10.gif')
# The two of issue 15: a 1x1 screen (no colour table) then HTML, and GIF89a then HTML.
bad('polyglot_gif_1x1_screen_then_html.gif', b'GIF89a' + struct.pack('<HHBBB', 1, 1, 0, 0, 0) + HTML,
    'image/gif', 'is not a valid GIF (expected a block (0x21, 0x2c or 0x3b) at offset 13, found 0x3c)',
    'polyglot: GIF89a, a 1x1 logical screen, then HTML instead of blocks')
bad('polyglot_gif_signature_then_html.gif', b'GIF89a' + HTML, 'image/gif',
    'is not a valid GIF (expected a block',
    'polyglot: GIF89a directly followed by HTML (its first 7 bytes read as the screen)')
blocks, trailer = gif_blocks(gif89)
bad('polyglot_gif_colour_table_then_html.gif', gif89[:blocks[0][1]] + HTML, 'image/gif',
    'is not a valid GIF (expected a block', 'polyglot: a real GIF header and colour table, then HTML')
bad('polyglot_gif_html_spliced_before_image.gif', gif89[:blocks[0][1]] + HTML + gif89[blocks[0][1]:],
    'image/gif', 'is not a valid GIF (expected a block',
    'polyglot: HTML spliced between the colour table and the blocks of a real GIF')
# Issue 14.7: the screen says 8192x8192, the image descriptor 16384x16384 (or 65535x65535).
d = bytearray(gif87)
blocks87, _ = gif_blocks(gif87)
image = next(start for kind, start, _ in blocks87 if kind == 0x2C)
d[6:10] = struct.pack('<HH', 8192, 8192)
d[image + 5:image + 9] = struct.pack('<HH', 16384, 16384)
bad('gif_frame_16384_on_8192_screen.gif', bytes(d), 'image/gif',
    'frame 1 at offset %d is 16384x16384 at (0,0), outside the 8192x8192 logical screen' % image,
    'a GIF whose 8192x8192 screen holds a 16384x16384 image (issue 14.7)')
d[image + 5:image + 9] = struct.pack('<HH', 65535, 65535)
bad('gif_frame_65535_on_8192_screen.gif', bytes(d), 'image/gif',
    'is 65535x65535 at (0,0), outside the 8192x8192 logical screen',
    'a GIF whose 8192x8192 screen holds a 65535x65535 image (issue 14.7)')
# A second frame: copy the first (graphic control extension + image) of the 6x10 GIF.
frame = gif89[blocks[0][1]:trailer]
ok('gif_two_frames_6x10.gif', gif89[:trailer] + frame + b'\x3b', 'image/gif', 6, 10,
   'GIF with two frames, both inside the screen')
second = bytearray(frame)
at = next(start for kind, start, _ in blocks if kind == 0x2C) - blocks[0][1]
second[at + 1:at + 3] = struct.pack('<H', 3)  # left = 3: a 6-wide frame on a 6-wide screen
bad('gif_second_frame_outside_screen.gif', gif89[:trailer] + bytes(second) + b'\x3b', 'image/gif',
    'frame 2 at offset %d is 6x10 at (3,0), outside the 6x10 logical screen' % (trailer + at),
    'GIF whose second frame leaves the screen (every image descriptor is checked)')
bad('truncated_gif_before_trailer.gif', gif89[:trailer], 'image/gif',
    'is a truncated GIF (it ends at byte %d, before its trailer)' % trailer,
    'GIF cut after its last frame, before the trailer')

# --- PNG ---------------------------------------------------------------------
png = read('png_rgb_4x3.png')
bad('polyglot_png_signature_then_html.png', png[:8] + HTML, 'image/png',
    'is not a valid PNG (its first chunk is', 'polyglot: the PNG signature, then HTML')
bad('polyglot_png_ihdr_then_html.png', png[:33] + HTML, 'image/png',
    "is not a valid PNG (the chunk at offset 33 has type 'l><s', not four letters)",
    'polyglot: a real PNG signature and IHDR, then HTML instead of chunks')
bad('polyglot_png_html_spliced_before_idat.png', png[:33] + HTML + png[33:], 'image/png',
    'is not a valid PNG (the chunk at offset 33', 'polyglot: HTML spliced between IHDR and IDAT of a real PNG')
text = png_chunk(b'tEXt', b'Comment\0' + HTML)
edited = text[:-4 - len(HTML)] + HTML.replace(b'alert', b'fetch') + text[-4:]  # edited after its CRC
bad('png_text_chunk_bad_crc.png', png[:33] + edited + png[33:], 'image/png',
    "chunk 'tEXt' at offset 33 has CRC", 'PNG with a tEXt chunk edited after its CRC was written')
ihdr = bytearray(png)
ihdr[25] = 5  # colour type 5 does not exist
bad('png_ihdr_colour_type_5.png', png_chunk(b'IHDR', bytes(ihdr[16:29])).join([png[:8], png[33:]]),
    'image/png', 'colour type 5 in IHDR', 'PNG whose IHDR has a colour type that does not exist (CRC redone)')

# --- JPEG --------------------------------------------------------------------
jpg = read('jpeg_baseline_33x21.jpg')
app0_end = 4 + struct.unpack('>H', jpg[4:6])[0]
bad('polyglot_jpeg_soi_then_html.jpg', jpg[:3] + HTML, 'image/jpeg',
    'is not a valid JPEG (reserved marker 0x3c at offset 2)', 'polyglot: the JPEG SOI, then HTML')
bad('polyglot_jpeg_app0_then_html.jpg', jpg[:app0_end] + HTML, 'image/jpeg',
    'is not a valid JPEG (expected a marker at offset %d, found 0x3c)' % app0_end,
    'polyglot: a real SOI and JFIF APP0, then HTML')
sof = jpeg_marker(jpg, 0xC0)
sof_end = sof + 2 + struct.unpack('>H', jpg[sof + 2:sof + 4])[0]
bad('polyglot_jpeg_frame_header_then_html.jpg', jpg[:sof_end] + HTML, 'image/jpeg',
    'is not a valid JPEG (expected a marker at offset %d' % sof_end,
    'polyglot: a real JPEG through its frame header, then HTML instead of tables and a scan')
sos = jpeg_marker(jpg, 0xDA)
bad('truncated_jpeg_before_sos.jpg', jpg[:sos], 'image/jpeg',
    'is a truncated JPEG (it ends at byte %d, before its first scan)' % sos,
    'JPEG cut after its frame header and tables, before the scan')
ok('polyglot_jpeg_with_html_appended.jpg', jpg + HTML, 'image/jpeg', 33, 21,
   'a complete JPEG with HTML after EOI: accepted, bytes after the scan header are not read')

# --- WebP --------------------------------------------------------------------
lossy = read('webp_lossy_300x200.webp')
ext = read('webp_extended_alpha_64x48.webp')
bad('polyglot_webp_riff_then_html.webp', riff_size(lossy[:12] + HTML), 'image/webp',
    "is not a valid WebP (its first chunk is '<htm'", 'polyglot: a RIFF WEBP header (size right), then HTML')
bad('polyglot_webp_vp8_header_then_html.webp', riff_size(lossy[:30] + HTML), 'image/webp',
    "is not a valid WebP (chunk 'VP8 ' at offset 12 is 526 bytes, past the end of the RIFF data",
    'polyglot: a real VP8 frame header, then HTML (RIFF size set to the file)')
bad('polyglot_webp_html_inside_riff.webp', riff_size(lossy + HTML), 'image/webp',
    "bytes after its 'VP8 ' chunk inside the RIFF data",
    'polyglot: a real lossy WebP with HTML appended and the RIFF size grown to hold it')
ok('polyglot_webp_with_html_appended.webp', lossy + HTML, 'image/webp', 300, 200,
   'a complete WebP with HTML after the RIFF data: accepted, bytes past the RIFF size are not read')
bad('truncated_webp_riff_size.webp', lossy[:-10], 'image/webp',
    'is a truncated WebP (its RIFF header gives %d bytes, %d given)' % (len(lossy), len(lossy) - 10),
    'WebP cut 10 bytes before the end its RIFF size gives')
small = bytearray(ext)
small[24:30] = struct.pack('<I', 31)[:3] + struct.pack('<I', 23)[:3]  # canvas 32x24
bad('webp_canvas_smaller_than_bitstream.webp', bytes(small), 'image/webp',
    'is 64x48, not the 32x24 canvas', 'VP8X canvas 32x24 over a 64x48 bitstream (CRC-free header edit)')
big = bytearray(ext)
big[24:30] = struct.pack('<I', 8191)[:3] + struct.pack('<I', 8191)[:3]  # canvas 8192x8192
bad('webp_canvas_larger_than_bitstream.webp', bytes(big), 'image/webp',
    'is 64x48, not the 8192x8192 canvas', 'VP8X canvas 8192x8192 over a 64x48 bitstream')

# --- manifest ----------------------------------------------------------------
mine = {e['file'] for e in entries}
with open(MANIFEST) as f:
    images = [e for e in json.load(f)['images'] if e['file'] not in mine]
images += entries


def line(e):
    return ('{"file": %s, "declared": %s, "about": %s,\n      "sniff": %s,\n      "expect": %s}' %
            tuple(json.dumps(e[k], ensure_ascii=False) for k in ('file', 'declared', 'about', 'sniff', 'expect')))


with open(MANIFEST, 'w') as f:
    f.write('{"images": [\n' + ',\n'.join('  ' + line(e) for e in images) + '\n]}\n')
print('wrote %d polyglot and structure fixtures to %s' % (len(entries), os.path.relpath(OUT)))
