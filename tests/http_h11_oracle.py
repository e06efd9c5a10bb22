#!/usr/bin/python3
"""The second HTTP parser of tests/test_http_h11.c: h11 (Debian python3-h11), a server-side
connection per input.

    http_h11_oracle.py IN OUT

IN holds the inputs, each as a 4-byte big-endian length and that many bytes. For each one, OUT
gets one line:
    ok METHOD TARGET BODY N NAME1 VALUE1 ... NAMEn VALUEn   (every field in hex, "-" if empty)
    error MESSAGE                                            (h11 refused it)
    incomplete                                               (h11 wants more bytes)
describing the first request of the input, its headers as sent (raw names) and its body.
"""
import struct
import sys

import h11


def hx(b):
    return b.hex() if b else "-"


def one(data):
    conn = h11.Connection(our_role=h11.SERVER, max_incomplete_event_size=1 << 20)
    conn.receive_data(data)
    req = None
    body = b""
    try:
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA or ev is h11.PAUSED:
                return "incomplete"
            if isinstance(ev, h11.Request):
                req = ev
            elif isinstance(ev, h11.Data):
                body += ev.data
            elif isinstance(ev, h11.EndOfMessage):
                break
            elif isinstance(ev, h11.ConnectionClosed):
                return "incomplete"
    except h11.ProtocolError as e:
        return "error " + " ".join(str(e).split())
    fields = req.headers.raw_items()
    parts = ["ok", hx(req.method), hx(req.target), hx(body), str(len(fields))]
    for name, value in fields:
        parts += [hx(name), hx(value)]
    return " ".join(parts)


def main():
    data = open(sys.argv[1], "rb").read()
    out = open(sys.argv[2], "w")
    pos = 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        out.write(one(data[pos + 4:pos + 4 + n]) + "\n")
        pos += 4 + n
    out.close()


if __name__ == "__main__":
    main()
